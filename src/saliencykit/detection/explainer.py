"""The DetectionExplainer: explain an object detector's boxes, white-box inside the graph or black-box.

Same shape of API as :class:`saliencykit.Explainer`; ``targets`` are boxes instead of classes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import openvino as ov

from ..errors import GraphError, MethodError, TargetError
from ..images import as_images
from ..labels import label_index, label_of
from ..methods.aise_detection import AISEDetection
from ..methods.base import SALIENCY_OUTPUT
from ..methods.drise import DRISE
from ..model import ModelRunner, _is_torch_module, load_model, select_input
from ..pipeline import Pipeline
from ..preprocess import Preprocess
from ..visualize import normalize
from .base import DetectionBlackBoxMethod, DetectionWhiteBoxMethod
from .boxes import DetectionBatch, Detections, box_iou, normalize_boxes, scale_boxes
from .explanation import DetectionExplanation
from .ssd import PRESET_PREPROCESS, PRESETS
from .whitebox import DetClassProbabilityMap

log = logging.getLogger("saliencykit")

MODES = ("auto", "whitebox", "blackbox")

#: detection methods by name (``method="drise"``)
DETECTION_METHODS: dict[str, type] = {
    "det_class_probability_map": DetClassProbabilityMap,
    "detclassprobabilitymap": DetClassProbabilityMap,
    "class_probability_map": DetClassProbabilityMap,
    "drise": DRISE,
    "d_rise": DRISE,
    "aise": AISEDetection,
}

#: ``postprocess(outputs) -> per-image detections``; outputs are the model's outputs in order, batch first
DetectionPostprocess = Callable[[list[np.ndarray]], Sequence[Any]]
BoxTargets = int | str | Sequence[Any] | np.ndarray


def get_detection_method(name: str, **kwargs) -> DetectionWhiteBoxMethod | DetectionBlackBoxMethod:
    """A detection method from its name: ``"det_class_probability_map"``, ``"drise"`` or ``"aise"``."""
    key = name.lower().replace("-", "_")
    if key not in DETECTION_METHODS:
        names = ", ".join(sorted({"det_class_probability_map", "drise", "aise"}))
        raise MethodError(f"detection method '{name}' is unknown; available: {names}.")
    return DETECTION_METHODS[key](**kwargs)


@dataclass
class _Target:
    key: int
    name: str
    box: np.ndarray  # normalised (4,)
    cls: int
    score: float


class DetectionExplainer:
    """Explain the boxes of an object detector with one saliency map per box.

    >>> explainer = DetectionExplainer(mediapipe_model_path("blazeface"), postprocess="blazeface")  # doctest: +SKIP
    >>> explanation = explainer(photo, targets="all")  # doctest: +SKIP
    >>> explanation.save("maps/")  # maps/box0_face_0.92.jpg  # doctest: +SKIP

    Args:
        model: an IR/ONNX/TFLite path, an ``ov.Model``, a ``torch.nn.Module``, or a Python callable
            ``predict(pixel_batch) -> outputs`` (black-box only).
        preprocess: a :class:`~saliencykit.Preprocess` or a callable ``image -> model input``; default: the
            preset's (``postprocess="blazeface"``), else the model's fixed size with the layout read from its input.
        postprocess: turns the model's outputs (a list, batch first) into one
            :class:`~saliencykit.detection.Detections` (or ``(boxes, scores, classes)``, boxes normalised to [0, 1])
            per image: an :class:`~saliencykit.detection.SSDPostprocess`, the preset names ``"blazeface"`` /
            ``"palm"``, or any callable. An object with a ``dense(outputs)`` method lets black-box methods use
            every anchor before thresholding.
        mode: ``"auto"`` (white-box when the graph has a detection head, else black-box), ``"whitebox"`` or
            ``"blackbox"``.
        method: ``"det_class_probability_map"`` (white-box), ``"drise"`` or ``"aise"`` (black-box), or an object.
        target_layer: per-scale class-logit layers for the white-box method (default: found automatically).
        device: OpenVINO device.
        label_names: class names (default: the postprocess's ``label_names``).
        input_name, example_input, input_shape: as for :class:`~saliencykit.Explainer`.
        batch_size: images per inference request; black-box methods send many masked images at once and the
            runner queues them asynchronously in requests of this size, with OpenVINO's throughput hint.
        class_output: which model output holds class logits, for the white-box method (default: the
            postprocess's ``class_output``, else found).
    """

    def __init__(
        self,
        model: Any,
        preprocess: Preprocess | Callable[[np.ndarray], np.ndarray] | None = None,
        postprocess: DetectionPostprocess | str | None = None,
        mode: str = "auto",
        method: str | DetectionWhiteBoxMethod | DetectionBlackBoxMethod | None = None,
        target_layer: str | Sequence[str] | None = None,
        device: str = "CPU",
        label_names: Sequence[str] | None = None,
        *,
        input_name: str | None = None,
        example_input: Any = None,
        input_shape: Sequence[int] | None = None,
        batch_size: int = 4,
        class_output: int | str | None = None,
    ) -> None:
        if mode not in MODES:
            raise MethodError(f"mode='{mode}': use one of {', '.join(MODES)}.")
        self.postprocess, preset = _resolve_postprocess(postprocess)
        if preprocess is None and preset is not None:
            preprocess = Preprocess(**PRESET_PREPROCESS[preset])
        if label_names is None and getattr(self.postprocess, "label_names", None):
            label_names = list(self.postprocess.label_names)
        is_model = isinstance(model, (str, ov.Model)) or hasattr(model, "__fspath__") or _is_torch_module(model)
        source: Any = model
        if is_model:
            shape_unknown = example_input is None and input_shape is None
            if _is_torch_module(model) and shape_unknown and isinstance(preprocess, Preprocess) and preprocess.size:
                h, w = preprocess.hw
                input_shape = (1, h, w, 3) if preprocess.layout == "NHWC" else (1, 3, h, w)
            graph = load_model(model, example_input=example_input, input_shape=input_shape)
            if preprocess is None:
                preprocess = Preprocess(layout=_guess_layout(graph, input_name))
            from ..graph.detection import free_batch

            source = free_batch(graph, input_name)
        self.pipeline = Pipeline(
            source, preprocess, "identity", device, label_names, input_name, None, None, batch_size, task="detection"
        )
        self.mode = mode
        self.class_output = class_output
        self._plain_runner = None
        self.method, self.reason = self._choose(mode, method, target_layer)
        self.method_description = f"{self.method.name} ({self.reason})"
        self._runner = self.pipeline.compile(self._xai_graph) if self.whitebox else None
        if self._runner is not None:
            self._map_index = self._runner.output_names.index(SALIENCY_OUTPUT)

    # ------------------------------------------------------------------------------------------- set-up

    @property
    def label_names(self) -> list[str] | None:
        return self.pipeline.label_names

    @property
    def whitebox(self) -> bool:
        """Whether the chosen method runs inside the graph."""
        return isinstance(self.method, DetectionWhiteBoxMethod)

    def _hints(self) -> dict[str, Any]:
        post = self.postprocess
        class_output = self.class_output if self.class_output is not None else getattr(post, "class_output", None)
        return {
            "class_output": class_output,
            "num_classes": getattr(post, "num_classes", None) or (len(self.label_names) if self.label_names else None),
            "activation": getattr(post, "activation", None),
        }

    def _choose(self, mode: str, method: Any, target_layer: Any) -> tuple[Any, str]:
        self._xai_graph = None
        if isinstance(method, str):
            key = method.lower().replace("-", "_")
            cls = DETECTION_METHODS.get(key)
            kwargs = {"target_layer": target_layer} if cls is DetClassProbabilityMap else {}
            method = get_detection_method(method, **kwargs)
        _refuse_classification_method(method)
        if isinstance(method, DetectionBlackBoxMethod):
            if mode == "whitebox":
                raise MethodError(f"method '{method.name}' is black-box but mode='whitebox'.")
            return method, "asked for"
        if method is not None and not isinstance(method, DetectionWhiteBoxMethod):
            raise MethodError(f"{method!r} is not a detection method (it has neither insert() nor explain()).")
        if method is not None and mode == "blackbox":
            raise MethodError(f"method {method.name!r} is white-box but mode='blackbox'.")
        if mode == "blackbox":
            return DRISE(), "black-box mode"
        if self.pipeline.ov_model is None:
            if mode == "whitebox" or method is not None:
                raise MethodError("white-box methods need a model graph; a Python callable is explained black-box.")
            return DRISE(), "the model is a Python callable"
        candidate = method if method is not None else DetClassProbabilityMap(target_layer=target_layer)
        try:
            self._xai_graph = candidate.insert(self.pipeline.ov_model, self._hints())
        except GraphError as exc:
            if mode == "whitebox" or method is not None:
                raise
            log.warning(
                "saliencykit: falling back to black-box D-RISE (slower: many inferences per image) because %s", exc
            )
            return DRISE(), "no detection head found in the graph"
        if method is not None:
            return candidate, "asked for"
        return candidate, "the graph has an SSD-style class head"

    # ---------------------------------------------------------------------------------------- inference

    def _infer(self, pixels: np.ndarray, runner=None) -> list[np.ndarray]:
        if self.pipeline.predict_fn is not None:
            out = self.pipeline.predict_fn(pixels)
            return [np.asarray(out)] if isinstance(out, np.ndarray) else [np.asarray(o) for o in out]
        if runner is None:
            if self._plain_runner is None:
                self._plain_runner = self._compile_blackbox()
            runner = self._plain_runner
        return self.pipeline.run(runner, pixels)

    def _compile_blackbox(self) -> ModelRunner:
        """The plain model for many masked images: OpenVINO's throughput hint (parallel streams).

        Measured on BlazeFace on a busy 2-core machine: 0.77 ms per image with the throughput hint and requests of 2-4
        images, against 0.6-1.4 ms (erratic) with the latency hint and 8 (``bench/detection.py``).
        """
        pipeline = self.pipeline
        graph = pipeline.ov_model
        if pipeline.declarative:
            graph = pipeline.preprocess.embed(graph, pipeline.input_name)
        return ModelRunner(graph, pipeline.device, pipeline.input_name, pipeline.batch_size, performance="throughput")

    def _final(self, outputs: list[np.ndarray], count: int) -> list[Detections]:
        found = self.postprocess(outputs)
        result = [Detections.coerce(d).sorted() for d in found]
        if len(result) != count:
            raise MethodError(f"postprocess returned detections for {len(result)} images; the batch had {count}.")
        return result

    def _dense(self, outputs: list[np.ndarray], count: int) -> DetectionBatch:
        if hasattr(self.postprocess, "dense"):
            return self.postprocess.dense(outputs)
        return DetectionBatch.stack(self._final(outputs, count))

    def detect(self, images: np.ndarray | Sequence[np.ndarray]) -> Detections | list[Detections]:
        """The detector's boxes for RGB uint8 images, in pixels of each image (by decreasing score)."""
        images, single = as_images(images)
        result = []
        for image in images:
            pixels = self.pipeline.pixels(image)[None]
            if self.whitebox:  # the compiled graph with maps: no second compilation
                outputs = [o for k, o in enumerate(self._infer(pixels, self._runner)) if k != self._map_index]
            else:
                outputs = self._infer(pixels)
            result.append(_to_pixels(self._final(outputs, 1)[0], image.shape[:2]))
        return result[0] if single else result

    # ------------------------------------------------------------------------------------------ explain

    def __call__(
        self,
        image: np.ndarray | Sequence[np.ndarray],
        targets: BoxTargets = "all",
        keep_image: bool = True,
        progress: Callable[[int, int], None] | None = None,
    ) -> DetectionExplanation | list[DetectionExplanation]:
        """Explain the boxes ``targets`` of one RGB uint8 image (or a list of them).

        ``targets``: a predicted box index (boxes are sorted by decreasing score), a list of indices, ``"all"``,
        ``"top:k"``, or boxes ``[x0, y0, x1, y1, class]`` in pixels of the image (a list of such lists or an
        (M, 5) array; the class may be a label name, and may be left out for a one-class detector).
        ``progress(done, total)`` is called as black-box methods advance.
        """
        self._progress = progress
        images, single = as_images(image)
        results: list[DetectionExplanation] = []
        if self.whitebox:
            step = max(1, self.pipeline.batch_size) if self.pipeline.declarative else 1
            for start in range(0, len(images), step):
                results.extend(self._explain_whitebox(images[start : start + step], targets, keep_image))
        else:
            results.extend(self._explain_blackbox(im, targets, keep_image) for im in images)
        return results[0] if single else results

    def _explain_whitebox(self, images, targets, keep_image) -> list[DetectionExplanation]:
        start = time.perf_counter()
        pixels = np.stack([self.pipeline.pixels(im) for im in images])
        outputs = self._infer(pixels, self._runner)
        saliency = outputs[self._map_index]
        originals = [o for k, o in enumerate(outputs) if k != self._map_index]
        found = self._final(originals, len(images))
        elapsed = (time.perf_counter() - start) / len(images)
        results = []
        for i, image in enumerate(images):
            chosen = self._targets(targets, found[i], image.shape[:2])
            maps = {}
            for t in chosen:
                if not 0 <= t.cls < saliency.shape[1]:
                    raise TargetError(f"{t.name}: class {t.cls} but the model's maps have {saliency.shape[1]} classes.")
                maps[t.key] = saliency[i, t.cls].astype(np.float32)
            stats = {"model_calls": 1, "wall_time_s": elapsed, "whitebox": True}
            results.append(self._explanation(image, chosen, maps, found[i], keep_image, stats, rescale=False))
        return results

    def _explain_blackbox(self, image, targets, keep_image) -> DetectionExplanation:
        start = time.perf_counter()
        calls = 0

        def detect(batch: np.ndarray) -> DetectionBatch:
            nonlocal calls
            calls += len(batch)
            return self._dense(self._infer(batch), len(batch))

        pixels = self.pipeline.pixels(image)
        calls += 1
        found = self._final(self._infer(pixels[None]), 1)[0]
        chosen = self._targets(targets, found, image.shape[:2])
        maps = {}
        if chosen:
            boxes = np.stack([t.box for t in chosen])
            classes = np.array([t.cls for t in chosen], np.int64)
            with self.pipeline.quiet_blas():
                raw = self.method.explain(
                    detect, pixels, boxes, classes, fill=self.pipeline.fill, progress=getattr(self, "_progress", None)
                )
            maps = {t.key: np.asarray(raw[k], np.float32) for k, t in enumerate(chosen)}
        stats = {"model_calls": calls, "wall_time_s": time.perf_counter() - start, "whitebox": False}
        settings = getattr(self.method, "settings", None)
        if callable(settings):
            stats["settings"] = settings()
        return self._explanation(image, chosen, maps, found, keep_image, stats, rescale=True)

    def _explanation(self, image, chosen, maps, found, keep_image, stats, rescale) -> DetectionExplanation:
        size = image.shape[:2]
        for t in chosen:
            maps[t.key] = self._checked(maps[t.key], t, rescale)
        return DetectionExplanation(
            targets=[t.key for t in chosen],
            maps=maps,
            scores={t.key: t.score for t in chosen},
            label_names=self.label_names,
            method=self.method_description,
            image_size=tuple(size),
            predictions=found.scores.copy(),
            image=image if keep_image else None,
            stats=stats,
            boxes={t.key: tuple(float(v) for v in scale_boxes(t.box, size)[0]) for t in chosen},
            classes={t.key: t.cls for t in chosen},
            names={t.key: t.name for t in chosen},
            detections=_to_pixels(found, size),
        )

    def _checked(self, saliency: np.ndarray, target: _Target, rescale: bool) -> np.ndarray:
        """Warn about degenerate maps (non-finite, constant); black-box maps are rescaled to [0, 1]."""
        what = f"{self.method.name} map for {target.name} ({label_of(target.cls, self.label_names)} {target.score:.2f})"
        if not np.all(np.isfinite(saliency)):
            log.warning(
                "saliencykit: the %s contains NaN or infinite values: the model produced non-finite outputs — check "
                "the preprocessing (mean, std, layout) and the model's precision. Non-finite values are set to 0.",
                what,
            )
            saliency = np.nan_to_num(saliency, nan=0.0, posinf=0.0, neginf=0.0)
        spread = float(saliency.max() - saliency.min()) if saliency.size else 0.0
        if not spread > 1e-7 * max(1.0, float(np.abs(saliency).max()) if saliency.size else 1.0):
            if self.whitebox:
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
        return normalize(saliency) if rescale else saliency.astype(np.float32)

    # ------------------------------------------------------------------------------------------ targets

    def _targets(self, targets: BoxTargets, found: Detections, size: tuple[int, int]) -> list[_Target]:
        """Resolve ``targets`` against this image's detections (see :meth:`__call__`)."""
        m = len(found)

        def predicted(i: int) -> _Target:
            if not 0 <= i < m:
                raise TargetError(
                    f"box {i}: the detector found {m} box(es) in this image"
                    + (f" (indices 0..{m - 1})" if m else "")
                    + "; to explain a region it missed, give the box: targets=[[x0, y0, x1, y1, class]] in pixels."
                )
            return _Target(i, f"box{i}", found.boxes[i], int(found.classes[i]), float(found.scores[i]))

        if isinstance(targets, str):
            if targets == "all":
                if m == 0:
                    log.warning("saliencykit: the detector found no box in this image: nothing to explain.")
                return [predicted(i) for i in range(m)]
            if targets.startswith("top:"):
                try:
                    k = int(targets[4:])
                except ValueError:
                    raise TargetError(f"targets='{targets}': write top:K with an integer K, e.g. top:3.") from None
                return [predicted(i) for i in range(min(max(k, 0), m))]
            raise TargetError(f"targets='{targets}': use 'all', 'top:K', box indices or boxes [x0, y0, x1, y1, class].")
        if isinstance(targets, (int, np.integer)) and not isinstance(targets, bool):
            return [predicted(int(targets))]
        if isinstance(targets, np.ndarray):
            if targets.ndim == 2:
                items: list = [list(row) for row in targets]
            elif targets.ndim == 1 and np.issubdtype(targets.dtype, np.integer):
                items = [int(v) for v in targets]
            else:
                raise TargetError(
                    f"targets: an array of shape {targets.shape}; give box indices (1-D int) or boxes (M, 4 or 5)."
                )
        else:
            items = list(targets)
        if not items:
            raise TargetError("targets is empty: give box indices, 'all', 'top:K' or boxes [x0, y0, x1, y1, class].")
        flat = all(isinstance(v, (int, float, np.integer, np.floating)) for v in items) and len(items) in (4, 5)
        if flat and any(isinstance(v, (float, np.floating)) and float(v) != int(v) for v in items):
            raise TargetError(
                f"targets={list(items)}: a box must be nested, targets=[[x0, y0, x1, y1, class]]; a flat list "
                "means box indices."
            )
        out: list[_Target] = []
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

    def _user_box(self, values: list, found: Detections, size, key: int, j: int) -> _Target:
        if len(values) not in (4, 5):
            raise TargetError(f"box {values}: give [x0, y0, x1, y1, class] in pixels of the image.")
        if len(values) == 4:
            classes = len(self.label_names) if self.label_names else None
            if classes != 1:
                raise TargetError(f"box {values}: give its class too, [x0, y0, x1, y1, class] (the model has several).")
            cls = 0
        elif isinstance(values[4], str):
            cls = label_index(values[4], self.label_names)
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
        box = normalize_boxes([x0, y0, x1, y1], size)[0]
        same = found.classes == cls
        score = float((box_iou(box[None], found.boxes[same])[0] * found.scores[same]).max()) if same.any() else 0.0
        return _Target(key, f"userbox{j}", box, cls, score)


def _refuse_classification_method(method: Any) -> None:
    """Classification methods share the protocols' shape but not their arguments: say so instead of failing later."""
    module = type(method).__module__
    ours = (DRISE, AISEDetection, DetClassProbabilityMap)
    if module.startswith("saliencykit.methods") and not isinstance(method, ours):
        raise MethodError(
            f"{type(method).__name__} explains classifiers; for a detector use DetClassProbabilityMap (white-box), "
            "DRISE or AISEDetection (black-box), or method='det_class_probability_map' / 'drise' / 'aise'."
        )


def _to_pixels(dets: Detections, size: tuple[int, int]) -> Detections:
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


def _guess_layout(model: ov.Model, input_name: str | None) -> str:
    """NHWC when the input's last axis is 3 channels and its second is not (TFLite models), else NCHW."""
    shape = select_input(model, input_name).get_partial_shape()
    if shape.rank.is_static and shape.rank.get_length() == 4:
        last, second = shape[3], shape[1]
        if last.is_static and last.get_length() == 3 and not (second.is_static and second.get_length() == 3):
            return "NHWC"
    return "NCHW"
