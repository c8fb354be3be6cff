"""Faithfulness per audited image by name (``--metrics``): the values the report averages per case.

- ``insertion-deletion``: insertion and deletion AUC of the top-1 map (Petsiuk et al. 2018,
  :func:`saliencykit.metrics.insertion_deletion_auc` with its defaults: 30 steps, blur substrate), columns
  ``insertion``, ``deletion``, ``ins_del``. Costs 2 x 31 model calls per image, batched.
- ``pointing-game``: the pointing-game hit and the energy inside the annotated objects
  (:func:`saliencykit.metrics.pointing_game`, 15 px tolerance), columns ``pointing`` and ``energy``. Needs
  ``--annotations``; costs no model call. Images without objects get no value.

ADCC and the randomisation check are not offered here: ADCC explains every image a second time (for a black-box
method hundreds of model calls more) and the randomisation check judges the method, not an image; use
``saliencykit evaluate`` for them.

The metrics run in the audit's writer threads, beside the inference of the next batch: they score through their
own copy of the model (compiled once), one image at a time, so they never share an inference request with it.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import SaliencyKitError

AUDIT_METRICS = ("insertion-deletion", "pointing-game")
#: what each metric costs, for the CLI's help and errors
COSTS = {
    "insertion-deletion": "adds 2 x 31 model calls per image",
    "pointing-game": "free (needs --annotations)",
}
_ALIASES = {"insertion": "insertion-deletion", "deletion": "insertion-deletion", "pointing": "pointing-game"}


def parse_audit_metrics(metrics: str | Sequence[str]) -> list[str]:
    """Metric names from ``"insertion-deletion,pointing-game"`` or a list; refuses names the audit cannot run.

    >>> parse_audit_metrics("insertion, pointing-game")
    ['insertion-deletion', 'pointing-game']
    """
    if not isinstance(metrics, (str, Sequence)) or (
        not isinstance(metrics, str) and not all(isinstance(m, str) for m in metrics)
    ):
        raise SaliencyKitError(
            f"metrics={metrics!r}: give a function (see help(saliencykit.audit)) or metric names such as "
            "'insertion-deletion'."
        )
    items = metrics.split(",") if isinstance(metrics, str) else list(metrics)
    names = [m.strip().lower().replace("_", "-") for m in items if m.strip()]
    if names == ["all"]:
        return list(AUDIT_METRICS)
    names = [_ALIASES.get(n, n) for n in names]
    unknown = [n for n in names if n not in AUDIT_METRICS]
    if unknown or not names:
        costs = "; ".join(f"{name}: {cost}" for name, cost in COSTS.items())
        extra = (
            " (ADCC and randomization judge a method over a set: use saliencykit evaluate)"
            if any(n in ("adcc", "randomization") for n in unknown)
            else ""
        )
        raise SaliencyKitError(
            f"--metrics {','.join(unknown) or '(none)'}: the audit runs {', '.join(AUDIT_METRICS)} or all "
            f"({costs}){extra}."
        )
    return list(dict.fromkeys(names))


class AuditMetrics:
    """The ``metrics`` hook of the audit for the chosen metric names (see the module docstring)."""

    wants_objects = True  # the audit passes each image's annotated objects

    def __init__(self, explainer: Any, names: Sequence[str]) -> None:
        self.names = list(names)
        self.explainer = explainer
        self._scorer: Any = None
        self._lock = threading.Lock()

    def _own_scorer(self) -> Any:
        """A scorer on a copy of the explainer's pipeline without its compiled runners (compiled anew)."""
        from ..metrics import Scorer

        if self._scorer is None:
            pipeline = copy.copy(self.explainer.pipeline)
            pipeline._plain_runner = None
            pipeline._blend_runner = None
            self._scorer = Scorer(pipeline)
        return self._scorer

    def __call__(
        self, image: np.ndarray, explanation: Any, objects: Sequence[Mapping[str, Any]] | None = None
    ) -> dict[str, float]:
        from ..metrics import insertion_deletion_auc, pointing_game

        target = int(explanation.targets[0])  # the top-1 class comes first
        saliency = explanation.maps[target]
        values: dict[str, float] = {}
        if "insertion-deletion" in self.names:
            with self._lock:
                r = insertion_deletion_auc(self._own_scorer(), image, saliency, target)
            values.update(insertion=r.insertion, deletion=r.deletion, ins_del=r.difference)
        if "pointing-game" in self.names and objects:
            boxes = [list(obj["box"]) for obj in objects]
            hit = pointing_game(saliency, boxes=boxes, image_size=image.shape[:2])
            values.update(pointing=float(hit.hit), energy=hit.energy)
        return values


def metric_hook(explainer: Any, names: Sequence[str]) -> AuditMetrics:
    """The audit's metrics hook for ``names`` (from :func:`parse_audit_metrics`)."""
    return AuditMetrics(explainer, names)
