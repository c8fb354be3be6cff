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


#: score(masks (N, H, W) in [0, 1]) -> scores (N, num_classes) of the image blended towards a base by each mask
BlendScorer = Callable[[np.ndarray], np.ndarray]


def blend_scorer(predict: Predict, pixels: np.ndarray, base: np.ndarray | float) -> BlendScorer:
    """How a black-box method scores ``base + mask * (pixels - base)`` for a batch of masks.

    ``base`` is a fill colour (3,) or an image like ``pixels`` (e.g. a blurred copy). When ``predict`` offers
    ``predict.blend_scorer(pixels, base)`` (the Explainer's does, for OpenVINO models with declarative
    preprocessing) the blend runs inside the compiled graph; otherwise it is built here, on the host, and passed to
    ``predict`` — the path for plain callables and opaque preprocessing.
    """
    make = getattr(predict, "blend_scorer", None)
    scorer = make(pixels, base) if make is not None else None
    if scorer is not None:
        return scorer
    pixels = np.asarray(pixels, np.float32)
    base = np.broadcast_to(np.asarray(base, np.float32), pixels.shape)
    delta = pixels - base

    def score(masks: np.ndarray) -> np.ndarray:
        batch = np.asarray(masks, np.float32)[..., None] * delta
        batch += base
        return predict(batch)

    return score
