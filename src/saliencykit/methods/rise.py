"""RISE (Petsiuk et al. 2018): saliency as the score-weighted average of random smooth masks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from .base import Predict


@dataclass
class RISE:
    """Randomised Input Sampling for Explanation.

    Masks are random ``num_cells`` x ``num_cells`` binary grids (cells kept with probability ``prob``), bilinearly
    up-sampled with a random shift. They are generated and consumed ``batch_size`` at a time, so memory stays
    bounded whatever ``num_masks`` is; every target is accumulated from the same masked inferences.
    Masked pixels are blended towards ``fill`` (the preprocessing mean, i.e. zero after normalisation).
    """

    num_masks: int = 1000
    num_cells: int = 8
    prob: float = 0.5
    seed: int = 0
    batch_size: int = 64
    name: str = "rise"

    def masks(self, rng: np.random.Generator, count: int, size: tuple[int, int]) -> np.ndarray:
        """``count`` smooth masks (count, H, W) float32 in [0, 1]."""
        h, w = size
        cell_h, cell_w = -(-h // self.num_cells), -(-w // self.num_cells)
        up_h, up_w = (self.num_cells + 1) * cell_h, (self.num_cells + 1) * cell_w
        grids = (rng.random((count, self.num_cells, self.num_cells)) < self.prob).astype(np.float32)
        shifts_y = rng.integers(0, cell_h, count)
        shifts_x = rng.integers(0, cell_w, count)
        out = np.empty((count, h, w), np.float32)
        for i in range(count):
            up = cv2.resize(grids[i], (up_w, up_h), interpolation=cv2.INTER_LINEAR)
            out[i] = up[shifts_y[i] : shifts_y[i] + h, shifts_x[i] : shifts_x[i] + w]
        return out

    def explain(
        self,
        predict: Predict,
        pixels: np.ndarray,
        targets: list[int],
        fill: np.ndarray | float = 0.0,
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Maps (T, H, W) float32 for ``targets`` of the float32 H x W x 3 ``pixels``."""
        rng = np.random.default_rng(self.seed)
        h, w = pixels.shape[:2]
        fill = np.broadcast_to(np.asarray(fill, np.float32), (3,))
        saliency = np.zeros((len(targets), h * w), np.float64)
        done = 0
        while done < self.num_masks:
            count = min(self.batch_size, self.num_masks - done)
            masks = self.masks(rng, count, (h, w))
            batch = masks[..., None] * (pixels - fill) + fill
            scores = np.asarray(predict(batch), np.float64)[:, targets]
            saliency += scores.T @ masks.reshape(count, -1)
            done += count
            if progress is not None:
                progress(done, self.num_masks)
        saliency /= self.num_masks * self.prob
        return saliency.reshape(len(targets), h, w).astype(np.float32)
