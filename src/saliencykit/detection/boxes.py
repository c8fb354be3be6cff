"""Detections as arrays, and the box arithmetic every detection method shares (IoU, scaling).

Coordinates convention: a detector's postprocess returns boxes ``[x0, y0, x1, y1]`` *normalised* to [0, 1] of the
image the model saw (x to the right, y down). For a plain resize (``sk.Preprocess(size=...)``) these are also the
normalised coordinates of the original photo, and IoU does not change under that scaling, so methods compare boxes
in normalised units and only the explanation converts them to pixels of the photo.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import MethodError


@dataclass
class Detections:
    """The final detections of one image (after score threshold and non-maximum suppression).

    Attributes:
        boxes: (M, 4) float32 ``[x0, y0, x1, y1]`` normalised to [0, 1] (see the module docstring).
        scores: (M,) float32 confidence of each box.
        classes: (M,) int64 class index of each box.
        probs: optional (M, K) float32 per-class probabilities (D-RISE compares these class vectors).
    """

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    probs: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        self.scores = np.asarray(self.scores, np.float32).reshape(-1)
        self.classes = np.asarray(self.classes, np.int64).reshape(-1)
        if self.probs is not None:
            probs = np.asarray(self.probs, np.float32)
            k = probs.shape[-1] if probs.ndim == 2 else (probs.size // max(len(self.boxes), 1))
            self.probs = probs.reshape(len(self.boxes), k)
        if not len(self.boxes) == len(self.scores) == len(self.classes):
            raise MethodError(
                f"detections: {len(self.boxes)} boxes, {len(self.scores)} scores and {len(self.classes)} classes; "
                "a postprocess must return as many of each."
            )

    def __len__(self) -> int:
        return len(self.boxes)

    def sorted(self) -> Detections:
        """The same detections by decreasing score (stable): index 0 is the most confident box."""
        order = np.argsort(-self.scores, kind="stable")
        probs = self.probs[order] if self.probs is not None else None
        return Detections(self.boxes[order], self.scores[order], self.classes[order], probs)

    @classmethod
    def empty(cls, num_classes: int | None = None) -> Detections:
        """No detections."""
        probs = np.zeros((0, num_classes), np.float32) if num_classes else None
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), probs)

    @classmethod
    def coerce(cls, value: Detections | Sequence | Mapping[str, Any]) -> Detections:
        """A :class:`Detections` from itself or a ``(boxes, scores, classes[, probs])`` tuple."""
        if isinstance(value, Detections):
            return value
        if isinstance(value, dict):
            return cls(value["boxes"], value["scores"], value["classes"], value.get("probs"))
        try:
            parts = list(value)
        except TypeError:
            parts = []
        if len(parts) not in (3, 4):
            raise MethodError(
                f"a detection postprocess returned {type(value).__name__}; return Detections or a tuple "
                "(boxes (M, 4), scores (M,), classes (M,)) per image."
            )
        return cls(*parts)


@dataclass
class DetectionBatch:
    """Candidate detections of N images as padded arrays, for vectorised similarity computations.

    Attributes:
        boxes: (N, M, 4) normalised ``[x0, y0, x1, y1]``.
        scores: (N, M) confidence (objectness); padding has score 0.
        classes: (N, M) int64 class indices.
        probs: optional (N, M, K) per-class probabilities.
    """

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    probs: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def stack(cls, detections: Sequence[Detections]) -> DetectionBatch:
        """Pad per-image detections to one batch (images with fewer boxes get zero-score padding)."""
        n = len(detections)
        m = max([len(d) for d in detections] + [1])
        boxes = np.zeros((n, m, 4), np.float32)
        scores = np.zeros((n, m), np.float32)
        classes = np.full((n, m), -1, np.int64)
        have_probs = all(d.probs is not None for d in detections) and n > 0
        k = max((d.probs.shape[1] for d in detections if d.probs is not None), default=0)
        probs = np.zeros((n, m, k), np.float32) if have_probs and k else None
        for i, d in enumerate(detections):
            boxes[i, : len(d)] = d.boxes
            scores[i, : len(d)] = d.scores
            classes[i, : len(d)] = d.classes
            if probs is not None and d.probs is not None:
                probs[i, : len(d), : d.probs.shape[1]] = d.probs
        return cls(boxes, scores, classes, probs)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes ``a`` (..., P, 4) and ``b`` (..., Q, 4) ``[x0, y0, x1, y1]`` -> (..., P, Q).

    Degenerate boxes (zero area) have IoU 0 with everything.

    >>> box_iou(np.array([[0, 0, 2, 2]]), np.array([[1, 1, 3, 3], [0, 0, 2, 2]])).round(3).tolist()
    [[0.143, 1.0]]
    """
    a = np.asarray(a, np.float32)[..., :, None, :]
    b = np.asarray(b, np.float32)[..., None, :, :]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = np.clip(a[..., 2] - a[..., 0], 0, None) * np.clip(a[..., 3] - a[..., 1], 0, None)
    area_b = np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0).astype(np.float32)


def box_similarity(
    batch: DetectionBatch, target_boxes: np.ndarray, target_classes: np.ndarray, use_probs: bool = True
) -> np.ndarray:
    """D-RISE similarity of every target to its best-matching candidate, per image: (N, T).

    ``s(t, j) = IoU(box_t, box_j) * score_j * cos(onehot(class_t), probs_j)`` maximised over candidates ``j``
    (Petsiuk et al. 2021, with the target's objectness 1). Without class probabilities, the cosine is 1 when the
    classes are equal and 0 otherwise.
    """
    iou = box_iou(batch.boxes, np.asarray(target_boxes, np.float32)[None])  # (N, M, T)
    target_classes = np.asarray(target_classes, np.int64)
    if use_probs and batch.probs is not None and batch.probs.shape[-1] > 0:
        k = batch.probs.shape[-1]
        norm = np.linalg.norm(batch.probs, axis=-1, keepdims=True)  # (N, M, 1)
        picked = batch.probs[..., np.clip(target_classes, 0, k - 1)]  # (N, M, T)
        cosine = np.where(norm > 0, picked / np.where(norm > 0, norm, 1), 0)
        cosine = np.where((target_classes >= 0) & (target_classes < k), cosine, 0)
    else:
        cosine = (batch.classes[..., None] == target_classes[None, None, :]).astype(np.float32)
    sim = iou * batch.scores[..., None] * cosine
    return sim.max(axis=1) if sim.shape[1] else np.zeros((len(batch), len(target_classes)), np.float32)


def scale_boxes(boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Normalised boxes (M, 4) to pixels of an image of ``size=(height, width)``.

    >>> scale_boxes(np.array([[0.5, 0.0, 1.0, 0.5]]), (100, 200)).tolist()
    [[100.0, 0.0, 200.0, 50.0]]
    """
    h, w = size
    return (np.asarray(boxes, np.float32).reshape(-1, 4) * np.asarray([w, h, w, h], np.float32)).astype(np.float32)


def normalize_boxes(boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Pixel boxes (M, 4) of an image of ``size=(height, width)`` to normalised [0, 1] coordinates."""
    h, w = size
    return (np.asarray(boxes, np.float32).reshape(-1, 4) / np.asarray([w, h, w, h], np.float32)).astype(np.float32)
