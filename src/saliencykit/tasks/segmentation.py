"""Segmentation: a per-pixel class map per image; a target is a class over a region; its score is the mean class
probability over that region (pytorch-grad-cam's ``SemanticSegmentationTarget``).

The model's map output is picked by name (``output=``) or automatically: the one output whose spatial size is the
input's divided by ``output_stride`` (default 1). One channel is read with a sigmoid as two classes, background
(``1 - p``) and the foreground (``p``); C channels with a softmax; an output that already ends in a Sigmoid or
Softmax is taken as it is. ``score="logit"`` averages the raw logit instead of the probability.

Targets: a class (index or name: its predicted region, where it wins the per-pixel argmax), ``"all"`` (every
predicted class but the background), ``"mask"`` (the whole predicted mask: every non-background pixel scored
for its own class), or a :class:`~saliencykit.targets.Region` — a user's mask or box, for a class. Black-box
methods (RISE, AISE) score every perturbed copy through :meth:`RegionTarget.score_batch`.

There is no white-box method for segmentation: ReciproCAM's premise is that the masked feature map is the only
path from the input to the score. In the pose model every node that all paths to the mask pass through is at 128 x
128 or 256 x 256 (the encoder's 64 .. 8 maps are bypassed by skip connections into the decoder), so a faithful
in-graph map would mask 16384 cells of a layer a few local convolutions from the output: more copies than RISE,
and a map that repeats the mask rather than explaining it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import MethodError, ModelOutputError, TargetError
from ..labels import label_index, label_of
from ..pipeline import Pipeline
from ..preprocess import Preprocess
from ..targets import Region
from .outputs import RawOutputsTask

log = logging.getLogger("saliencykit")

ACTIVATIONS = ("auto", "sigmoid", "softmax", "none")
SCORES = ("probability", "logit")
_HOW = "give a class (index or name), 'all', 'mask', or sk.Region(mask_or_box, class)"


@dataclass(frozen=True, eq=False)
class RegionTarget:
    """One region of a segmentation model, as a black-box method scores it.

    Attributes:
        key: how the region is addressed in the explanation (see :class:`SegmentationExplanation`).
        cls: class index; -1 for the whole predicted mask (then ``pixel_classes`` says each pixel's class).
        weights: (h, w) float32 weights at the model output's resolution (the region, area-resized).
        region: (H, W) bool mask of the region in the explained image (for overlays and metrics).
        name: ``"class{k}"``, ``"mask"`` or ``"region{j}"``.
        score: the target's score on the unperturbed image.
        pixel_classes: (h, w) class of every pixel, for the whole predicted mask.
    """

    key: int
    cls: int
    weights: np.ndarray = field(repr=False)
    region: np.ndarray = field(repr=False)
    name: str = ""
    score: float = 0.0
    pixel_classes: np.ndarray | None = field(default=None, repr=False)

    def score_of(self, scores: np.ndarray) -> np.ndarray:
        """The weighted mean over the region of per-pixel class scores (N, K, h, w): (N,) float64."""
        if self.cls >= 0:
            values = scores[:, self.cls]
        else:
            assert self.pixel_classes is not None
            values = np.take_along_axis(scores, self.pixel_classes[None, None].astype(np.int64), axis=1)[:, 0]
        w = self.weights.astype(np.float64)
        return np.einsum("nhw,hw->n", values.astype(np.float64), w) / w.sum()

    @staticmethod
    def score_batch(targets: Sequence[RegionTarget], outputs: np.ndarray, count: int) -> np.ndarray:
        """Scores (count, T) of every target in per-pixel class scores ``outputs`` (count, K, h, w)."""
        scores = np.asarray(outputs)
        if scores.ndim != 4 or scores.shape[0] != count:
            raise MethodError(f"segmentation scores of shape {scores.shape} for a batch of {count} images.")
        return np.stack([t.score_of(scores) for t in targets], axis=1).astype(np.float32)


@dataclass
class SegmentationPrediction:
    """What the segmenter predicts for one image, at its output's resolution.

    Attributes:
        probabilities: (K, h, w) class probabilities (background first for a one-channel model).
        scores: (K, h, w) what targets average: the probabilities, or the logits with ``score="logit"``.
        classes: (h, w) the predicted class of every pixel (argmax of the probabilities).
    """

    probabilities: np.ndarray
    scores: np.ndarray
    classes: np.ndarray

    def mask(self, cls: int) -> np.ndarray:
        """Where ``cls`` is predicted, (h, w) bool."""
        return self.classes == cls

    def present(self) -> list[int]:
        """The classes predicted somewhere, in index order."""
        return [int(k) for k in np.unique(self.classes)]


class SegmentationTask(RawOutputsTask):
    """A segmentation model: a per-pixel class map; one map per explained region (see the module docstring).

    Options (Explainer keywords): ``output`` — the map output's name or index (default: found); ``output_stride``
    — the map's size is the input's divided by it, for the automatic choice (default 1); ``activation`` —
    ``"auto"``, ``"sigmoid"``, ``"softmax"`` or ``"none"`` (probabilities already); ``score`` —
    ``"probability"`` (default) or ``"logit"``: what a target averages over its region.
    """

    name = "segmentation"
    noun = "segmentation models"
    default_targets = "all"
    default_batch_size = 8
    fallback_reason = "segmentation has no white-box method (see saliencykit.tasks.segmentation)"
    options = ("output", "output_stride", "activation", "score")

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.output: int | str | None = options.get("output")
        stride = options.get("output_stride", 1)
        if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
            raise MethodError(f"output_stride={stride!r}: give a whole number >= 1 (the input size / the map's size).")
        self.output_stride = int(stride)
        self.activation = options.get("activation", "auto")
        if self.activation not in ACTIVATIONS:
            raise MethodError(f"activation='{self.activation}': use one of {', '.join(ACTIVATIONS)}.")
        self.score = options.get("score", "probability")
        if self.score not in SCORES:
            raise MethodError(f"score='{self.score}': use 'probability' (mean class probability) or 'logit'.")
        if self.score == "logit" and self.activation == "none":
            raise MethodError("score='logit' with activation='none': the outputs are probabilities, not logits.")
        #: (output position, channels-last, activation in effect) once the map output is known
        self._reading: tuple[int, bool, str] | None = None
        #: channels of the map output (1: a sigmoid map read as background and foreground), once known
        self._channels: int | None = None

    def pipeline(self, model: Any, preprocess: Any, postprocess: Any, settings: dict[str, Any]) -> Pipeline:
        if postprocess not in (None, "identity"):  # "identity": what Explainer.with_model passes back
            raise MethodError(
                "postprocess= is not used by task='segmentation': name the map output with output= and its "
                "activation with activation=."
            )
        pipeline = super().pipeline(model, preprocess, None, settings)
        graph = pipeline.ov_model
        if graph is not None:
            shapes = []
            for k, port in enumerate(graph.outputs):
                shape = port.get_partial_shape()
                dims = [d.get_length() if d.is_static else None for d in shape] if shape.rank.is_static else None
                name = port.get_any_name() if port.get_names() else f"output {k}"
                shapes.append((name, dims))
            index, last = self._pick(shapes)
            node = graph.outputs[index].get_node()
            source = node.input_value(0).get_node() if node.get_type_name() == "Result" else node
            activation = self.activation
            if activation == "auto" and source.get_type_name() in ("Sigmoid", "Softmax", "SoftMax", "LogSoftmax"):
                activation = "none" if source.get_type_name() != "LogSoftmax" else "softmax"
                if self.score == "logit":
                    raise MethodError(
                        f"score='logit': the map output '{shapes[index][0]}' ends in {source.get_type_name()}, so the "
                        "model gives probabilities; use score='probability'."
                    )
            self._reading = (index, last, activation)
            dims = shapes[index][1] or []
            self._channels = 1 if len(dims) == 3 else dims[3 if last else 1]
        return pipeline

    def rebuild_options(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "output_stride": self.output_stride,
            "activation": self.activation,
            "score": self.score,
        }

    # -- which output ----------------------------------------------------------------------------------------

    def _input_hw(self) -> tuple[int, int]:
        assert self.pipeline_ is not None
        pre = self.pipeline_.preprocess
        if isinstance(pre, Preprocess) and pre.size is not None:
            return pre.hw
        raise MethodError("task='segmentation' needs the model's input size: give preprocess=Preprocess(size=...).")

    def _pick(self, shapes: list[tuple[str, list[int | None] | None]]) -> tuple[int, bool]:
        """(position, channels-last) of the map output among ``shapes`` [(name, dims)]; our errors otherwise."""
        listing = ", ".join(f"'{n}' {d}" for n, d in shapes)
        if self.output is not None:
            index = self._named(shapes, listing)
            layout = self._layout(shapes[index][1])
            if layout is None:
                raise ModelOutputError(
                    f"output '{shapes[index][0]}' has shape {shapes[index][1]}, which is not a per-pixel map "
                    f"(N, C, H, W), (N, H, W, C) or (N, H, W) at the input's size / output_stride; outputs: {listing}."
                )
            return index, layout
        found = [(k, lay) for k, (_, dims) in enumerate(shapes) if (lay := self._layout(dims)) is not None]
        h, w = self._input_hw()
        stride = self.output_stride
        if not found:
            raise ModelOutputError(
                f"no output of the model is a per-pixel map of {h // stride} x {w // stride} (the input {h} x {w} / "
                f"output_stride={stride}); outputs: {listing}. Name the map with output= (and output_stride= when it "
                "is smaller than the input)."
            )
        if len(found) > 1:
            names = ", ".join(f"'{shapes[k][0]}'" for k, _ in found)
            raise ModelOutputError(
                f"several outputs could be the per-pixel map ({names}); name one with output= (outputs: {listing})."
            )
        return found[0]

    def _named(self, shapes: list[tuple[str, Any]], listing: str) -> int:
        output = self.output
        if isinstance(output, (int, np.integer)) and not isinstance(output, bool):
            if 0 <= int(output) < len(shapes):
                return int(output)
            raise ModelOutputError(f"output={output}: the model has {len(shapes)} output(s): {listing}.")
        for k, (name, _) in enumerate(shapes):
            if name == output:
                return k
        raise ModelOutputError(f"output='{output}': the model has no such output; its outputs: {listing}.")

    def _layout(self, dims: list[int | None] | None) -> bool | None:
        """True for (N, H, W, C) or (N, H, W), False for (N, C, H, W), None when ``dims`` is not a map of the
        input's size / ``output_stride`` (a dynamic size counts as fitting)."""
        if dims is None or len(dims) not in (3, 4):
            return None
        h, w = self._input_hw()
        want = (h // self.output_stride, w // self.output_stride)

        def fits(a: int | None, b: int | None) -> bool:
            return (a is None or a == want[0]) and (b is None or b == want[1])

        if len(dims) == 3:
            return True if fits(dims[1], dims[2]) else None
        last, first = fits(dims[1], dims[2]), fits(dims[2], dims[3])
        if last and first:  # square and C == H: follow the input's layout
            pre = self.pipeline_.preprocess if self.pipeline_ is not None else None
            return isinstance(pre, Preprocess) and pre.layout == "NHWC"
        return True if last else (False if first else None)

    # -- reading ---------------------------------------------------------------------------------------------

    def dense(self, outputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Per-pixel (probabilities, scores), each (N, K, h, w) float32, from the model's outputs."""
        if self._reading is None:  # a Python callable: pick from the arrays of the first call
            shapes: list[tuple[str, list[int | None] | None]] = [
                (f"output {k}", [int(d) for d in np.shape(o)]) for k, o in enumerate(outputs)
            ]
            self._reading = (*self._pick(shapes), self.activation)
        index, last, activation = self._reading
        if index >= len(outputs):
            raise ModelOutputError(f"the model returned {len(outputs)} output(s); the map is output {index}.")
        raw = np.asarray(outputs[index], np.float32)
        if raw.ndim == 3:
            raw = raw[:, None]
        elif last:
            raw = raw.transpose(0, 3, 1, 2)
        channels = self._channels = raw.shape[1]
        if activation == "auto":
            activation = "sigmoid" if channels == 1 else "softmax"
        if channels == 1:
            if activation == "softmax":
                raise MethodError("activation='softmax' on a one-channel map: use 'sigmoid' (or 'none').")
            if activation == "sigmoid":
                z = np.clip(raw, -60.0, 60.0)
                p = 1.0 / (1.0 + np.exp(-z))
                logits = np.concatenate([-raw, raw], axis=1)
            else:
                p = np.clip(raw, 0.0, 1.0)
                logits = None
            probs = np.concatenate([1.0 - p, p], axis=1)
        else:
            logits = raw if activation != "none" else None
            if activation == "softmax":
                e = np.exp(raw - raw.max(axis=1, keepdims=True))
                probs = e / e.sum(axis=1, keepdims=True)
            elif activation == "sigmoid":
                probs = 1.0 / (1.0 + np.exp(-np.clip(raw, -60.0, 60.0)))
            else:
                probs = raw
        if not np.all(np.isfinite(probs)):
            raise ModelOutputError(
                "the segmentation map holds NaN or infinite values: check the preprocessing (mean, std, layout)."
            )
        scores = logits if self.score == "logit" and logits is not None else probs
        return probs.astype(np.float32), np.ascontiguousarray(scores, np.float32)

    @property
    def background(self) -> int | None:
        """The background class: 0 for a one-channel map or a class named "background", else None."""
        labels = self.label_names
        if labels:
            for k, name in enumerate(labels):
                if name.casefold() == "background":
                    return k
        if self._channels == 1:
            return 0
        return None

    @property
    def label_names(self) -> list[str] | None:
        """Class names: a one-channel model given one name gets "background" before it."""
        labels = self.pipeline_.label_names if self.pipeline_ is not None else None
        if labels is not None and len(labels) == 1:
            return ["background", *labels]
        return labels

    def read(self, outputs: list[np.ndarray], names: Sequence[str]) -> list[SegmentationPrediction]:
        probs, scores = self.dense(outputs)
        if len(probs) != len(names):
            raise ModelOutputError(f"the model returned maps for {len(probs)} images; the batch had {len(names)}.")
        labels = self.label_names
        if labels is not None and len(labels) != probs.shape[1]:
            raise TargetError(
                f"label_names has {len(labels)} names but the segmentation map has {probs.shape[1]} classes"
                + (" (background and foreground of one channel)" if probs.shape[1] == 2 else "")
                + "; give one name per class."
            )
        return [SegmentationPrediction(p, s, p.argmax(axis=0)) for p, s in zip(probs, scores)]

    def perturbed(self, pixels: np.ndarray) -> np.ndarray:
        return self.dense(self.run(pixels))[1]

    # -- targets ---------------------------------------------------------------------------------------------

    def check_targets(self, targets: Any) -> None:
        if isinstance(targets, str) and targets in ("all", "mask"):
            return
        items = targets if isinstance(targets, (list, tuple)) else [targets]
        if not items:
            raise TargetError(f"targets is empty: {_HOW}.")
        for item in items:
            if isinstance(item, (bool, np.bool_)) or not isinstance(item, (int, np.integer, str, Region, np.ndarray)):
                raise TargetError(f"target {item!r} ({type(item).__name__}): {_HOW}.")
            if isinstance(item, (int, np.integer)) and item < 0:
                raise TargetError(f"target {item} is negative: class indices start at 0.")

    def targets(self, request: Any, prediction: SegmentationPrediction, size: tuple[int, int]) -> list[RegionTarget]:
        """Resolve ``request`` against this image's predicted map (see the module docstring)."""
        num = prediction.probabilities.shape[0]
        background = self.background
        if isinstance(request, str) and request == "all":
            found = [k for k in prediction.present() if k != background]
            if not found:
                log.warning("saliencykit: the segmentation model predicts no class but the background here.")
            return [self._class_target(k, prediction, size) for k in found]
        items = list(request) if isinstance(request, (list, tuple)) else [request]
        out: list[RegionTarget] = []
        user = 0
        for item in items:
            if isinstance(item, str) and item == "mask":
                target = self._mask_target(prediction, size, num, background)
            elif isinstance(item, (Region, np.ndarray)):
                region = item if isinstance(item, Region) else Region(item)
                target = self._region_target(region, prediction, size, num + 1 + user, f"region{user}")
                user += 1
            else:
                target = self._class_target(self._class_index(item, num), prediction, size)
            if all(t.key != target.key for t in out):
                out.append(target)
        return out

    def _class_index(self, item: Any, num: int) -> int:
        if isinstance(item, str):
            return label_index(item, self.label_names)
        index = int(item)
        if not 0 <= index < num:
            raise TargetError(f"target {index} is out of range: this model's map has classes 0..{num - 1}.")
        return index

    def _finish(self, key, cls, weights, region, name, prediction, pixel_classes=None) -> RegionTarget:
        target = RegionTarget(key, cls, weights, region, name, 0.0, pixel_classes)
        score = float(target.score_of(prediction.scores[None])[0])
        return RegionTarget(key, cls, weights, region, name, score, pixel_classes)

    def _class_target(self, cls: int, prediction: SegmentationPrediction, size: tuple[int, int]) -> RegionTarget:
        mask = prediction.mask(cls)
        if not mask.any():
            raise TargetError(
                f"class '{label_of(cls, self.label_names)}' is predicted nowhere in this image; to explain it in an "
                "area, give the area: targets=sk.Region(mask_or_box, class)."
            )
        return self._finish(cls, cls, mask.astype(np.float32), _at(mask, size), f"class{cls}", prediction)

    def _mask_target(self, prediction: SegmentationPrediction, size: tuple[int, int], key: int, background: int | None):
        mask = prediction.classes != background if background is not None else np.ones_like(prediction.classes, bool)
        if not mask.any():
            raise TargetError("targets='mask': the model predicts only the background here; nothing to explain.")
        weights = mask.astype(np.float32)
        return self._finish(key, -1, weights, _at(mask, size), "mask", prediction, prediction.classes)

    def _region_target(self, region: Region, prediction, size: tuple[int, int], key: int, name: str) -> RegionTarget:
        weights_image = region.mask(size, f"{name} (targets)")
        h, w = prediction.classes.shape
        import cv2

        weights = cv2.resize(weights_image, (w, h), interpolation=cv2.INTER_AREA)
        if not weights.any():
            raise TargetError(f"{name} is too small for the model's {w} x {h} map; give a larger area.")
        num = prediction.probabilities.shape[0]
        if region.target is None:
            means = np.einsum("khw,hw->k", prediction.probabilities, weights)
            cls = int(np.argmax(means))
        else:
            cls = self._class_index(region.target, num)
        return self._finish(key, cls, weights, weights_image >= 0.5, name, prediction)

    # -- results ---------------------------------------------------------------------------------------------

    def explanation(
        self, source: np.ndarray, targets: list[RegionTarget], maps: dict, prediction: SegmentationPrediction,
        **common: Any,
    ) -> Any:  # fmt: skip
        from ..segmentation.explanation import SegmentationExplanation

        common["label_names"] = self.label_names
        return SegmentationExplanation(
            targets=[t.key for t in targets],
            maps=maps,
            scores={t.key: t.score for t in targets},
            image_size=tuple(source.shape[:2]),
            predictions=prediction.probabilities.reshape(len(prediction.probabilities), -1).mean(axis=1),
            regions={t.key: t.region for t in targets},
            classes={t.key: t.cls for t in targets},
            names={t.key: t.name for t in targets},
            score_kind=self.score,
            **common,
        )


def _at(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A (h, w) bool mask at the image's ``size`` (nearest neighbour)."""
    import cv2

    h, w = size
    if mask.shape == (h, w):
        return mask.copy()
    return cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
