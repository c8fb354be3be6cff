"""Metrics against a target's region, and insertion/deletion through a task's own scorer.

For segmentation targets (and any explanation that carries regions): the pointing game and energy of
:func:`~saliencykit.metrics.pointing_game` against the target region, plus the *top-energy share*: of the
smallest set of pixels that holds ``top`` (20 %) of the map's energy, the fraction that lies inside the region
(1.0: the map's strongest evidence is all in the region). Insertion/deletion for tasks other than classification
scores each perturbed image with the target's own ``score_batch`` (the mean class probability over a region, a
box's D-RISE similarity, a user's scalar), so the curves track the very score the map explains.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import MethodError, TargetError
from .insertion_deletion import InsertionDeletionResult, insertion_deletion_auc
from .pointing_game import pointing_game
from .scoring import JSONResult, check_map


@dataclass
class RegionResult(JSONResult):
    """Pointing game, energy and top-energy share of one map against its target region (``point`` is (x, y))."""

    hit: bool
    energy: float
    top_energy: float
    point: tuple[int, int]
    distance: float
    protocol: dict[str, Any] = field(default_factory=dict)


def top_energy_share(saliency: np.ndarray, region: np.ndarray, top: float = 0.2) -> float:
    """Of the fewest pixels that hold ``top`` of the map's (non-negative) energy, the fraction inside ``region``.

    >>> m = np.zeros((4, 4), np.float32); m[0, 0] = 1; m[3, 3] = 0.1
    >>> top_energy_share(m, np.eye(4, dtype=bool)), top_energy_share(m, ~np.eye(4, dtype=bool))
    (1.0, 0.0)
    """
    if not 0 < top <= 1:
        raise MethodError(f"top={top}: give the share of the energy in (0, 1], e.g. 0.2.")
    m = check_map(saliency).astype(np.float64)
    region = np.asarray(region, bool)
    if region.shape != m.shape:
        raise MethodError(f"region of shape {region.shape} but the map is {m.shape}; resize the map to the region.")
    m = m - m.min() if m.min() < 0 else m
    values = np.sort(m.ravel())[::-1]
    total = values.sum()
    if total <= 0:
        return 0.0
    count = int(np.searchsorted(np.cumsum(values), top * total)) + 1
    chosen = m >= values[min(count, values.size) - 1]
    return float((chosen & region).sum() / chosen.sum())


def region_metrics(explanation: Any, target: int | str, tolerance: float = 15, top: float = 0.2) -> RegionResult:
    """Pointing game, energy and top-energy share of ``target``'s map against its region, at the image's size.

    ``explanation`` carries regions (a segmentation explanation: ``explanation.region(target)``).
    """
    region_of = getattr(explanation, "region", None)
    if region_of is None:
        raise TargetError("region_metrics needs an explanation with regions (task='segmentation').")
    region = region_of(target)
    saliency = explanation.map(target, region.shape)
    game = pointing_game(saliency, mask=region, tolerance=tolerance)
    return RegionResult(
        hit=game.hit,
        energy=game.energy,
        top_energy=top_energy_share(saliency, region, top),
        point=game.point,
        distance=game.distance,
        protocol={**game.protocol, "top_energy": f"share of the fewest pixels holding {top:g} of the energy"},
    )


def target_scorer(explainer: Any, target: Any) -> Callable[[np.ndarray], np.ndarray]:
    """``predict(pixel_batch) -> (N, 1)``: ``target``'s own score (its ``score_batch``) through the explainer's
    task — what insertion/deletion tracks for detection, segmentation and custom scorers."""
    task = explainer.task_object

    def predict(batch: np.ndarray) -> np.ndarray:
        return np.asarray(type(target).score_batch([target], task.perturbed(batch), len(batch)), np.float32)

    return predict


def region_insertion_deletion(
    explainer: Any, image: np.ndarray, explanation: Any, target: int | str, **options: Any
) -> InsertionDeletionResult:
    """Insertion/deletion AUC of a segmentation ``target``'s map, the score being its mean class probability (or
    logit) over its region; ``options`` go to :func:`~saliencykit.metrics.insertion_deletion_auc`."""
    from ..targets import Region

    key = explanation._check(target)
    task = explainer.task_object
    pixels = explainer.pipeline.pixels(image)
    prediction = task.predict(pixels[None], ["image"])[0]
    cls = explanation.classes[key]
    request = "mask" if cls < 0 else Region(explanation.regions[key], cls)
    region_target = task.targets([request], prediction, image.shape[:2])[0]
    return insertion_deletion_auc(target_scorer(explainer, region_target), pixels, explanation.map(key), 0, **options)
