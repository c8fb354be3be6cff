"""AISE for detectors: where must a Gaussian window of the image be for the target box to survive? Batched.

openvino-xai's AISE for detection (``openvino_xai/methods/black_box/aise/detection.py``): for every target box and
kernel width, the DIRECT optimiser (``scipy.optimize.direct``) searches the centre of a Gaussian window inside the
box grown by half its size on each side. The objective keeps only the window (the rest goes to the fill value)
and scores how well the target box is still found: ``max_j IoU(box_t, box_j) * score_j`` over the detections of
the same class (here with D-RISE's class-vector cosine, which is class equality for one-hot classes). The widths
are the box's shorter side divided by ``divisors`` (7 ... 1). Each width's visited centres make a
Gaussian kernel density weighted by their objective, scaled to a peak of 1; the widths are summed.

openvino-xai runs one search after the other with one inference per image. Here every (box, width) search runs
side by side through :func:`saliencykit.methods.aise._run_batched`, so each step of all searches is one batch
(``boxes x widths`` windows, twice with ``deletion=True``); the searches visit the same points they would alone.
Nothing is random: two runs give the same maps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..detection.base import Detect
from ..detection.boxes import box_similarity
from ..errors import MethodError
from .aise import _run_batched, _Windows, direct_search
from .base import blend_scorer

#: openvino-xai's detection presets: preset -> (evaluations per kernel width, divisors of the box's shorter side)
PRESETS: dict[str, tuple[int, tuple[float, ...]]] = {
    "speed": (20, tuple(np.linspace(7, 1, 3).tolist())),
    "balance": (50, tuple(np.linspace(7, 1, 3).tolist())),
    "quality": (50, tuple(np.linspace(8, 1, 5).tolist())),
}


class _Budget(Exception):
    """Raised inside a search when it has used its evaluations."""


@dataclass
class AISEDetection:
    """AISE for detection boxes, with every (box, width) DIRECT search batched together.

    Args:
        preset: ``"speed"`` (20 evaluations x 3 widths), ``"balance"`` (50 x 3) or ``"quality"`` (50 x 5):
            openvino-xai's presets.
        num_iterations_per_kernel: DIRECT evaluations per width (overrides the preset).
        divisors: kernel widths are the box's shorter side divided by these (overrides the preset).
        solver_epsilon: DIRECT's ``eps`` (openvino-xai uses 0.05 for detection).
        locally_biased: DIRECT's ``locally_biased``.
        padding: the search region is the box grown by ``padding`` times its size on each side.
        deletion: also score the image with the window deleted and use kept minus deleted (hybrid objective);
            ``False`` (openvino-xai's choice for detection) scores only the kept window.

    >>> AISEDetection(preset="speed").settings()["divisors"]
    [7.0, 4.0, 1.0]
    """

    preset: str = "balance"
    num_iterations_per_kernel: int | None = None
    divisors: Sequence[float] | None = None
    solver_epsilon: float = 0.05
    locally_biased: bool = False
    padding: float = 0.5
    deletion: bool = False
    name: str = "aise"

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise MethodError(f"AISE preset='{self.preset}': use one of {', '.join(PRESETS)}.")
        iterations, divisors = self._sizes()
        if iterations < 1:
            raise MethodError(f"AISE num_iterations_per_kernel={iterations}: use at least 1.")
        if not divisors or min(divisors) <= 0:
            raise MethodError(f"AISE divisors={list(divisors)}: give positive numbers.")

    def _sizes(self) -> tuple[int, tuple[float, ...]]:
        iterations, divisors = PRESETS[self.preset]
        if self.num_iterations_per_kernel is not None:
            iterations = int(self.num_iterations_per_kernel)
        if self.divisors is not None:
            divisors = tuple(float(d) for d in self.divisors)
        return iterations, divisors

    def settings(self) -> dict[str, Any]:
        """The effective parameters (presets resolved)."""
        iterations, divisors = self._sizes()
        return {
            "method": self.name,
            "num_iterations_per_kernel": iterations,
            "divisors": [round(d, 6) for d in divisors],
            "solver_epsilon": self.solver_epsilon,
            "locally_biased": self.locally_biased,
            "padding": self.padding,
            "deletion": self.deletion,
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
        """Maps (T, H, W) float32 in [0, 1] for the target ``boxes`` (T, 4, normalised); constant when flat."""
        iterations, divisors = self._sizes()
        h, w = pixels.shape[:2]
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        classes = np.asarray(classes, np.int64).reshape(-1)
        score_masks = blend_scorer(detect, pixels, fill)
        windows = _Windows(h, w)
        # one search per (box, width); centres are searched as (y, x) inside the padded box
        searches, regions = [], []
        for k, (x0, y0, x1, y1) in enumerate(boxes):
            bw, bh = max(float(x1 - x0), 1e-3), max(float(y1 - y0), 1e-3)
            low = np.array([max(y0 - bh * self.padding, 0.0), max(x0 - bw * self.padding, 0.0)])
            high = np.array([min(y1 + bh * self.padding, 1.0), min(x1 + bw * self.padding, 1.0)])
            high = np.maximum(high, low + 1e-3)
            for d in divisors:
                searches.append((k, min(bw, bh) / d))
                regions.append((low, high))
        history: list[list[tuple[np.ndarray, float]]] = [[] for _ in searches]
        total = len(searches) * iterations
        done = 0

        def score(requests: dict[int, np.ndarray]) -> dict[int, float]:
            nonlocal done
            ids = sorted(requests)
            points = np.stack([regions[i][0] + requests[i] * (regions[i][1] - regions[i][0]) for i in ids])
            kept = windows.masks(points, np.array([searches[i][1] for i in ids]))
            images = [kept, 1.0 - kept] if self.deletion else [kept]
            found = score_masks(np.concatenate(images))
            targets = [searches[i][0] for i in ids]
            sim = box_similarity(found, boxes[targets], classes[targets]).astype(np.float64)  # (n images, len(ids))
            out = {}
            for j, i in enumerate(ids):
                value = sim[j, j] - (sim[len(ids) + j, j] if self.deletion else 0.0)
                history[i].append((points[j], float(value)))
                out[i] = float(value)
            done += len(ids)
            if progress is not None:
                progress(done, total)
            return out

        search = direct_search(iterations, self.solver_epsilon, self.locally_biased)
        _run_batched(len(searches), search, score)
        return self._aggregate(windows, searches, history, len(boxes), h, w)

    @staticmethod
    def _aggregate(windows, searches, history, count: int, h: int, w: int) -> np.ndarray:
        maps = np.zeros((count, h, w), np.float64)
        spread = np.zeros(count)
        broken: set[int] = set()
        for i, (k, width) in enumerate(searches):
            if not history[i]:
                continue
            points = np.array([p for p, _ in history[i]])
            values = np.array([v for _, v in history[i]])
            if not np.all(np.isfinite(values)):
                broken.add(k)
                continue
            spread[k] = max(spread[k], float(np.ptp(values)))
            weights = values - min(0.0, float(values.min()))  # >= 0 (only the hybrid objective goes negative)
            density = windows.density(points, weights, width)
            peak = density.max()
            if peak > 0:
                maps[k] += density / peak
        for k in range(count):
            if k in broken:  # the detector gave NaN / inf: let the caller see it
                maps[k] = np.nan
                continue
            if not spread[k] > 1e-9:
                maps[k] = 0.0
                continue
            lo, hi = maps[k].min(), maps[k].max()
            maps[k] = (maps[k] - lo) / (hi - lo) if hi > lo else 0.0
        return maps.astype(np.float32)
