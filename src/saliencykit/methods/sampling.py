"""Random mask designs for RISE-style black-box methods, generated in chunks and up-sampled without Python loops.

A *design* decides which cells of a coarse ``num_cells`` x ``num_cells`` grid a mask keeps. The grid is then
up-sampled to the image with a random sub-cell shift, as in RISE (Petsiuk et al. 2018): bilinearly, or bicubically
and clipped like openvino-xai, as two batched matrix products that equal ``cv2.resize``. Designs:

- ``"random"``: every cell kept independently with probability ``prob`` (RISE as published, openvino-xai's);
- ``"sobol"``: cells from a scrambled Sobol' sequence thresholded at ``prob`` (quasi-random: every cell is kept in
  a share of the masks closer to ``prob`` than chance, and pairs of cells are balanced in the first dimensions);
- ``"orthogonal"``: rows of a randomised Hadamard matrix, in blocks of ``K`` (the power of two above the number of
  cells): in every block each cell is kept in exactly half of the masks and every pair of cells is kept
  together in exactly a quarter of them, so a cell's estimated effect carries no cross-talk from the other
  cells' (linear) effects. Needs ``prob=0.5``.

``antithetic=True`` follows every mask by its complement ``1 - mask`` (same shift): together they cover every pixel
exactly once, and with the orthogonal design they form a *fold-over* design, in which the cells' main effects are
not confounded with two-cell interactions either. (On the demo photos the orthogonal design alone did as well:
the centered estimator of :class:`~saliencykit.methods.RISE` already removes the coverage noise pairs cancel.)

Everything is seeded through a :class:`numpy.random.Generator`; the same seed gives the same masks in the same
order, whatever the chunk size.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np

DESIGNS = ("random", "sobol", "orthogonal")


INTERPOLATIONS = ("linear", "cubic")


def interpolation_matrix(cells: int, length: int, kind: str = "linear") -> np.ndarray:
    """The (length, cells) matrix of weights that up-samples ``cells`` values to ``length`` samples.

    Same conventions as ``cv2.resize`` with ``INTER_LINEAR`` or ``INTER_CUBIC`` (half-pixel centres, edge values
    repeated, Keys' cubic with a = -0.75), so ``R @ grid @ R.T`` equals OpenCV's resize of ``grid``.

    >>> interpolation_matrix(2, 4).round(2).tolist()
    [[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 1.0]]
    """
    x = (np.arange(length, dtype=np.float64) + 0.5) * (cells / length) - 0.5
    rows = np.arange(length)
    out = np.zeros((length, cells), np.float64)
    if kind == "linear":
        x = np.clip(x, 0.0, cells - 1)
        lo = np.floor(x).astype(np.int64)
        frac = x - lo
        np.add.at(out, (rows, lo), 1.0 - frac)
        np.add.at(out, (rows, np.minimum(lo + 1, cells - 1)), frac)
    elif kind == "cubic":
        a = -0.75
        lo = np.floor(x).astype(np.int64)
        for offset in (-1, 0, 1, 2):
            d = np.abs(x - lo - offset)
            weight = np.where(
                d <= 1,
                ((a + 2) * d - (a + 3)) * d * d + 1,
                np.where(d < 2, ((a * d - 5 * a) * d + 8 * a) * d - 4 * a, 0.0),
            )
            np.add.at(out, (rows, np.clip(lo + offset, 0, cells - 1)), weight)
    else:
        raise ValueError(f"interpolation '{kind}': use one of {', '.join(INTERPOLATIONS)}.")
    return out.astype(np.float32)


def _sylvester(order: int) -> np.ndarray:
    h = np.ones((1, 1), np.int8)
    while h.shape[0] < order:
        h = np.block([[h, h], [h, -h]])
    return h


class MaskSampler:
    """Draws RISE masks chunk by chunk: smooth float32 masks (n, H, W) in [0, 1].

    Args:
        size: (height, width) of the masks.
        num_cells: cells per side of the coarse grid.
        prob: probability that a cell is kept.
        design: ``"random"``, ``"sobol"`` or ``"orthogonal"`` (see the module docstring).
        antithetic: follow each mask by its complement.
        rng: the seeded generator every random choice comes from.
        interpolation: ``"linear"`` (RISE's) or ``"cubic"`` (openvino-xai's; the overshoot is clipped to [0, 1]).

    >>> s = MaskSampler((32, 32), 4, rng=np.random.default_rng(0))
    >>> s.draw(6).shape
    (6, 32, 32)
    """

    def __init__(
        self,
        size: tuple[int, int],
        num_cells: int,
        prob: float = 0.5,
        design: str = "random",
        antithetic: bool = False,
        rng: np.random.Generator | None = None,
        interpolation: str = "linear",
    ) -> None:
        if design not in DESIGNS:
            raise ValueError(f"design='{design}': use one of {', '.join(DESIGNS)}.")
        if design == "orthogonal" and abs(prob - 0.5) > 1e-9:
            raise ValueError(f"design='orthogonal' keeps half of the cells: it needs prob=0.5, not {prob}.")
        self.h, self.w = int(size[0]), int(size[1])
        self.cells = int(num_cells)
        self.prob = float(prob)
        self.design = design
        self.antithetic = bool(antithetic)
        rng = rng if rng is not None else np.random.default_rng()
        # separate streams for grids and shifts: the masks do not depend on how draws are chunked
        self._grid_rng, self._shift_rng = rng.spawn(2)
        self.cell_h = -(-self.h // self.cells)
        self.cell_w = -(-self.w // self.cells)
        # the up-sampled grid spans cells + 1 cells so that any shift below one cell still covers the image
        self._ry = interpolation_matrix(self.cells, (self.cells + 1) * self.cell_h, interpolation)
        self._rx = interpolation_matrix(self.cells, (self.cells + 1) * self.cell_w, interpolation)
        self._grids: Iterator[np.ndarray] = self._grid_stream()
        self._spare: np.ndarray | None = None  # grids drawn but not used yet
        self._pending: np.ndarray | None = None  # complements still owed (antithetic)

    def _grid_stream(self) -> Iterator[np.ndarray]:
        """Endless stream of blocks of binary grids (k, cells * cells) float32."""
        d = self.cells * self.cells
        if self.design == "random":
            while True:
                yield (self._grid_rng.random((256, d)) < self.prob).astype(np.float32)
        elif self.design == "sobol":
            from scipy.stats import qmc

            sobol = qmc.Sobol(d=d, scramble=True, seed=self._grid_rng)
            while True:
                with warnings.catch_warnings():  # never yield inside: it would leak the filter to the caller
                    warnings.simplefilter("ignore", UserWarning)  # "balance needs n = 2^k": we draw 2^8 at a time
                    block = sobol.random(256)
                yield (block < self.prob).astype(np.float32)
        else:
            order = 1 << int(np.ceil(np.log2(d + 1)))
            hadamard = _sylvester(order)
            while True:
                columns = 1 + self._grid_rng.permutation(order - 1)[:d]  # column 0 is all ones: never used
                signs = self._grid_rng.choice(np.array([-1, 1], np.int8), size=d)
                block = hadamard[:, columns] * signs > 0
                yield block[self._grid_rng.permutation(order)].astype(np.float32)

    def _take_grids(self, count: int) -> np.ndarray:
        parts = [] if self._spare is None else [self._spare]
        have = sum(len(p) for p in parts)
        while have < count:
            block = next(self._grids)
            parts.append(block)
            have += len(block)
        grids = np.concatenate(parts) if len(parts) > 1 else parts[0]
        self._spare = grids[count:] if have > count else None  # the rest of the block, for the next draw
        return grids[:count]

    def draw(self, count: int) -> np.ndarray:
        """The next ``count`` masks, float32 (count, H, W) in [0, 1]."""
        count = int(count)
        out = np.empty((count, self.h, self.w), np.float32)
        done = 0
        if self._pending is not None and count > 0:
            out[0] = 1.0 - self._pending
            self._pending = None
            done = 1
        if done == count:
            return out
        if self.antithetic:
            need = -(-(count - done) // 2)
            base = self._smooth(self._take_grids(need), need)
            pairs = np.empty((2 * need, self.h, self.w), np.float32)
            pairs[0::2] = base
            np.subtract(1.0, base, out=pairs[1::2])
            out[done:] = pairs[: count - done]
            if 2 * need > count - done:
                self._pending = base[-1]
        else:
            need = count - done
            out[done:] = self._smooth(self._take_grids(need), need)
        return out

    def _smooth(self, grids: np.ndarray, count: int) -> np.ndarray:
        """Bilinear up-sampling with a random shift per mask, as two batched matrix products."""
        c = self.cells
        # floats, not integers(): bounded integer draws are buffered per call, which would tie masks to chunking
        shifts = np.floor(self._shift_rng.random((count, 2)) * (self.cell_h, self.cell_w)).astype(np.int64)
        shift_y, shift_x = shifts[:, 0], shifts[:, 1]
        ry = self._ry[shift_y[:, None] + np.arange(self.h)]  # (n, H, c)
        rx = self._rx[shift_x[:, None] + np.arange(self.w)]  # (n, W, c)
        masks = np.matmul(np.matmul(ry, grids.reshape(count, c, c)), rx.transpose(0, 2, 1))
        return np.clip(masks, 0.0, 1.0, out=masks)
