"""The two method protocols every explanation method follows, so the Explainer treats them alike.

A white-box method edits the graph once (``insert``) and then every inference returns maps; a black-box
method calls a ``predict`` function on perturbed copies of the input (``explain``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np
import openvino as ov

SALIENCY_OUTPUT = "saliency_map"

#: predict(batch of float32 N x H x W x 3 RGB pixel arrays) -> scores (N, num_classes)
Predict = Callable[[np.ndarray], np.ndarray]


@runtime_checkable
class WhiteBoxMethod(Protocol):
    """Inserts a ``saliency_map`` output (N, T, h, w) into the graph; T is num_classes, or 1 if class-agnostic."""

    name: str
    class_agnostic: bool

    def insert(self, model: ov.Model, postprocess: str = "softmax") -> ov.Model: ...


@runtime_checkable
class BlackBoxMethod(Protocol):
    """Explains one image by calling ``predict`` on perturbed copies; returns maps (T, H, W) float32."""

    name: str

    def explain(
        self,
        predict: Predict,
        pixels: np.ndarray,
        targets: list[int],
        fill: np.ndarray | float = 0.0,
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray: ...
