"""ADCC: Average Drop, Coherency, Complexity (Poppi et al. 2021, "Revisiting the evaluation of class activation
mapping for explainability").

The map ``s`` (in [0, 1]) masks the image: ``masked = s * image + (1 - s) * base``. Then

- **average drop** ``max(0, y - o) / y``: how much of the target's score ``y`` on the image is lost on the masked
  image (``o``); lower is better;
- **coherency** ``(pearson(s, s') + 1) / 2``: ``s'`` is the map re-computed, with the same method, on the masked
  image; a map that keeps what the model needs should explain itself again; higher is better;
- **complexity** ``mean(|s|)`` (the L1 norm over the number of pixels); lower is better;
- **ADCC** ``3 / (1 / coherency + 1 / (1 - complexity) + 1 / (1 - average drop))``, the harmonic mean of the three
  "good" directions; higher is better.

Protocol (recorded in every result's ``protocol``): the map is bilinearly resized to the model's input size, used as
it is when it lies in [0, 1] and min-max normalised otherwise; scores are the model's postprocessed scores (softmax
for ImageNet classifiers, as in the paper); ``base="mean"`` (default) is the preprocessing mean, i.e. zero after
normalisation — what the reference implementation does, since it multiplies the *normalised* tensor by the map;
the re-explained image is the masked pixel image rounded to uint8 (explainers take RGB uint8 images). When either
map is constant their correlation is undefined and coherency counts as 0 (the reference implementation does the
same for maps with NaNs), which makes ADCC 0. A dataset-level ADCC is the mean of per-image ADCCs (the paper's
tables); :func:`adcc_of_means` gives openvino-xai's variant (ADCC of the mean components).

Differences from openvino-xai 1.1 (``openvino_xai.metrics.ADCC``), on purpose:

- openvino-xai masks the raw pixels (``image * s``: towards black, ``base="black"`` here); we default to the mean,
  like the reference implementation, because black is a strong out-of-distribution signal of its own;
- openvino-xai's dataset ``evaluate`` returns the ADCC of the averaged components; we report the mean of per-image
  ADCCs (and the averaged components beside it).
With ``base="black"``, the same maps and pixels, the two agree to float rounding (``bench/metrics_crosscheck.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import MethodError
from .scoring import (
    ExplainFn,
    JSONResult,
    Scorer,
    SubstrateSpec,
    as_uint8,
    explain_fn,
    make_substrate,
    map_at,
    resolve_target,
    unit_map,
)


@dataclass
class ADCCResult(JSONResult):
    """ADCC and its three components for one map and target."""

    adcc: float
    average_drop: float
    coherency: float
    complexity: float
    target: int
    score_on_image: float
    score_on_masked: float
    protocol: dict[str, Any] = field(default_factory=dict)


def adcc_formula(average_drop: float, coherency: float, complexity: float) -> float:
    """``3 / (1/coherency + 1/(1 - complexity) + 1/(1 - average_drop))``; 0 when any term is at its worst.

    >>> round(adcc_formula(0.0, 1.0, 0.0), 6)
    1.0
    """
    if coherency <= 0.0 or complexity >= 1.0 or average_drop >= 1.0:
        return 0.0
    return float(3.0 / (1.0 / coherency + 1.0 / (1.0 - complexity) + 1.0 / (1.0 - average_drop)))


def adcc_of_means(results: Sequence[ADCCResult]) -> float:
    """openvino-xai's dataset ADCC: the formula applied to the mean average drop, coherency and complexity."""
    if not results:
        return float("nan")
    return adcc_formula(
        float(np.mean([r.average_drop for r in results])),
        float(np.mean([r.coherency for r in results])),
        float(np.mean([r.complexity for r in results])),
    )


def average_drop(score_on_image: float, score_on_masked: float) -> float:
    """``max(0, y - o) / y``: the share of the target's score lost on the masked image.

    >>> average_drop(0.8, 0.6)
    0.25
    """
    if score_on_image <= 0:
        raise MethodError(
            f"average drop needs a positive score on the image (got {score_on_image:g}); use probabilities."
        )
    return float(max(0.0, score_on_image - score_on_masked) / score_on_image)


def coherency(saliency: np.ndarray, saliency_again: np.ndarray) -> float:
    """``(pearson(a, b) + 1) / 2`` of two maps of the same shape; 0 when either is constant.

    >>> coherency(np.array([[0.0, 1.0]]), np.array([[0.2, 0.4]]))
    1.0
    """
    a = np.asarray(saliency, np.float64).ravel()
    b = np.asarray(saliency_again, np.float64).ravel()
    if a.shape != b.shape:
        raise MethodError(f"coherency: maps of different sizes {np.shape(saliency)} and {np.shape(saliency_again)}.")
    a = a - a.mean()
    b = b - b.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    if denom <= 1e-12 * max(1.0, a.size):
        return 0.0
    r = float(np.clip((a * b).sum() / denom, -1.0, 1.0))
    return (r + 1.0) / 2.0


def complexity(saliency: np.ndarray) -> float:
    """The L1 norm of the map divided by its number of pixels.

    >>> complexity(np.array([[0.0, 1.0], [0.5, 0.5]]))
    0.5
    """
    m = np.asarray(saliency, np.float64)
    return float(np.abs(m).sum() / m.size)


def adcc(
    model: Any,
    image: np.ndarray,
    saliency: np.ndarray,
    target: int | None = None,
    explain: ExplainFn | Any = None,
    *,
    base: SubstrateSpec = "mean",
) -> ADCCResult:
    """ADCC of ``saliency`` for ``target`` on ``image``; see the module docstring.

    Args:
        model: an :class:`~saliencykit.Explainer` (then it also re-explains, unless ``explain`` is given), a
            :class:`~saliencykit.pipeline.Pipeline`, or a callable ``predict(pixel_batch) -> probabilities``.
        image: the RGB uint8 image.
        saliency: the map of ``target`` (any resolution).
        target: default the model's top-1 class.
        explain: how to re-explain the masked image for coherency: an Explainer or a callable
            ``(image uint8, target) -> map``. Must be the method that made ``saliency``.
        base: what masked-out pixels become: ``"mean"`` (default), ``"black"``, ``"blur"``, a value or an array.

    >>> adcc(explainer, image, explanation.map(285), 285).adcc  # doctest: +SKIP
    """
    if explain is None:
        if not (hasattr(model, "pipeline") and callable(model)):
            raise MethodError("adcc needs explain= (an Explainer or a callable (image, target) -> map) for coherency.")
        explain = model
    explain = explain_fn(explain)
    scorer = model if isinstance(model, Scorer) else Scorer(model, "probability")
    pixels = scorer.pixels(image)
    h, w = pixels.shape[:2]
    s = unit_map(map_at(saliency, (h, w)))
    base_pixels, base_name = make_substrate(pixels, base, scorer.fill)
    masked = s[..., None] * (pixels - base_pixels) + base_pixels
    scores = scorer.predict(np.stack([pixels, masked]))
    target = resolve_target(target, scores[0])
    y, o = float(scores[0, target]), float(scores[1, target])
    drop = average_drop(y, o)
    again = map_at(explain(as_uint8(masked), target), (h, w), "re-explained map")
    coh = coherency(s, again)
    com = complexity(s)
    protocol = {
        "metric": "adcc",
        "base": base_name,
        "score": scorer.score_name,
        "resolution": [h, w],
        "map_resize": "bilinear",
        "map_scaling": "as is in [0, 1], else min-max",
        "reexplained_input": "masked pixels rounded to uint8",
    }
    return ADCCResult(
        adcc=adcc_formula(drop, coh, com),
        average_drop=drop,
        coherency=coh,
        complexity=com,
        target=target,
        score_on_image=y,
        score_on_masked=o,
        protocol=protocol,
    )
