"""Insertion and deletion AUC (Petsiuk et al. 2018, "RISE").

Pixels are ranked by saliency (most salient first). *Deletion* replaces the top-ranked pixels of the image with a
substrate in ``steps`` equal increments and records the target's score; *insertion* starts from the substrate and
puts the image's pixels back in the same order. A faithful map makes the score rise early on insertion (high AUC)
and fall early on deletion (low AUC). ``insertion - deletion`` (the "difference", also called delta) summarises
both.

Protocol (recorded in every result's ``protocol``):

- the curve is sampled at ``steps + 1`` points, after ``floor(i * N / steps)`` pixels for ``i = 0..steps``
  (``N`` pixels at the model's input size), and the area is the trapezoid rule over the x-axis [0, 1];
- the map is bilinearly resized to the model's input size; ties in the ranking are broken by position (stable);
- scores are the model's postprocessed scores (``score="probability"``: softmax for ImageNet classifiers) or its
  raw ``"logit"`` outputs (logit AUCs are not bounded to [0, 1]);
- every step of an image goes to the model in one batch (the full image and the full substrate are shared by both
  curves, so ``2 * steps`` inferences per image).

Differences from openvino-xai 1.1 (``openvino_xai.metrics.InsertionDeletionAUC``), on purpose:

- openvino-xai always uses a black substrate (pixel value 0 before preprocessing) for both curves. Ours defaults to
  a Gaussian blur of the image for both (Petsiuk's insertion substrate: a black or mean image makes the first
  insertion steps out-of-distribution, so insertion then mostly measures how fast the model recovers from an
  artificial picture); ``substrate="black"`` reproduces openvino-xai, and ``substrate="blur",
  deletion_substrate="mean"`` follows Petsiuk et al.'s pair of substrates (their 11-tap, sigma-5 kernel is built
  slightly differently and zero-pads the border; their reference code also uses 224 pixels per step, i.e.
  ``steps=224`` at 224 x 224);
- openvino-xai runs ``2 * (steps + 1)`` single-image inferences; we run ``2 * steps`` images as one batch.
  With the same substrate, map and pixels the two agree to float rounding (``bench/metrics_crosscheck.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import MethodError
from .scoring import Scorer, SubstrateSpec, make_substrate, map_at, resolve_target, to_builtin


@dataclass
class InsertionDeletionResult:
    """Insertion and deletion AUCs of one map for one target, with both curves and the protocol."""

    insertion: float
    deletion: float
    target: int
    insertion_curve: np.ndarray = field(repr=False)
    deletion_curve: np.ndarray = field(repr=False)
    protocol: dict[str, Any] = field(default_factory=dict)

    @property
    def difference(self) -> float:
        """``insertion - deletion``: higher is better."""
        return self.insertion - self.deletion

    def to_dict(self, curves: bool = True) -> dict[str, Any]:
        """Plain JSON-able values (curves included unless ``curves=False``)."""
        out: dict[str, Any] = {
            "insertion": self.insertion,
            "deletion": self.deletion,
            "difference": self.difference,
            "target": self.target,
            "protocol": self.protocol,
        }
        if curves:
            out["insertion_curve"] = self.insertion_curve
            out["deletion_curve"] = self.deletion_curve
        return to_builtin(out)


def auc(curve: np.ndarray) -> float:
    """Trapezoidal area under a curve sampled at evenly spaced points of [0, 1].

    >>> auc(np.array([0.0, 1.0, 1.0]))
    0.75
    """
    y = np.asarray(curve, np.float64)
    if y.size < 2:
        raise MethodError("auc: a curve needs at least two points.")
    return float((y.sum() - 0.5 * (y[0] + y[-1])) / (y.size - 1))


def pixel_counts(num_pixels: int, steps: int) -> np.ndarray:
    """How many pixels are inserted/deleted at each of the ``steps + 1`` points: ``floor(i * N / steps)``."""
    return (np.arange(steps + 1, dtype=np.int64) * num_pixels) // steps


def insertion_deletion_auc(
    model: Any,
    image: np.ndarray,
    saliency: np.ndarray,
    target: int | None = None,
    *,
    steps: int = 30,
    substrate: SubstrateSpec = "blur",
    deletion_substrate: SubstrateSpec | None = None,
    score: str = "probability",
    blur_sigma: float = 5.0,
    blur_kernel: int = 11,
    batch_size: int = 128,
) -> InsertionDeletionResult:
    """Insertion and deletion AUC of ``saliency`` for ``target`` on ``image``; see the module docstring.

    Args:
        model: an :class:`~saliencykit.Explainer`, a :class:`~saliencykit.pipeline.Pipeline`, or a callable
            ``predict(pixel_batch) -> scores`` (then ``image`` is used at its own size).
        image: the RGB uint8 image (any size: it is resized like the model's input).
        saliency: a 2-D map for ``target``, any resolution (it is resized to the model's input size).
        target: the class whose score is tracked; default the model's top-1 class on ``image``.
        steps: number of increments; the curves have ``steps + 1`` points.
        substrate: what removed pixels become: ``"blur"``, ``"mean"``, ``"black"``, a pixel value, an RGB triple
            or an array (see :func:`saliencykit.metrics.make_substrate`).
        deletion_substrate: a different substrate for deletion (default: the same).
        score: ``"probability"`` (the model's postprocessing, e.g. softmax) or ``"logit"``.
        batch_size: at most this many perturbed images are built and sent to the model at once (memory bound);
            the default keeps all steps of an image in one batch up to ``steps=64``.

    >>> r = insertion_deletion_auc(explainer, image, explanation.map(285), 285)  # doctest: +SKIP
    >>> r.insertion, r.deletion, r.difference  # doctest: +SKIP
    """
    if int(steps) < 1:
        raise MethodError(f"steps={steps}: use at least 1.")
    steps = int(steps)
    scorer = model if isinstance(model, Scorer) else Scorer(model, score)
    pixels = scorer.pixels(image)
    h, w = pixels.shape[:2]
    m = map_at(saliency, (h, w))
    insert_from, insert_name = make_substrate(pixels, substrate, scorer.fill, blur_sigma, blur_kernel)
    if deletion_substrate is None:
        delete_to, delete_name = insert_from, insert_name
    else:
        delete_to, delete_name = make_substrate(pixels, deletion_substrate, scorer.fill, blur_sigma, blur_kernel)
    n = h * w
    order = np.argsort(-m.ravel(), kind="stable")  # most salient first; ties keep raster order
    counts = pixel_counts(n, steps)
    shared = deletion_substrate is None
    # Images to score: insertion i = 0..steps, then deletion i = 1..steps-1, plus deletion's end point when its
    # substrate differs (insertion's end point is the image itself, deletion's start point).
    jobs: list[tuple[str, int]] = [("ins", i) for i in range(steps + 1)]
    jobs += [("del", i) for i in range(1, steps)]
    if not shared:
        jobs.append(("del", steps))
    sources = {"ins": (insert_from, pixels), "del": (pixels, delete_to)}  # (start image, pixels that go in)
    last: dict[str, tuple[int, np.ndarray]] = {}

    def build(kind: str, i: int, image: np.ndarray) -> None:
        # each image is the previous one of its curve plus the pixels ranked between the two counts
        start, fill = sources[kind]
        prev_i, prev = last.get(kind, (0, start))
        if prev_i > i:
            prev_i, prev = 0, start
        np.copyto(image, prev)
        moved = order[counts[prev_i] : counts[i]]
        image.reshape(n, 3)[moved] = fill.reshape(n, 3)[moved]
        last[kind] = (i, image)

    def make(begin: int, stop: int) -> np.ndarray:
        out = np.empty((stop - begin, h, w, 3), np.float32)
        for k, (kind, i) in enumerate(jobs[begin:stop]):
            build(kind, i, out[k])
        return out

    scores = scorer.predict_chunked(make, len(jobs), chunk=max(1, int(batch_size)))
    target = resolve_target(target, scores[steps])
    s = scores[:, target].astype(np.float64)
    insertion_curve = s[: steps + 1]
    deletion_curve = np.concatenate([[s[steps]], s[steps + 1 : 2 * steps], [s[0] if shared else s[-1]]])
    protocol = {
        "metric": "insertion-deletion",
        "steps": steps,
        "points": steps + 1,
        "pixel_counts": "floor(i * N / steps)",
        "substrate": insert_name,
        "deletion_substrate": delete_name,
        "score": scorer.score_name,
        "resolution": [h, w],
        "map_resize": "bilinear",
        "auc": "trapezoid over [0, 1]",
    }
    return InsertionDeletionResult(
        insertion=auc(insertion_curve),
        deletion=auc(deletion_curve),
        target=target,
        insertion_curve=insertion_curve,
        deletion_curve=deletion_curve,
        protocol=protocol,
    )
