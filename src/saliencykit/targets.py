"""Turning a user's ``targets=`` request into class indices for one image."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import TargetError
from .labels import label_index

Targets = int | str | Sequence[int | str]


def resolve_targets(targets: Targets, scores: np.ndarray, label_names: list[str] | None) -> list[int]:
    """Class indices for ``targets``: an int, a label name, a list mixing both, ``"top:k"``, ``"all"`` or -1.

    ``scores`` (num_classes,) ranks classes for ``"top:k"``; duplicates are dropped, order is kept.

    >>> resolve_targets("top:2", np.array([0.1, 0.7, 0.2]), None)
    [1, 2]
    """
    num_classes = int(scores.shape[-1])
    if isinstance(targets, (int, np.integer)) and int(targets) == -1 or targets == "all":
        return list(range(num_classes))
    if isinstance(targets, str) and targets.startswith("top:"):
        try:
            k = int(targets[4:])
        except ValueError:
            raise TargetError(f"targets='{targets}': write top:K with an integer K, e.g. top:3.") from None
        if not 1 <= k <= num_classes:
            raise TargetError(f"targets='{targets}': K must be between 1 and {num_classes}.")
        return [int(i) for i in np.argsort(-scores, kind="stable")[:k]]
    items = [targets] if isinstance(targets, (int, np.integer, str)) else list(targets)
    if not items:
        raise TargetError("targets is empty: give class indices, names, 'top:K' or 'all'.")
    out: list[int] = []
    for item in items:
        if isinstance(item, str):
            index = label_index(item, label_names)
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            index = int(item)
            if not 0 <= index < num_classes:
                raise TargetError(f"target {index} is out of range: this model has classes 0..{num_classes - 1}.")
        else:
            raise TargetError(f"target {item!r}: give a class index (int) or a class name (str).")
        if index not in out:
            out.append(index)
    return out
