"""The two method protocols every explanation method follows, for every task, so the Explainer treats them alike.

A white-box method edits the graph once (``insert``) and then every inference returns maps; a black-box
method calls a ``predict`` function on perturbed copies of the input (``explain``) and asks its targets what they
score there (``type(target).score_batch``: a class's probability, a box's D-RISE similarity; see
:mod:`saliencykit.tasks`). A method may declare ``tasks`` (a class attribute): the tasks whose models it explains.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import openvino as ov

SALIENCY_OUTPUT = "saliency_map"

#: what hidden pixels become: a colour (3,), a scalar, or an image like the pixels
Fill = np.ndarray | float
#: progress(done, total) as a method advances, or None
Progress = Callable[[int, int], None] | None
#: predict(batch of float32 N x H x W x 3 RGB pixel arrays) -> model outputs the targets score (class scores (N, C))
Predict = Callable[[np.ndarray], Any]


@runtime_checkable
class WhiteBoxMethod(Protocol):
    """Inserts a ``saliency_map`` output (N, K, h, w): K maps per image, one per class (1 if ``class_agnostic``).

    ``insert(model, argument)``: the argument is the task's (:meth:`saliencykit.tasks.base.Task.insert_argument`):
    the postprocess name for classification, the detection head's hints for detection.
    """

    name: str

    def insert(self, model: ov.Model, postprocess: Any = "softmax") -> ov.Model: ...


@runtime_checkable
class BlackBoxMethod(Protocol):
    """Explains one image by calling ``predict`` on perturbed copies; returns maps (T, H, W) float32.

    ``targets`` are class indices or target objects whose class has ``score_batch(targets, outputs, count)``.
    """

    name: str

    def explain(
        self, predict: Predict, pixels: np.ndarray, targets: Sequence[Any], fill: Fill = 0.0, progress: Progress = None
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


class AcceptsBoxes:
    """For detection configurations of black-box methods (:class:`~saliencykit.methods.rise.DRISE`,
    :class:`~saliencykit.methods.aise.AISEDetection`): targets may also be given the older way,
    ``explain(detect, pixels, boxes (T, 4) normalised, classes (T,))``; ``use_probs`` reaches the box targets."""

    use_probs: bool = True

    def explain(
        self,
        predict: Predict,
        pixels: np.ndarray,
        targets: Any,
        classes: Any = None,
        fill: Fill = 0.0,
        progress: Progress = None,
    ) -> np.ndarray:
        """Maps (T, H, W) for box targets, or for ``boxes`` and their ``classes``."""
        from ..tasks.detection import box_targets

        targets = box_targets(targets, classes, self.use_probs)
        return super().explain(predict, pixels, targets, fill, progress)  # type: ignore[misc]
