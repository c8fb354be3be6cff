"""Detection: boxes per image, targets are boxes, a target's score is D-RISE's similarity of its best match.

A box target scores a perturbed batch by ``max_j IoU(box_t, box_j) * objectness_j * cos(class_t, probs_j)`` over
the dense detections ``j`` of each perturbed image (every anchor before threshold and NMS when the postprocess has
``dense(outputs)``): RISE against it is D-RISE, AISE against it is openvino-xai's AISE for detection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from ..detection.boxes import DetectionBatch, Detections, box_iou, box_similarity, normalize_boxes, scale_boxes
from ..detection.explanation import DetectionExplanation
from ..detection.ssd import PRESET_PREPROCESS, PRESETS
from ..errors import MethodError, TargetError
from ..labels import label_index, label_of
from ..pipeline import Pipeline
from ..preprocess import Preprocess
from ..visualize import normalize
from .outputs import RawOutputsTask

log = logging.getLogger("saliencykit")

#: ``postprocess(outputs) -> per-image detections``; outputs are the model's outputs in order, batch first
DetectionPostprocess = Callable[[list[np.ndarray]], Sequence[Any]]
BoxTargets = int | str | Sequence[Any] | np.ndarray


@dataclass(frozen=True)
class BoxTarget:
    """One box of a detector, as a black-box method scores it (pytorch-grad-cam's ``FasterRCNNBoxScoreTarget``).

    Attributes:
        key: how the box is addressed in the explanation (its index among the detections, or after them).
        box: ``[x0, y0, x1, y1]`` normalised to [0, 1].
        cls: class index.
        name: ``"box{i}"`` or ``"userbox{j}"``.
        score: the detector's score for it (for a user box: its best IoU x score among the detections).
        use_probs: compare class-probability vectors (cosine) when the postprocess gives them.
        outputs: the model's outputs for the image (batch of one) the box was found in: per-box white-box maps
            decode every anchor's box from them to find the box's own anchors.
    """

    key: int
    box: np.ndarray
    cls: int
    name: str = ""
    score: float = 0.0
    use_probs: bool = True
    outputs: tuple[np.ndarray, ...] | None = field(default=None, repr=False, compare=False)

    @staticmethod
    def score_batch(targets: Sequence[BoxTarget], outputs: DetectionBatch, count: int) -> np.ndarray:
        """Similarities (count, T) float32 of every target to its best match in each perturbed image."""
        if len(outputs) != count:
            raise MethodError(f"detect returned {len(outputs)} results for a batch of {count} images.")
        boxes = np.stack([np.asarray(t.box, np.float32) for t in targets])
        classes = np.array([t.cls for t in targets], np.int64)
        return box_similarity(outputs, boxes, classes, targets[0].use_probs).astype(np.float32)

    def _extent(self) -> tuple[Any, Any, Any, Any, float, float]:
        x0, y0, x1, y1 = np.asarray(self.box, np.float32).reshape(4)
        return x0, y0, x1, y1, max(float(x1 - x0), 1e-3), max(float(y1 - y0), 1e-3)

    @property
    def shorter_side(self) -> float:
        """The box's shorter side, a fraction of the image (AISE's kernel widths are divisions of it)."""
        *_, bw, bh = self._extent()
        return min(bw, bh)

    def search_region(self, padding: float) -> tuple[np.ndarray, np.ndarray]:
        """Where AISE searches window centres: the box grown by ``padding`` times its size, as (y, x) corners."""
        x0, y0, x1, y1, bw, bh = self._extent()
        low = np.array([max(y0 - bh * padding, 0.0), max(x0 - bw * padding, 0.0)])
        high = np.array([min(y1 + bh * padding, 1.0), min(x1 + bw * padding, 1.0)])
        return low, np.maximum(high, low + 1e-3)


def box_targets(targets: Any, classes: Any, use_probs: bool) -> list[BoxTarget]:
    """Box targets from targets (made again with ``use_probs``), or from normalised ``boxes`` (T, 4) and ``classes``."""
    if classes is not None:
        boxes = np.asarray(targets, np.float32).reshape(-1, 4)
        classes = np.asarray(classes, np.int64).reshape(-1)
        return [BoxTarget(k, box, int(c), use_probs=use_probs) for k, (box, c) in enumerate(zip(boxes, classes))]
    return [BoxTarget(t.key, t.box, t.cls, t.name, t.score, use_probs) for t in targets]


class DetectionTask(RawOutputsTask):
    """An object detector: a postprocess turns its outputs into boxes; one map per explained box.

    Options (Explainer keywords): ``class_output`` — which model output holds class logits, for the white-box
    method (default: the postprocess's ``class_output``, else found).
    """

    name = "detection"
    noun = "detectors"
    default_targets = "all"
    default_batch_size = 4
    fallback_reason = "no detection head found in the graph"
    options = ("class_output",)

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.class_output: int | str | None = options.get("class_output")
        self.postprocess: Any = None

    def pipeline(self, model: Any, preprocess: Any, postprocess: Any, settings: dict[str, Any]) -> Pipeline:
        self.postprocess, preset = _resolve_postprocess(postprocess)
        if preprocess is None and preset is not None:
            preprocess = Preprocess(**PRESET_PREPROCESS[preset])  # type: ignore[arg-type]
        label_names = settings["label_names"]
        if label_names is None and getattr(self.postprocess, "label_names", None):
            label_names = list(self.postprocess.label_names)
        return self.raw_pipeline(model, preprocess, settings, label_names)

    def rebuild_options(self) -> dict[str, Any]:
        return {"postprocess": self.postprocess, "class_output": self.class_output}

    def insert_argument(self, postprocess: Any) -> dict[str, Any]:
        """The head hints DetClassProbabilityMap takes: class output, number of classes, activation; for per-box
        maps whether the postprocess decodes every anchor (``dense``), how many anchors, its NMS IoU threshold."""
        post = self.postprocess
        class_output = self.class_output if self.class_output is not None else getattr(post, "class_output", None)
        labels = self.pipeline_.label_names if self.pipeline_ is not None else None
        return {
            "class_output": class_output,
            "num_classes": getattr(post, "num_classes", None) or (len(labels) if labels else None),
            "activation": getattr(post, "activation", None),
            "dense": callable(getattr(post, "dense", None)),
            "num_anchors": len(post.anchors) if getattr(post, "anchors", None) is not None else None,
            "iou_threshold": getattr(post, "iou_threshold", None),
        }

    # -- predictions -----------------------------------------------------------------------------------------

    def read(self, outputs: list[np.ndarray], names: Sequence[str]) -> list[Detections]:
        found = self.postprocess(outputs)
        result = [Detections.coerce(d).sorted() for d in found]
        if len(result) != len(names):
            raise MethodError(f"postprocess returned detections for {len(result)} images; the batch had {len(names)}.")
        return [
            ImageDetections(d.boxes, d.scores, d.classes, d.probs, tuple(o[i : i + 1] for o in outputs))
            for i, d in enumerate(result)
        ]

    def predict(self, pixels: np.ndarray, names: Sequence[str]) -> list[Detections]:
        return self.read(self.run(pixels), names)

    def perturbed(self, pixels: np.ndarray) -> DetectionBatch:
        outputs = self.run(pixels)
        if hasattr(self.postprocess, "dense"):
            return self.postprocess.dense(outputs)
        return DetectionBatch.stack(self.read(outputs, [""] * len(pixels)))

    def predict_images(self, images: list[np.ndarray], runner: Any, map_index: int | None) -> list[Detections]:
        """The detector's boxes for each image, in pixels (by decreasing score)."""
        assert self.pipeline_ is not None
        result = []
        for image in images:
            pixels = self.pipeline_.pixels(image)[None]
            if runner is not None:  # the compiled graph with maps: no second compilation
                outputs = [o for k, o in enumerate(self.run(pixels, runner)) if k != map_index]
            else:
                outputs = self.run(pixels)
            result.append(to_pixels(self.read(outputs, [""])[0], image.shape[:2]))
        return result

    # -- targets ---------------------------------------------------------------------------------------------

    def targets(self, request: BoxTargets, prediction: Detections, size: tuple[int, int]) -> list[BoxTarget]:
        """Resolve ``request`` against this image's detections (see :meth:`DetectionExplainer.__call__`)."""
        found = prediction
        m = len(found)

        def predicted(i: int) -> BoxTarget:
            if not 0 <= i < m:
                raise TargetError(
                    f"box {i}: the detector found {m} box(es) in this image"
                    + (f" (indices 0..{m - 1})" if m else "")
                    + "; to explain a region it missed, give the box: targets=[[x0, y0, x1, y1, class]] in pixels."
                )
            return BoxTarget(
                i, found.boxes[i], int(found.classes[i]), f"box{i}", float(found.scores[i]), outputs=outputs
            )

        outputs = found.outputs if isinstance(found, ImageDetections) else None

        if isinstance(request, str):
            if request == "all":
                if m == 0:
                    log.warning("saliencykit: the detector found no box in this image: nothing to explain.")
                return [predicted(i) for i in range(m)]
            if request.startswith("top:"):
                try:
                    k = int(request[4:])
                except ValueError:
                    raise TargetError(f"targets='{request}': write top:K with an integer K, e.g. top:3.") from None
                return [predicted(i) for i in range(min(max(k, 0), m))]
            raise TargetError(f"targets='{request}': use 'all', 'top:K', box indices or boxes [x0, y0, x1, y1, class].")
        if isinstance(request, (int, np.integer)) and not isinstance(request, bool):
            return [predicted(int(request))]
        if isinstance(request, np.ndarray):
            if request.ndim == 2:
                items: list = [list(row) for row in request]
            elif request.ndim == 1 and np.issubdtype(request.dtype, np.integer):
                items = [int(v) for v in request]
            else:
                raise TargetError(
                    f"targets: an array of shape {request.shape}; give box indices (1-D int) or boxes (M, 4 or 5)."
                )
        else:
            items = list(cast(Sequence[Any], request))
        if not items:
            raise TargetError("targets is empty: give box indices, 'all', 'top:K' or boxes [x0, y0, x1, y1, class].")
        flat = all(isinstance(v, (int, float, np.integer, np.floating)) for v in items) and len(items) in (4, 5)
        if flat and any(isinstance(v, (float, np.floating)) and float(v) != int(v) for v in items):
            raise TargetError(
                f"targets={list(items)}: a box must be nested, targets=[[x0, y0, x1, y1, class]]; a flat list "
                "means box indices."
            )
        out: list[BoxTarget] = []
        user = 0
        for item in items:
            if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
                target = predicted(int(item))
            elif isinstance(item, (Sequence, np.ndarray)) and not isinstance(item, str):
                target = self._user_box(list(item), found, size, m + user, user)
                user += 1
            else:
                raise TargetError(f"target {item!r}: give a box index (int) or a box [x0, y0, x1, y1, class].")
            if all(t.key != target.key for t in out):
                out.append(target)
        return out

    def _user_box(self, values: list, found: Detections, size: tuple[int, int], key: int, j: int) -> BoxTarget:
        labels = self.pipeline_.label_names if self.pipeline_ is not None else None
        if len(values) not in (4, 5):
            raise TargetError(f"box {values}: give [x0, y0, x1, y1, class] in pixels of the image.")
        if len(values) == 4:
            if (len(labels) if labels else None) != 1:
                raise TargetError(f"box {values}: give its class too, [x0, y0, x1, y1, class] (the model has several).")
            cls = 0
        elif isinstance(values[4], str):
            cls = label_index(values[4], labels)
        else:
            cls = int(values[4])
        try:
            x0, y0, x1, y1 = (float(v) for v in values[:4])
        except (TypeError, ValueError):
            raise TargetError(f"box {values}: the coordinates must be numbers.") from None
        h, w = size
        if not (x1 > x0 and y1 > y0):
            raise TargetError(f"box {values[:4]}: expected x0 < x1 and y0 < y1 (pixels of the image).")
        if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
            raise TargetError(f"box {values[:4]} lies outside the image ({w} x {h} pixels).")
        box = normalize_boxes([x0, y0, x1, y1], size)[0]  # type: ignore[arg-type]
        same = found.classes == cls
        score = float((box_iou(box[None], found.boxes[same])[0] * found.scores[same]).max()) if same.any() else 0.0
        outputs = found.outputs if isinstance(found, ImageDetections) else None
        return BoxTarget(key, box, cls, f"userbox{j}", score, outputs=outputs)

    # -- results ---------------------------------------------------------------------------------------------

    def whitebox_map(self, saliency: np.ndarray, target: BoxTarget, method: Any) -> np.ndarray:
        """The class's map, or with a per-box method (``method.per_box``) the map of the box's own anchors."""
        if not 0 <= target.cls < saliency.shape[0]:
            classes = saliency.shape[0]
            raise TargetError(f"{target.name}: class {target.cls} but the model's maps have {classes} classes.")
        if not getattr(method, "per_box", False):
            return saliency[target.cls]
        if target.outputs is None or not callable(getattr(self.postprocess, "dense", None)):
            raise MethodError(
                f"{target.name}: a per-box map needs the image's outputs and a postprocess with dense(outputs); "
                "explain through the Explainer with an SSDPostprocess (or a preset such as 'blazeface')."
            )
        dense = self.postprocess.dense(list(target.outputs))
        result = method.box_map(saliency, dense.boxes[0], target.box, target.cls)
        if not np.any(result):
            log.warning(
                "saliencykit: no anchor's box overlaps %s by IoU >= %.2f: its per-box map is empty (box_iou= sets "
                "the threshold).",
                target.name,
                method.iou_threshold,
            )
        return np.asarray(result, np.float32)

    def finish_map(self, saliency: np.ndarray, target: BoxTarget, whitebox: bool, method_name: str) -> np.ndarray:
        """Warn about degenerate maps (non-finite, constant); black-box maps are rescaled to [0, 1]."""
        labels = self.pipeline_.label_names if self.pipeline_ is not None else None
        what = f"{method_name} map for {target.name} ({label_of(target.cls, labels)} {target.score:.2f})"
        saliency = np.asarray(saliency, np.float32)
        if not np.all(np.isfinite(saliency)):
            log.warning(
                "saliencykit: the %s contains NaN or infinite values: the model produced non-finite outputs — check "
                "the preprocessing (mean, std, layout) and the model's precision. Non-finite values are set to 0.",
                what,
            )
            saliency = np.nan_to_num(saliency, nan=0.0, posinf=0.0, neginf=0.0)
        spread = float(saliency.max() - saliency.min()) if saliency.size else 0.0
        if not spread > 1e-7 * max(1.0, float(np.abs(saliency).max()) if saliency.size else 1.0):
            if whitebox:
                hint = (
                    "the class probability is the same at every cell — check class_output / target_layer (is it "
                    "the class head?) and the activation"
                )
            else:
                hint = (
                    "the target box's score did not change under masking — check the postprocess (box decoding, "
                    "which output holds what) and the score threshold; a box the detector does not find at all "
                    "cannot be explained"
                )
            log.warning("saliencykit: the %s is constant: %s.", what, hint)
        return normalize(saliency) if not whitebox else saliency.astype(np.float32)

    def explanation(
        self, source: np.ndarray, targets: list[BoxTarget], maps: dict, prediction: Detections, **common: Any
    ) -> DetectionExplanation:
        size = source.shape[:2]
        return DetectionExplanation(
            targets=[t.key for t in targets],
            maps=maps,
            scores={t.key: t.score for t in targets},
            image_size=tuple(size),
            predictions=prediction.scores.copy(),
            boxes={t.key: _corners(scale_boxes(t.box, size)[0]) for t in targets},
            classes={t.key: t.cls for t in targets},
            names={t.key: t.name for t in targets},
            detections=to_pixels(prediction, size),
            **common,
        )


@dataclass
class ImageDetections(Detections):
    """The detections of one image with the model's outputs they came from (batch of one), for per-box maps."""

    outputs: tuple[np.ndarray, ...] = field(default=(), repr=False, compare=False)


def _corners(box: np.ndarray) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (float(v) for v in box)
    return x0, y0, x1, y1


def to_pixels(dets: Detections, size: tuple[int, int]) -> Detections:
    """Detections with boxes in pixels of an image of ``size``."""
    return Detections(scale_boxes(dets.boxes, size), dets.scores, dets.classes, dets.probs)


def _resolve_postprocess(postprocess: Any) -> tuple[Any, str | None]:
    if isinstance(postprocess, str):
        if postprocess in PRESETS:
            return PRESETS[postprocess](), postprocess
        raise MethodError(
            f"postprocess='{postprocess}': detection needs a postprocess that turns the model's outputs into boxes: "
            f"a preset ({', '.join(PRESETS)}), an SSDPostprocess, or a callable outputs -> per-image "
            "(boxes, scores, classes)."
        )
    if postprocess is None or not callable(postprocess):
        raise MethodError(
            "detection needs postprocess=: a preset name (" + ", ".join(PRESETS) + "), a "
            "saliencykit.detection.SSDPostprocess, or a callable outputs -> per-image (boxes, scores, classes) with "
            "boxes [x0, y0, x1, y1] normalised to [0, 1]."
        )
    return postprocess, None
