"""Targets of a classifier: a user's ``targets=`` request as class indices, and the class target a method scores."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import MethodError, TargetError
from .labels import label_index

Targets = int | str | Sequence[int | str]

_HOW = "give class indices (int), class names (str), 'top:K' or 'all'"


def _index(item: object) -> int | None:
    """``item`` as a class index when it is an integer or an integral float (285.0); None when it is not a number.

    Bools are refused: ``True`` as a class index is a mistake, not class 1.
    """
    if isinstance(item, (bool, np.bool_)):
        raise TargetError(f"target {item!r} is a bool; {_HOW}.")
    if isinstance(item, numbers.Integral):
        return int(item)
    if isinstance(item, numbers.Real):
        value = float(item)
        if not np.isfinite(value) or value != int(value):
            raise TargetError(f"target {item!r} is not a whole number: class indices are integers, e.g. 285.")
        return int(value)
    return None


def _top_k(targets: str) -> int:
    try:
        k = int(targets[4:])
    except ValueError:
        raise TargetError(f"targets='{targets}': write top:K with an integer K, e.g. top:3.") from None
    if k < 1:
        raise TargetError(f"targets='{targets}': K must be at least 1, e.g. top:3.")
    return k


def _items(targets: object) -> list:
    if isinstance(targets, (str, numbers.Number, np.bool_)):
        return [targets]
    if isinstance(targets, np.ndarray) and targets.ndim == 0:
        return [targets.item()]
    try:
        items = list(targets)  # type: ignore[call-overload]
    except TypeError:
        raise TargetError(f"targets={targets!r} ({type(targets).__name__}): {_HOW}.") from None
    if not items:
        raise TargetError(f"targets is empty: {_HOW}.")
    return items


def check_targets(targets: Targets) -> None:
    """Raise :class:`TargetError` for a request that is wrong whatever the model says (before any inference).

    Checks types, ``top:K`` syntax and negative indices; ranges and names are checked by :func:`resolve_targets`.
    """
    if isinstance(targets, str) and (targets == "all" or targets.startswith("top:")):
        if targets != "all":
            _top_k(targets)
        return
    if not isinstance(targets, (str, list, tuple, np.ndarray)) and _index(targets) == -1:
        return
    for item in _items(targets):
        if isinstance(item, str):
            continue
        index = _index(item)
        if index is None:
            raise TargetError(f"target {item!r} ({type(item).__name__}): {_HOW}.")
        if index < 0:
            raise TargetError(f"target {index} is negative: class indices start at 0 (-1 alone means all classes).")


def resolve_targets(targets: Targets, scores: np.ndarray, label_names: list[str] | None) -> list[int]:
    """Class indices for ``targets``: an int, a label name, a list mixing both, ``"top:k"``, ``"all"`` or -1.

    ``scores`` (num_classes,) ranks classes for ``"top:k"``; duplicates are dropped, order is kept. Integral
    floats (``285.0``) and numpy integers count as indices; anything else raises :class:`TargetError`.

    >>> resolve_targets("top:2", np.array([0.1, 0.7, 0.2]), None)
    [1, 2]
    """
    num_classes = int(scores.shape[-1])
    if isinstance(targets, str) and targets == "all":
        return list(range(num_classes))
    if isinstance(targets, str) and targets.startswith("top:"):
        k = _top_k(targets)
        if k > num_classes:
            raise TargetError(f"targets='{targets}': K must be between 1 and {num_classes} (the model's classes).")
        return [int(i) for i in np.argsort(-scores, kind="stable")[:k]]
    if not isinstance(targets, (str, list, tuple, np.ndarray)) and _index(targets) == -1:
        return list(range(num_classes))
    out: list[int] = []
    for item in _items(targets):
        index: int | None
        if isinstance(item, str):
            index = label_index(item, label_names)
        else:
            index = _index(item)
            if index is None:
                raise TargetError(f"target {item!r} ({type(item).__name__}): {_HOW}.")
            if not 0 <= index < num_classes:
                raise TargetError(f"target {index} is out of range: this model has classes 0..{num_classes - 1}.")
        if index not in out:
            out.append(index)
    return out


@dataclass(frozen=True)
class ClassTarget:
    """One class of a classifier, as a black-box method scores it: the class's probability in each perturbed copy.

    The classification counterpart of :class:`saliencykit.tasks.detection.BoxTarget` (the idea of pytorch-grad-cam's
    ``ClassifierOutputTarget``): a method asks the target, not the task, what to score.
    """

    index: int

    @property
    def key(self) -> int:
        return self.index

    @staticmethod
    def score_batch(targets: Sequence[ClassTarget], outputs: np.ndarray, count: int) -> np.ndarray:
        """Scores (count, T) of ``targets`` in class scores ``outputs`` (count, C) of a perturbed batch."""
        scores = np.asarray(outputs)
        if scores.ndim != 2 or scores.shape[0] != count:
            raise MethodError(f"predict returned scores of shape {scores.shape} for a batch of {count} images.")
        return scores[:, [t.index for t in targets]]


def as_scored_targets(targets: Sequence[Any]) -> list[Any]:
    """Targets as objects with ``score_batch``: class indices become :class:`ClassTarget`, target objects stay."""
    return [t if hasattr(t, "score_batch") else ClassTarget(int(t)) for t in targets]


def score_targets(targets: Sequence[Any], outputs: Any, count: int) -> np.ndarray:
    """Scores (count, T) float64 of every target in the model outputs of a perturbed batch of ``count`` images."""
    if not targets:
        return np.zeros((count, 0), np.float64)
    targets = as_scored_targets(targets)
    return np.asarray(type(targets[0]).score_batch(targets, outputs, count), np.float64)


@dataclass(frozen=True)
class Region:
    """A region target of a segmentation model: an area of the image and the class averaged over it.

    ``area`` is a mask of the image's size (H, W) — bool, or weights in [0, 1] — or a box ``[x0, y0, x1, y1]`` in
    pixels of the image. ``target`` is a class index or name; None takes the class with the highest mean
    probability in the area. The target's score is the mean probability (or logit) of that class over the area.

    >>> Region([40, 20, 200, 300], "person")  # doctest: +SKIP
    """

    area: Any
    target: int | str | None = None

    def mask(self, size: tuple[int, int], name: str = "region") -> np.ndarray:
        """The area as float32 weights in [0, 1] of ``size=(height, width)``; :class:`TargetError` when it is
        the wrong shape, empty, outside the image or not numbers."""
        h, w = size
        area = self.area
        if isinstance(area, (list, tuple)) or (isinstance(area, np.ndarray) and area.ndim == 1):
            values = list(area)
            if len(values) != 4:
                raise TargetError(f"{name}: a box is [x0, y0, x1, y1] in pixels of the image; got {values}.")
            try:
                x0, y0, x1, y1 = (float(v) for v in values)
            except (TypeError, ValueError):
                raise TargetError(f"{name} {values}: the box coordinates must be numbers.") from None
            if not all(np.isfinite([x0, y0, x1, y1])) or not (x1 > x0 and y1 > y0):
                raise TargetError(f"{name} {values}: expected finite x0 < x1 and y0 < y1 (pixels of the image).")
            if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
                raise TargetError(f"{name} {values} lies outside the image ({w} x {h} pixels).")
            from .metrics.pointing_game import boxes_mask

            weights = boxes_mask([[x0, y0, x1 - 1e-6, y1 - 1e-6]], (h, w)).astype(np.float32)
        else:
            try:
                weights = np.asarray(area, dtype=np.float32)
            except (TypeError, ValueError):
                raise TargetError(
                    f"{name}: a {type(area).__name__}; give a mask (H, W) or a box [x0, y0, x1, y1]."
                ) from None
            if weights.shape != (h, w):
                raise TargetError(
                    f"{name}: a mask of shape {weights.shape}, but the image is {(h, w)} (height, width); give a "
                    "mask of the image's size or a box [x0, y0, x1, y1]."
                )
            if not np.all(np.isfinite(weights)) or weights.min() < 0 or weights.max() > 1:
                raise TargetError(f"{name}: mask values must be finite and within [0, 1] (bool or weights).")
        if not weights.any():
            raise TargetError(f"{name} is empty: it covers no pixel of the image ({w} x {h}); give a non-empty area.")
        return weights
