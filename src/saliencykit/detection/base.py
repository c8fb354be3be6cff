"""The protocols detection methods follow, so the DetectionExplainer treats them alike.

A white-box detection method edits the graph once (``insert``): every inference then returns per-class maps beside
the detections. A black-box detection method calls ``detect`` on perturbed copies of the input and compares the
detections there with the target boxes (``explain``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np
import openvino as ov

from .boxes import DetectionBatch

#: detect(float32 N x H x W x 3 RGB pixel batch) -> candidate detections of the N images
Detect = Callable[[np.ndarray], DetectionBatch]


@runtime_checkable
class DetectionWhiteBoxMethod(Protocol):
    """Inserts a ``saliency_map`` output (N, K, h, w): one map per class, shared by that class's boxes."""

    name: str

    def insert(self, model: ov.Model, hints: dict[str, Any] | None = None) -> ov.Model: ...


@runtime_checkable
class DetectionBlackBoxMethod(Protocol):
    """Explains target boxes of one image by calling ``detect`` on perturbed copies; returns (T, H, W) float32.

    ``boxes`` (T, 4) are normalised ``[x0, y0, x1, y1]``, ``classes`` (T,) their class indices.
    """

    name: str

    def explain(
        self,
        detect: Detect,
        pixels: np.ndarray,
        boxes: np.ndarray,
        classes: np.ndarray,
        fill: np.ndarray | float = 0.0,
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray: ...
