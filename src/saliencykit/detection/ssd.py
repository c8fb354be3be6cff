"""SSD-style detector decoding: anchors, box decoding, non-maximum suppression — and the MediaPipe presets.

Single-shot detectors (SSD, BlazeFace, RetinaNet-like heads) predict, for every *anchor* (a prior box on a grid
of cells at each scale), box offsets and class logits. Their raw outputs are two tensors:

* box regressors ``(N, A, R)``: ``R >= 4`` values per anchor (centre offsets, size, sometimes keypoints),
* class logits ``(N, A, K)``: one logit per class and anchor,

and turning them into boxes takes three steps, each a small function here:

1. :func:`ssd_anchors` lays out the ``A`` anchors exactly as MediaPipe's ``SsdAnchorsCalculator`` does
   (cells at each stride, several anchors per cell),
2. :func:`decode_boxes` adds the regressed offsets to the anchors (MediaPipe's ``TensorsToDetectionsCalculator``),
3. :func:`non_max_suppression` keeps the best box of each cluster of overlapping boxes.

:class:`SSDPostprocess` bundles them into the postprocess a :class:`~saliencykit.detection.DetectionExplainer`
needs; :func:`blazeface` and :func:`palm_detection` configure it for the two pretrained TFLite detectors in the
PyPI wheel ``mediapipe==0.10.14`` (read out of the wheel with :func:`mediapipe_model_path`; mediapipe is never
imported). This module is also the example to copy for your own SSD-style model: change the anchor options,
the box scale and which output holds what.

>>> anchors = ssd_anchors(AnchorOptions(input_size=(128, 128), strides=(8, 16, 16, 16)))
>>> anchors.shape  # BlazeFace: 16 x 16 cells x 2 anchors + 8 x 8 cells x 6 anchors
(896, 4)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import PreprocessError
from .boxes import DetectionBatch, Detections, box_iou

# ---------------------------------------------------------------------------------------------------- anchors


@dataclass(frozen=True)
class AnchorOptions:
    """MediaPipe's ``SsdAnchorsCalculatorOptions`` (the fields BlazeFace-like models use).

    Args:
        input_size: (height, width) of the model input.
        strides: one stride per layer; consecutive layers with the same stride share one grid of cells.
        min_scale, max_scale: anchor scales of the first and last layer (linearly interpolated in between).
        aspect_ratios: aspect ratios of the anchors of each layer.
        anchor_offset: (x, y) offset of anchor centres inside their cell, in cells.
        fixed_anchor_size: anchors are 1 x 1 (the regressors then carry absolute sizes), as in BlazeFace.
        interpolated_scale_aspect_ratio: adds one anchor per layer at the geometric mean of this and the next
            layer's scale (``<= 0`` disables it).
        reduce_boxes_in_lowest_layer: the first layer gets 3 fixed anchors (SSD-MobileNet's convention).
    """

    input_size: tuple[int, int]
    strides: tuple[int, ...]
    min_scale: float = 0.1484375
    max_scale: float = 0.75
    aspect_ratios: tuple[float, ...] = (1.0,)
    anchor_offset: tuple[float, float] = (0.5, 0.5)
    fixed_anchor_size: bool = True
    interpolated_scale_aspect_ratio: float = 1.0
    reduce_boxes_in_lowest_layer: bool = False


def _scale(min_scale: float, max_scale: float, index: int, count: int) -> float:
    if count == 1:
        return (min_scale + max_scale) / 2
    return min_scale + (max_scale - min_scale) * index / (count - 1)


def anchor_grids(options: AnchorOptions) -> list[tuple[int, int, int]]:
    """``(cells_high, cells_wide, anchors_per_cell)`` of each grid, in the order the anchors are laid out.

    >>> anchor_grids(AnchorOptions(input_size=(128, 128), strides=(8, 16, 16, 16)))
    [(16, 16, 2), (8, 8, 6)]
    """
    return [(h, w, len(sizes)) for h, w, _, sizes in _layers(options)]


def _layers(options: AnchorOptions):
    strides = list(options.strides)
    count = len(strides)
    layer = 0
    while layer < count:
        sizes: list[tuple[float, float]] = []  # (width, height) of each anchor of a cell
        last = layer
        while last < count and strides[last] == strides[layer]:
            scale = _scale(options.min_scale, options.max_scale, last, count)
            if last == 0 and options.reduce_boxes_in_lowest_layer:
                pairs = [(1.0, 0.1), (2.0, scale), (0.5, scale)]
            else:
                pairs = [(ratio, scale) for ratio in options.aspect_ratios]
                if options.interpolated_scale_aspect_ratio > 0:
                    following = (
                        1.0 if last == count - 1 else _scale(options.min_scale, options.max_scale, last + 1, count)
                    )
                    pairs.append((options.interpolated_scale_aspect_ratio, float(np.sqrt(scale * following))))
            sizes.extend((s * np.sqrt(r), s / np.sqrt(r)) for r, s in pairs)
            last += 1
        stride = strides[layer]
        cells_h = int(np.ceil(options.input_size[0] / stride))
        cells_w = int(np.ceil(options.input_size[1] / stride))
        yield cells_h, cells_w, stride, sizes
        layer = last


def ssd_anchors(options: AnchorOptions) -> np.ndarray:
    """Anchors (A, 4) as ``[x_centre, y_centre, width, height]`` normalised to [0, 1], in the model's order.

    Row-major over cells, then over the anchors of a cell, grid after grid — the order SSD heads reshape their
    ``(N, anchors * K, h, w)`` convolution outputs into ``(N, h * w * anchors, K)``.
    """
    out = []
    ox, oy = options.anchor_offset
    for cells_h, cells_w, _, sizes in _layers(options):
        ys, xs = np.meshgrid((np.arange(cells_h) + oy) / cells_h, (np.arange(cells_w) + ox) / cells_w, indexing="ij")
        for_cell = np.ones((len(sizes), 2)) if options.fixed_anchor_size else np.array(sizes, np.float64)
        k = len(sizes)
        grid = np.zeros((cells_h, cells_w, k, 4))
        grid[..., 0] = xs[..., None]
        grid[..., 1] = ys[..., None]
        grid[..., 2] = for_cell[:, 0]
        grid[..., 3] = for_cell[:, 1]
        out.append(grid.reshape(-1, 4))
    return np.concatenate(out).astype(np.float32)


# ----------------------------------------------------------------------------------------------- decoding


def decode_boxes(raw: np.ndarray, anchors: np.ndarray, scale: float | Sequence[float], offset: int = 0) -> np.ndarray:
    """Regressor values (..., A, R) to boxes (..., A, 4) ``[x0, y0, x1, y1]`` normalised to [0, 1].

    ``raw[..., offset:offset + 4]`` are ``(x_centre, y_centre, width, height)`` in units of ``scale`` (the
    input size for BlazeFace: ``x / scale * anchor_w + anchor_x``), as MediaPipe's decoder with
    ``reverse_output_order: true``. ``scale`` is one number or ``(x, y, w, h)`` scales.

    >>> decode_boxes(np.zeros((1, 4)), np.array([[0.5, 0.5, 1.0, 1.0]]), 128).tolist()
    [[0.5, 0.5, 0.5, 0.5]]
    """
    sx, sy, sw, sh = [float(scale)] * 4 if np.isscalar(scale) else [float(s) for s in scale]  # type: ignore[union-attr, arg-type]
    raw = np.asarray(raw, np.float32)
    a = np.asarray(anchors, np.float32)
    xc = raw[..., offset] / sx * a[:, 2] + a[:, 0]
    yc = raw[..., offset + 1] / sy * a[:, 3] + a[:, 1]
    w = raw[..., offset + 2] / sw * a[:, 2]
    h = raw[..., offset + 3] / sh * a[:, 3]
    return np.stack([xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2], axis=-1).astype(np.float32)


def non_max_suppression(
    boxes: np.ndarray,
    scores: np.ndarray,
    iou_threshold: float = 0.3,
    max_detections: int | None = None,
    weighted: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy NMS: ``(kept indices, kept boxes)``, by decreasing score.

    The best remaining box is kept and every box overlapping it by more than ``iou_threshold`` is dropped.
    ``weighted=True`` is MediaPipe's ``WEIGHTED`` algorithm (BlazeFace's): the kept box becomes the score-weighted
    mean of its cluster, which steadies it.

    >>> b = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    >>> non_max_suppression(b, np.array([0.9, 0.8, 0.7]))[0].tolist()
    [0, 2]
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    scores = np.asarray(scores, np.float32).reshape(-1)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    kept_boxes: list[np.ndarray] = []
    iou = box_iou(boxes, boxes) if len(boxes) else np.zeros((0, 0), np.float32)
    alive = np.ones(len(boxes), bool)
    for i in order:
        if not alive[i]:
            continue
        cluster = alive & (iou[i] > iou_threshold)
        cluster[i] = True
        if weighted:
            w = scores[cluster]
            box = (boxes[cluster] * w[:, None]).sum(0) / max(float(w.sum()), 1e-12)
        else:
            box = boxes[i]
        alive &= ~cluster
        keep.append(int(i))
        kept_boxes.append(box)
        if max_detections is not None and len(keep) >= max_detections:
            break
    kept = np.stack(kept_boxes).astype(np.float32) if kept_boxes else np.zeros((0, 4), np.float32)
    return np.asarray(keep, np.int64), kept


# ------------------------------------------------------------------------------------------- postprocess


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))).astype(np.float32)


def _softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


@dataclass
class SSDPostprocess:
    """Raw SSD outputs -> detections: the ``postprocess=`` of a :class:`~saliencykit.detection.DetectionExplainer`.

    Args:
        anchors: (A, 4) ``[x_centre, y_centre, w, h]`` from :func:`ssd_anchors`.
        box_scale: divides the regressors (:func:`decode_boxes`).
        box_output, class_output: index (or tensor name) of the regressor and class-logit outputs.
        score_threshold: detections below this confidence are dropped.
        iou_threshold: NMS overlap threshold.
        activation: ``"sigmoid"`` (independent classes, BlazeFace) or ``"softmax"`` over the classes.
        background: with softmax, the index of a background class to ignore (``None``: none).
        score_clip: logits are clipped to ``[-score_clip, score_clip]`` first (MediaPipe clips at 100).
        weighted_nms: MediaPipe's weighted NMS instead of plain greedy NMS.
        max_detections: at most this many boxes per image.
        label_names: class names (``("face",)`` for BlazeFace).

    Calling it on the model's outputs (a list in model output order, or a name -> array mapping) returns one
    :class:`~saliencykit.detection.Detections` per image; :meth:`dense` returns every anchor's box and scores
    before thresholding, which black-box methods use for smoother similarities.
    """

    anchors: np.ndarray
    box_scale: float | tuple[float, float, float, float]
    box_output: int | str = 0
    class_output: int | str = 1
    score_threshold: float = 0.5
    iou_threshold: float = 0.3
    activation: str = "sigmoid"
    background: int | None = None
    score_clip: float | None = 100.0
    weighted_nms: bool = True
    max_detections: int = 100
    label_names: tuple[str, ...] | None = None
    num_classes: int | None = field(default=None)

    def __post_init__(self) -> None:
        if self.activation not in ("sigmoid", "softmax"):
            raise PreprocessError(f"SSDPostprocess activation='{self.activation}': use 'sigmoid' or 'softmax'.")
        self.anchors = np.asarray(self.anchors, np.float32).reshape(-1, 4)
        if self.num_classes is None and self.label_names is not None:
            self.num_classes = len(self.label_names)

    def _pick(self, outputs: Sequence[np.ndarray] | Mapping[str, np.ndarray], which: int | str) -> np.ndarray:
        if isinstance(outputs, Mapping):
            if isinstance(which, str):
                return np.asarray(outputs[which])
            return np.asarray(list(outputs.values())[which])
        if isinstance(which, str):
            raise PreprocessError(
                f"SSDPostprocess: output '{which}' is named but the outputs came as a list; give its index."
            )
        return np.asarray(outputs[which])

    def dense(self, outputs: Sequence[np.ndarray] | Mapping[str, np.ndarray]) -> DetectionBatch:
        """Every anchor's decoded box, confidence, class and class probabilities: (N, A, ...)."""
        raw_boxes = self._pick(outputs, self.box_output)
        logits = self._pick(outputs, self.class_output).astype(np.float32)
        n, a = raw_boxes.shape[0], self.anchors.shape[0]
        if raw_boxes.reshape(n, -1).shape[1] % a or logits.reshape(n, -1).shape[1] % a:
            raise PreprocessError(
                f"SSDPostprocess: {a} anchors but outputs of shapes {raw_boxes.shape} and {logits.shape}; check "
                "the anchor options and box_output / class_output."
            )
        raw_boxes = raw_boxes.reshape(n, a, -1)
        logits = logits.reshape(n, a, -1)
        if self.score_clip is not None:
            logits = np.clip(logits, -self.score_clip, self.score_clip)
        probs = _sigmoid(logits) if self.activation == "sigmoid" else _softmax(logits)
        ranked = probs.copy()
        if self.background is not None:
            ranked[..., self.background] = 0.0
        classes = ranked.argmax(-1)
        scores = np.take_along_axis(ranked, classes[..., None], -1)[..., 0]
        boxes = decode_boxes(raw_boxes, self.anchors, self.box_scale)
        return DetectionBatch(boxes, scores, classes, probs)

    def __call__(self, outputs: Sequence[np.ndarray] | Mapping[str, np.ndarray]) -> list[Detections]:
        """Thresholded, non-maximum-suppressed detections per image (by decreasing score)."""
        batch = self.dense(outputs)
        result = []
        for i in range(len(batch)):
            above = np.nonzero(batch.scores[i] >= self.score_threshold)[0]
            final: list[tuple[np.ndarray, int]] = []
            for c in np.unique(batch.classes[i, above]):  # NMS per class
                idx = above[batch.classes[i, above] == c]
                keep, boxes = non_max_suppression(
                    batch.boxes[i, idx],
                    batch.scores[i, idx],
                    self.iou_threshold,
                    self.max_detections,
                    self.weighted_nms,
                )
                final.extend((boxes[j], idx[k]) for j, k in enumerate(keep))
            probs = batch.probs
            if not final:
                result.append(Detections.empty(probs.shape[-1] if probs is not None else None))
                continue
            boxes = np.stack([b for b, _ in final])
            idx = np.array([k for _, k in final])
            kept = probs[i, idx] if probs is not None else None
            dets = Detections(boxes, batch.scores[i, idx], batch.classes[i, idx], kept).sorted()
            if len(dets) > self.max_detections:
                n = self.max_detections
                top_probs = dets.probs[:n] if dets.probs is not None else None
                dets = Detections(dets.boxes[:n], dets.scores[:n], dets.classes[:n], top_probs)
            result.append(dets)
        return result


# ------------------------------------------------------------------------------------------ MediaPipe models

#: MediaPipe models of the ``mediapipe==0.10.14`` wheel by short name, relative to its package folder
MEDIAPIPE_MODELS = {
    "blazeface": "modules/face_detection/face_detection_short_range.tflite",
    "palm": "modules/palm_detection/palm_detection_lite.tflite",
    "face_full_range_sparse": "modules/face_detection/face_detection_full_range_sparse.tflite",
    "pose_detection": "modules/pose_detection/pose_detection.tflite",
    "pose_landmark_full": "modules/pose_landmark/pose_landmark_full.tflite",
}


def mediapipe_model_path(name: str = "blazeface") -> Path:
    """Path of a MediaPipe TFLite model (``"blazeface"``, ``"palm"``, another key of :data:`MEDIAPIPE_MODELS`, or
    a path relative to the package folder), read out of the ``mediapipe==0.10.14`` wheel into the cache.

    mediapipe is never installed nor imported (:mod:`saliencykit.detection.mediapipe_files`). Raises
    :class:`~saliencykit.errors.ModelLoadError` saying how to get the wheel when it is missing.
    """
    from .mediapipe_files import mediapipe_file  # lazily: `python -m saliencykit.detection.mediapipe_files` runs it

    return mediapipe_file(MEDIAPIPE_MODELS.get(name, name))


def blazeface(score_threshold: float = 0.5, iou_threshold: float = 0.3) -> SSDPostprocess:
    """Postprocess of MediaPipe's short-range BlazeFace (``face_detection_short_range.tflite``).

    Input 128 x 128 RGB scaled to [-1, 1] (``sk.Preprocess(size=128, mean=127.5, std=127.5, layout="NHWC")``);
    outputs ``regressors`` (1, 896, 16: box + 6 keypoints) and ``classificators`` (1, 896, 1: face logit);
    anchors, scales and thresholds as in MediaPipe's ``face_detection_short_range.pbtxt``.
    """
    return _mediapipe_detector(128, "face", score_threshold, iou_threshold)


def palm_detection(score_threshold: float = 0.5, iou_threshold: float = 0.3) -> SSDPostprocess:
    """Postprocess of MediaPipe's palm detector (``palm_detection_lite.tflite``).

    Input 192 x 192 RGB scaled to [0, 1] (``sk.Preprocess(size=192, mean=0, std=255, layout="NHWC")``); outputs
    (1, 2016, 18: box + 7 keypoints) and (1, 2016, 1: palm logit) over 24 x 24 x 2 + 12 x 12 x 6 anchors.
    """
    return _mediapipe_detector(192, "palm", score_threshold, iou_threshold)


def _mediapipe_detector(side: int, label: str, score_threshold: float, iou_threshold: float) -> SSDPostprocess:
    """A MediaPipe single-class SSD on a ``side`` x ``side`` input: boxes are output 0, logits output 1."""
    options = AnchorOptions(input_size=(side, side), strides=(8, 16, 16, 16))
    return SSDPostprocess(
        anchors=ssd_anchors(options),
        box_scale=float(side),
        box_output=0,
        class_output=1,
        score_threshold=score_threshold,
        iou_threshold=iou_threshold,
        label_names=(label,),
    )


#: preprocessing of each preset (what the model was trained on)
PRESET_PREPROCESS = {
    "blazeface": {"size": 128, "mean": 127.5, "std": 127.5, "layout": "NHWC"},
    "palm": {"size": 192, "mean": 0.0, "std": 255.0, "layout": "NHWC"},
}

PRESETS = {"blazeface": blazeface, "palm": palm_detection}
