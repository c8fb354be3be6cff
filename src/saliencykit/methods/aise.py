"""AISE: adaptive input sampling with Gaussian kernels, searched by DIRECT, batched; for any task's targets.

The target's score is asked of the target (``type(target).score_batch``): a class's probability for a
classifier; for a detector (:class:`AISEDetection`, openvino-xai's AISE for detection) how well the box is still
found, with each box's search region and kernel widths taken from the box (``search_region``, ``shorter_side``).

AISE (openvino-xai's "Adaptive Input Sampling for Explanation") looks for the places where a Gaussian window of
the image matters most to the target's score. For each kernel width it runs the DIRECT global optimiser
(``scipy.optimize.direct``) over the window's centre in [0, 1]^2; the objective is the *hybrid* score
``f(image * window) - f(image * (1 - window))`` (keeping the window should keep the score, deleting it should
lose it). DIRECT samples densely where the objective is high, so the visited centres, each spread into a Gaussian
of its width and weighted by how good it was, form a weighted kernel density estimate of "where it matters"; it is
scaled to a maximum of 1 per width and the widths are summed. (A weighted sum of Gaussians with the kernel width as
bandwidth, computed separably as one matrix product: ``scipy.stats.gaussian_kde`` would pick its own bandwidth and
cannot take openvino-xai's signed weights.)

DIRECT is sequential: it asks for one point at a time. openvino-xai runs one such search after the other, one
inference per image. Here every (target, width) search runs in its own thread, each objective call hands its point
to a coordinator and waits; when every live search is waiting, the coordinator scores all their windows — both the
kept and the deleted image of each — in one batch. The searches visit exactly the points they would visit alone
(DIRECT is deterministic), in ``2 x widths x targets``-image batches instead of single images, and each search
stops after exactly ``num_iterations_per_kernel`` evaluations (openvino-xai lets DIRECT finish its last iteration
and then ignores those extra points). There is nothing random in AISE: two runs give the same map.

Weights: openvino-xai weights each centre by its raw objective, which is mostly negative (a small kept window
keeps less than a small deleted one removes), so its map hinges on a division by a negative peak. We weight by the
objective minus its minimum over the search (``aggregate="shifted"``): every weight is >= 0 and better windows
weigh more. On the demo photos this raised the insertion-minus-deletion AUC of the balance preset from 0.19 to 0.36
and ADCC from 0.58 to 0.86 (``bench/blackbox.py``); ``aggregate="openvino-xai"`` keeps the original.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy.optimize import Bounds, direct

from ..errors import MethodError
from ..targets import as_scored_targets, score_targets
from .base import AcceptsBoxes, Fill, Predict, Progress, blend_scorer
from .rise import FlatMapWarning

#: openvino-xai's AISE presets: preset -> (evaluations per kernel width, kernel widths)
PRESETS: dict[str, tuple[int, tuple[float, ...]]] = {
    "speed": (20, tuple(np.linspace(0.1, 0.25, 3).tolist())),
    "balance": (50, tuple(np.linspace(0.1, 0.25, 3).tolist())),
    "quality": (50, tuple(np.linspace(0.075, 0.25, 5).tolist())),
}
AGGREGATES = ("shifted", "density", "openvino-xai", "nonnegative")


@dataclass
class AISE:
    """AISE for classifiers, with the per-width and per-target DIRECT searches batched together.

    Args:
        preset: ``"speed"`` (20 evaluations x 3 widths), ``"balance"`` (50 x 3) or ``"quality"`` (50 x 5 widths),
            openvino-xai's presets; each evaluation scores two images (kept and deleted window).
        num_iterations_per_kernel: DIRECT evaluations per kernel width (overrides the preset).
        kernel_widths: Gaussian widths as a fraction of the image side (overrides the preset).
        solver_epsilon: DIRECT's ``eps``.
        locally_biased: DIRECT's ``locally_biased`` (False: the original DIRECT).
        deletion: use the hybrid objective (kept minus deleted); ``False`` scores only the kept window (half the
            model calls).
        aggregate: how visited centres are weighted: ``"shifted"`` (default, see the module docstring),
            ``"density"`` (all 1: where DIRECT looked) or ``"openvino-xai"`` (the raw objective, as openvino-xai).

    >>> AISE(preset="speed").settings()["kernel_widths"]
    [0.1, 0.175, 0.25]
    """

    preset: str = "balance"
    num_iterations_per_kernel: int | None = None
    kernel_widths: Sequence[float] | None = None
    solver_epsilon: float = 0.1
    locally_biased: bool = False
    deletion: bool = True
    aggregate: str = "shifted"
    padding: float = 0.5
    name: str = "aise"

    #: the tasks this configuration explains (the registry's ``aise`` gives :class:`AISEDetection` for detection)
    tasks: ClassVar[tuple[str, ...]] = ("classification", "segmentation", "scalar")
    PRESETS: ClassVar[dict[str, tuple[int, tuple[float, ...]]]] = PRESETS

    def __post_init__(self) -> None:
        if self.preset not in self.PRESETS:
            raise MethodError(f"AISE preset='{self.preset}': use one of {', '.join(self.PRESETS)}.")
        if self.aggregate not in AGGREGATES:
            raise MethodError(f"AISE aggregate='{self.aggregate}': use one of {', '.join(AGGREGATES)}.")
        iterations, widths = self._sizes()
        if iterations < 1:
            raise MethodError(f"AISE num_iterations_per_kernel={iterations}: use at least 1.")
        if not widths or min(widths) <= 0:
            raise MethodError(f"AISE {self.WIDTHS}={list(widths)}: give positive numbers ({self.WIDTHS_MEANING}).")

    #: the option that sets the kernel widths, and what its numbers mean
    WIDTHS: ClassVar[str] = "kernel_widths"
    WIDTHS_MEANING: ClassVar[str] = "fractions of the image side"

    def _sizes(self) -> tuple[int, tuple[float, ...]]:
        iterations, widths = self.PRESETS[self.preset]
        if self.num_iterations_per_kernel is not None:
            iterations = int(self.num_iterations_per_kernel)
        given = getattr(self, self.WIDTHS)
        if given is not None:
            widths = tuple(float(w) for w in given)
        return iterations, widths

    def settings(self) -> dict[str, Any]:
        """The effective parameters (presets resolved)."""
        iterations, widths = self._sizes()
        return {
            "method": self.name,
            "num_iterations_per_kernel": iterations,
            self.WIDTHS: [round(w, 6) for w in widths],
            "solver_epsilon": self.solver_epsilon,
            "locally_biased": self.locally_biased,
            "deletion": self.deletion,
            "aggregate": self.aggregate,
        }

    def explain(
        self, predict: Predict, pixels: np.ndarray, targets: Sequence[Any], fill: Fill = 0.0, progress: Progress = None
    ) -> np.ndarray:
        """Maps (T, H, W) float32 in [0, 1] for ``targets`` of the float32 H x W x 3 ``pixels``.

        ``targets`` are class indices or target objects with ``score_batch`` (a task's targets, e.g. boxes). A
        target whose score never changes gets an all-zero map and a :class:`FlatMapWarning`; one whose scores are
        not finite gets a NaN map.
        """
        h, w = pixels.shape[:2]
        targets = as_scored_targets(targets)
        windows = Windows(h, w)
        searches, history = self._search(predict, pixels, targets, fill, windows, progress)
        maps, flat = self._aggregate(windows, searches, history, len(targets))
        if flat:
            names = ", ".join(str(targets[k].key) for k in flat)
            warnings.warn(
                f"AISE: the score of target {names} did not change under any window, so its map is flat (all "
                "zeros). The model may ignore its input or saturate: check the model and preprocessing.",
                FlatMapWarning,
                stacklevel=2,
            )
        return maps.astype(np.float32)

    def _plan(self, targets: Sequence[Any]) -> list[tuple[int, float, np.ndarray, np.ndarray]]:
        """One search per (target, kernel width): ``(target position, width, region low, region high)``.

        A target may offer ``search_region(padding)`` (a box's grown extent, as (y, x) corners in [0, 1]) and
        ``shorter_side``; classes search the whole image with the widths as given.
        """
        _, widths = self._sizes()
        plan = []
        for k, target in enumerate(targets):
            region = getattr(target, "search_region", None)
            low, high = region(self.padding) if region is not None else (np.zeros(2), np.ones(2))
            for width in widths:
                plan.append((k, self._width(target, width), low, high))
        return plan

    def _width(self, target: Any, width: float) -> float:
        return width

    def _search(
        self,
        predict: Predict,
        pixels: np.ndarray,
        targets: Sequence[Any],
        fill: Fill,
        windows: Windows,
        progress: Progress,
    ) -> tuple[list[tuple[int, float]], list[list[tuple[np.ndarray, float]]]]:
        """Run every (target, width) DIRECT search, batched; returns the searches and their visited points."""
        iterations, _ = self._sizes()
        score_masks = blend_scorer(predict, pixels, fill)
        plan = self._plan(targets)
        searches = [(k, width) for k, width, _, _ in plan]
        history: list[list[tuple[np.ndarray, float]]] = [[] for _ in searches]
        per_point = 2 if self.deletion else 1  # kept and deleted window: two model inputs per point
        total = len(searches) * iterations * per_point
        done = 0

        def score(requests: dict[int, np.ndarray]) -> dict[int, float]:
            nonlocal done
            ids = sorted(requests)
            points = np.stack([plan[i][2] + requests[i] * (plan[i][3] - plan[i][2]) for i in ids])
            kept = windows.masks(points, np.array([searches[i][1] for i in ids]))
            images = [kept, 1.0 - kept] if self.deletion else [kept]
            count = len(ids) * len(images)
            scores = score_targets(targets, score_masks(np.concatenate(images)), count)
            out: dict[int, float] = {}
            for j, i in enumerate(ids):
                k = searches[i][0]
                value = scores[j, k] - (scores[len(ids) + j, k] if self.deletion else 0.0)
                history[i].append((points[j], float(value)))
                out[i] = value
            done += len(ids) * per_point
            if progress is not None:
                progress(done, total)
            return out

        search = direct_search(iterations, self.solver_epsilon, self.locally_biased)
        run_batched(len(searches), search, score)
        return searches, history

    def _aggregate(
        self,
        windows: Windows,
        searches: list[tuple[int, float]],
        history: list[list[tuple[np.ndarray, float]]],
        num_targets: int,
    ) -> tuple[np.ndarray, list[int]]:
        h, w = len(windows.ys), len(windows.xs)
        maps = np.zeros((num_targets, h, w), np.float64)
        flat: list[int] = []
        broken: set[int] = set()
        spread = np.zeros(num_targets)
        for i, (k, width) in enumerate(searches):
            if not history[i]:
                continue
            points = np.array([p for p, _ in history[i]])
            values = np.array([v for _, v in history[i]])
            if not np.all(np.isfinite(values)):
                broken.add(k)
                continue
            spread[k] = max(spread[k], np.ptp(values))
            if self.aggregate == "openvino-xai":
                weights = values
            elif self.aggregate == "shifted":
                weights = values - values.min()
            elif self.aggregate == "nonnegative":
                weights = values - min(0.0, float(values.min()))
            else:
                weights = np.ones_like(values)
            density = windows.density(points, weights, width)
            peak = density.max()
            if peak > 0:
                density = density / peak
            maps[k] += density
        for k in range(num_targets):
            if k in broken:  # the model gave NaN / inf: let the caller see it
                maps[k] = np.nan
                continue
            if not spread[k] > 1e-9:
                maps[k] = 0.0
                flat.append(k)
                continue
            peak = maps[k].max()
            if peak != 0 and self.aggregate != "nonnegative":
                maps[k] /= peak  # openvino-xai divides by the peak even when it is negative
            lo, hi = maps[k].min(), maps[k].max()
            maps[k] = (maps[k] - lo) / (hi - lo) if hi > lo else 0.0
        return maps, flat


#: openvino-xai's AISE detection presets: preset -> (evaluations per kernel width, divisors of the box's shorter side)
DETECTION_PRESETS: dict[str, tuple[int, tuple[float, ...]]] = {
    "speed": (20, tuple(np.linspace(7, 1, 3).tolist())),
    "balance": (50, tuple(np.linspace(7, 1, 3).tolist())),
    "quality": (50, tuple(np.linspace(8, 1, 5).tolist())),
}


@dataclass
class AISEDetection(AcceptsBoxes, AISE):  # type: ignore[misc]  # explain also takes (boxes, classes)
    """AISE with the detection task's target, a box (openvino-xai's AISE for detection), every search batched.

    For every target box and kernel width, DIRECT searches the centre of a Gaussian window inside the box grown by
    ``padding`` times its size on each side; the objective keeps only the window and scores how well the box is
    still found (:class:`saliencykit.tasks.detection.BoxTarget`: D-RISE's similarity). The widths are the box's
    shorter side divided by ``divisors``. Defaults are openvino-xai's for detection: ``solver_epsilon=0.05``, no
    deletion term, and weights shifted only when some are negative (``aggregate="nonnegative"``).

    Args:
        divisors: kernel widths are the box's shorter side divided by these (overrides the preset).
        padding: the search region is the box grown by ``padding`` times its size on each side.
        others: as :class:`AISE`.

    >>> AISEDetection(preset="speed").settings()["divisors"]
    [7.0, 4.0, 1.0]
    """

    divisors: Sequence[float] | None = None
    solver_epsilon: float = 0.05
    deletion: bool = False
    aggregate: str = "nonnegative"

    tasks: ClassVar[tuple[str, ...]] = ("detection",)
    PRESETS: ClassVar[dict[str, tuple[int, tuple[float, ...]]]] = DETECTION_PRESETS
    WIDTHS: ClassVar[str] = "divisors"
    WIDTHS_MEANING: ClassVar[str] = "the box's shorter side is divided by them"

    def _width(self, target: Any, width: float) -> float:
        return target.shorter_side / width

    def settings(self) -> dict[str, Any]:
        """The effective parameters (presets resolved)."""
        return {**super().settings(), "padding": self.padding}


class Windows:
    """Gaussian windows on the unit square sampled at the image's pixels, each scaled to a peak of 1."""

    def __init__(self, h: int, w: int) -> None:
        self.ys = np.linspace(0.0, 1.0, h)
        self.xs = np.linspace(0.0, 1.0, w)

    @staticmethod
    def _bumps(grid: np.ndarray, centres: np.ndarray, widths: np.ndarray) -> np.ndarray:
        d = grid[None, :] - centres[:, None]
        g = np.exp(-(d * d) / (2.0 * widths[:, None] ** 2))
        return g / g.max(axis=1, keepdims=True)  # the peak at the nearest pixel, as openvino-xai scales

    def masks(self, points: np.ndarray, widths: np.ndarray) -> np.ndarray:
        """Windows (n, H, W) float32 for centres ``points`` (n, 2) as (y, x) and ``widths`` (n,)."""
        gy = self._bumps(self.ys, points[:, 0], widths)
        gx = self._bumps(self.xs, points[:, 1], widths)
        return (gy[:, :, None] * gx[:, None, :]).astype(np.float32)

    def density(self, points: np.ndarray, weights: np.ndarray, width: float) -> np.ndarray:
        """``sum_i weights[i] * window(points[i], width)`` (H, W): a weighted Gaussian KDE, separably."""
        widths = np.full(len(points), float(width))
        gy = self._bumps(self.ys, points[:, 0], widths)
        gx = self._bumps(self.xs, points[:, 1], widths)
        return (gy.T * weights[None, :]) @ gx


def direct_search(iterations: int, eps: float, locally_biased: bool) -> Callable[[Callable[[np.ndarray], float]], None]:
    """``search(evaluate)``: maximise ``evaluate`` over [0, 1]^2 with DIRECT, using exactly ``iterations`` points.

    DIRECT finishes its iteration past ``maxfun``; the points beyond the budget are not evaluated.
    """

    def search(evaluate: Callable[[np.ndarray], float]) -> None:
        count = 0

        def objective(x: np.ndarray) -> float:
            nonlocal count
            if count == iterations:
                raise _Budget
            count += 1
            return -evaluate(x)

        with contextlib.suppress(_Budget):
            direct(objective, Bounds([0.0, 0.0], [1.0, 1.0]), eps=eps, maxfun=iterations, locally_biased=locally_biased)

    return search


class _Budget(Exception):
    """Raised inside a search when it has used its evaluations."""


class _Aborted(Exception):
    """Raised inside a search thread to unwind it when the run stops early."""


def run_batched(
    count: int,
    search: Callable[[Callable[[np.ndarray], float]], Any],
    score: Callable[[dict[int, np.ndarray]], dict[int, float]],
) -> None:
    """Run ``count`` sequential searches side by side, scoring their pending points together.

    ``search(evaluate)`` runs one search that calls ``evaluate(point) -> value`` one point at a time. Each search
    runs in a thread; ``score`` runs in the calling thread on ``{search id: point}`` whenever every search still
    running is waiting for a value, so exceptions there (including KeyboardInterrupt) surface in the caller, after
    the searches are stopped.
    """
    cond = threading.Condition()
    pending: dict[int, np.ndarray] = {}
    results: dict[int, float] = {}
    state = {"alive": count, "abort": False}
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        def evaluate(point: np.ndarray) -> float:
            with cond:
                if state["abort"]:
                    raise _Aborted
                pending[i] = np.array(point, np.float64)
                cond.notify_all()
                while i not in results and not state["abort"]:
                    cond.wait()
                if state["abort"]:
                    raise _Aborted
                return results.pop(i)

        try:
            search(evaluate)
        except _Aborted:
            pass
        except BaseException as exc:  # surfaced in the calling thread
            with cond:
                errors.append(exc)
        finally:
            with cond:
                state["alive"] -= 1
                cond.notify_all()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True, name=f"aise-search-{i}") for i in range(count)]
    for t in threads:
        t.start()
    try:
        while True:
            with cond:
                while len(pending) < state["alive"] and not errors:
                    cond.wait()
                if errors:
                    raise errors[0]
                if state["alive"] == 0:
                    break
                batch = dict(pending)
                pending.clear()
            values = score(batch)
            with cond:
                results.update(values)
                cond.notify_all()
    finally:
        with cond:
            state["abort"] = True
            cond.notify_all()
        for t in threads:
            t.join()
