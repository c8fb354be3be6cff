"""D-RISE (Petsiuk et al. 2021, "Black-box explanation of object detectors via saliency maps"), batched.

D-RISE explains one box of a detector the way RISE explains a class: it masks the image with random smooth masks
``M_i``, runs the detector on every masked image and weighs each mask by how well the target box survives it:

``w_i = max_j  IoU(box_t, box_ij) * objectness_ij * cos(class_t, probs_ij)``

over the detections ``j`` of masked image ``i`` (the target's own objectness is 1 and its class vector one-hot).
The map is ``sum_i w_i M_i`` — here with the mean weight subtracted first (``estimator="centered"``, a control
variate that removes the imprint of uneven mask coverage; ``"mean"`` is the paper's plain weighted mean).

Every target box of an image is scored from the same masked inferences, which go to the detector in large batches
(the pipeline splits them over an asynchronous inference queue). Masks come from
:class:`saliencykit.methods.sampling.MaskSampler` (the same designs as RISE), seeded.

With a postprocess that can decode every anchor (:meth:`SSDPostprocess.dense`), the candidates ``j`` are all anchors
before score threshold and NMS: a box that fades under a mask still counts with its lowered score instead of
vanishing below the threshold, which gives smoother weights from fewer masks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..detection.base import Detect
from ..detection.boxes import box_similarity
from ..errors import MethodError
from .rise import _Accumulator
from .sampling import DESIGNS, MaskSampler

#: preset -> (num_masks, num_cells); the paper used 5000 masks on a 16 x 16 grid
PRESETS: dict[str, tuple[int, int]] = {"speed": (500, 16), "balance": (2000, 16), "quality": (5000, 16)}
ESTIMATORS = ("mean", "centered")
_MIN_DRAW = 32


@dataclass
class DRISE:
    """D-RISE for detectors: per-box saliency from randomly masked images (see the module docstring).

    Args:
        num_masks: masked images per image (model calls); default from ``preset``.
        num_cells: grid cells per side of the masks; default from ``preset`` (16, as the paper).
        prob: probability that a cell is kept (0.5, as the paper).
        seed: seeds every random choice; the same seed gives the same map.
        preset: ``"speed"`` (500 masks), ``"balance"`` (2000) or ``"quality"`` (5000, the paper's).
        sampler: ``"random"``, ``"sobol"`` or ``"orthogonal"`` mask designs (:mod:`saliencykit.methods.sampling`).
        antithetic: follow every mask by its complement.
        estimator: ``"centered"`` (default) or ``"mean"`` (the paper's).
        use_probs: compare class-probability vectors (cosine) when the postprocess gives them; else class equality.
        batch_size: masked images per call to ``detect`` (the explainer's runner splits them further into
            asynchronous requests); memory grows with it: ``batch_size x H x W x 3`` float32 pixels.

    >>> DRISE(preset="speed").settings()["num_masks"]
    500
    """

    num_masks: int | None = None
    num_cells: int | None = None
    prob: float = 0.5
    seed: int = 0
    preset: str = "balance"
    sampler: str = "random"
    antithetic: bool = False
    estimator: str = "centered"
    use_probs: bool = True
    batch_size: int = 64
    name: str = "drise"

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise MethodError(f"D-RISE preset='{self.preset}': use one of {', '.join(PRESETS)}.")
        if self.sampler not in DESIGNS:
            raise MethodError(f"D-RISE sampler='{self.sampler}': use one of {', '.join(DESIGNS)}.")
        if self.estimator not in ESTIMATORS:
            raise MethodError(f"D-RISE estimator='{self.estimator}': use one of {', '.join(ESTIMATORS)}.")
        if not 0.0 < float(self.prob) < 1.0:
            raise MethodError(f"D-RISE prob={self.prob}: a cell must be kept with a probability strictly in (0, 1).")
        masks, cells = self._sizes()
        if masks < 1 or cells < 1 or int(self.batch_size) < 1:
            raise MethodError(
                f"D-RISE num_masks={masks}, num_cells={cells}, batch_size={self.batch_size}: all must be >= 1."
            )

    def _sizes(self) -> tuple[int, int]:
        masks, cells = PRESETS[self.preset]
        return (
            int(self.num_masks) if self.num_masks is not None else masks,
            int(self.num_cells) if self.num_cells is not None else cells,
        )

    def settings(self) -> dict[str, Any]:
        """The effective parameters (presets resolved)."""
        masks, cells = self._sizes()
        return {
            "method": self.name,
            "num_masks": masks,
            "num_cells": cells,
            "prob": float(self.prob),
            "seed": self.seed,
            "sampler": self.sampler,
            "antithetic": self.antithetic,
            "estimator": self.estimator,
        }

    def explain(
        self,
        detect: Detect,
        pixels: np.ndarray,
        boxes: np.ndarray,
        classes: np.ndarray,
        fill: np.ndarray | float = 0.0,
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Maps (T, H, W) float32 for the target ``boxes`` (T, 4, normalised) of classes ``classes`` (T,).

        A box whose similarity never changes under the masks gets a constant (all-zero) map; non-finite detector
        outputs give a NaN map (the explainer reports both).
        """
        total, cells = self._sizes()
        h, w = pixels.shape[:2]
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        classes = np.asarray(classes, np.int64).reshape(-1)
        t = len(boxes)
        fill = np.broadcast_to(np.asarray(fill, np.float32), (3,))
        delta = np.asarray(pixels, np.float32) - fill
        sampler = MaskSampler(
            (h, w), cells, float(self.prob), self.sampler, self.antithetic, np.random.default_rng(self.seed)
        )
        acc = _Accumulator(t, h * w, self.estimator)
        done = 0
        buffer: np.ndarray | None = None
        # masks are drawn in blocks of at least _MIN_DRAW (drawing one mask at a time is slow), scored per batch
        block = max(int(self.batch_size), _MIN_DRAW)
        while done < total:
            drawn = sampler.draw(min(block, total - done))
            for start in range(0, len(drawn), int(self.batch_size)):
                masks = drawn[start : start + int(self.batch_size)]
                count = len(masks)
                if buffer is None or len(buffer) != count:
                    buffer = np.empty((count, *delta.shape), np.float32)
                batch = np.multiply(masks[..., None], delta, out=buffer)  # reused: no allocation per batch
                np.add(batch, fill, out=batch)
                found = detect(batch)
                if len(found) != count:
                    raise MethodError(f"detect returned {len(found)} results for a batch of {count} images.")
                weights = box_similarity(found, boxes, classes, self.use_probs).astype(np.float32)  # (count, T)
                acc.add(weights.astype(np.float64), masks.reshape(count, -1))
                done += count
                if progress is not None:
                    progress(done, total)
        maps = acc.result(float(self.prob))
        for k in range(t):
            if not np.isfinite(acc.sum_f[k]):  # the detector gave NaN / inf: let the caller see it
                maps[k] = np.nan
            elif not acc.f_max[k] - acc.f_min[k] > 1e-9:  # the box never changed: no information, a constant map
                maps[k] = 0.0
        return maps.reshape(t, h, w).astype(np.float32)
