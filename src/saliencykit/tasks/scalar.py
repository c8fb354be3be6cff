"""Any scalar as a target: a user's ``scorer(outputs) -> score per target`` (Captum's forward-function idea).

For what the built-in tasks do not cover — a pose model's presence flag, one landmark's x coordinate, a face
landmark model's confidence — give the model and a scorer that reads the number(s) out of its outputs::

    presence = lambda outputs: outputs[1][:, 0]      # pose_landmark_full: Identity_1, (N, 1)
    explainer = sk.Explainer(pose_model, task="scalar", scorer=presence, label_names=["presence"],
                             preprocess=sk.Preprocess(size=256, mean=0, std=255, layout="NHWC"))
    explanation = explainer(photo)                    # one map: where the model sees a person

``outputs`` is the list of the model's outputs in order, batch first (a Python callable model's return value,
as a list). The scorer returns ``(N,)`` (one target) or ``(N, T)``: T targets, addressed by index or by
``label_names``. Black-box methods (RISE, AISE) explain what raises the score.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import MethodError, ModelOutputError, TargetError
from ..explanation import Explanation
from ..targets import check_targets, resolve_targets
from .outputs import RawOutputsTask

#: ``scorer(outputs) -> (N,) or (N, T)``: the model's outputs (batch first) to the scores of T targets
Scorer = Callable[[list[np.ndarray]], Any]


@dataclass(frozen=True)
class ScalarTarget:
    """One column of a user's scorer, as a black-box method scores it."""

    index: int

    @property
    def key(self) -> int:
        return self.index

    @staticmethod
    def score_batch(targets: Sequence[ScalarTarget], outputs: np.ndarray, count: int) -> np.ndarray:
        """Scores (count, T) of ``targets`` in the scorer's checked (count, K) scores of a perturbed batch."""
        scores = np.asarray(outputs)
        if scores.ndim != 2 or scores.shape[0] != count:
            raise MethodError(f"scorer scores of shape {scores.shape} for a batch of {count} images.")
        return scores[:, [t.index for t in targets]]


class ScalarTask(RawOutputsTask):
    """A model explained through a user's scorer (see the module docstring). Option: ``scorer`` (required)."""

    name = "scalar"
    noun = "custom scorers"
    default_targets = "all"
    default_batch_size = 8
    fallback_reason = "a custom scorer is explained black-box"
    options = ("scorer",)

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        scorer = options.get("scorer")
        if not callable(scorer):
            raise MethodError(
                "task='scalar' needs scorer=: a function outputs -> (N,) or (N, T) scores, where outputs is the "
                f"list of the model's outputs, batch first (got {type(scorer).__name__})."
            )
        self.scorer: Scorer = scorer

    def pipeline(self, model: Any, preprocess: Any, postprocess: Any, settings: dict[str, Any]) -> Any:
        if postprocess not in (None, "identity"):  # "identity": what Explainer.with_model passes back
            raise MethodError("postprocess= is not used by task='scalar': the scorer reads the raw outputs.")
        return super().pipeline(model, preprocess, None, settings)

    def rebuild_options(self) -> dict[str, Any]:
        return {"scorer": self.scorer}

    def scores(self, outputs: list[np.ndarray], count: int) -> np.ndarray:
        """The scorer's (count, T) float64 scores, checked: our error for a wrong shape or non-finite values."""
        name = getattr(self.scorer, "__name__", type(self.scorer).__name__)
        try:
            raw = self.scorer(outputs)
        except Exception as exc:  # the user's code: say whose it is, keep the cause chained
            raise ModelOutputError(f"scorer {name} raised {type(exc).__name__}: {exc}") from exc
        try:
            values = np.asarray(raw, np.float64)
        except (TypeError, ValueError):
            raise ModelOutputError(
                f"scorer {name} returned {type(raw).__name__}, not numbers; return an array (N,) or (N, T)."
            ) from None
        if values.ndim == 1:
            values = values[:, None]
        if values.ndim != 2 or values.shape[0] != count or values.shape[1] < 1:
            raise ModelOutputError(
                f"scorer {name} returned shape {np.shape(raw)} for a batch of {count} images; return ({count},) "
                f"or ({count}, T): one score per image and target."
            )
        bad = ~np.isfinite(values).all(axis=1)
        if bad.any():
            raise ModelOutputError(
                f"scorer {name} returned NaN or infinite scores for batch image(s) "
                f"{', '.join(str(int(i)) for i in np.flatnonzero(bad)[:5])}; return finite numbers.",
                indices=[int(i) for i in np.flatnonzero(bad)],
            )
        labels = self.pipeline_.label_names if self.pipeline_ is not None else None
        if labels is not None and len(labels) != values.shape[1]:
            raise TargetError(
                f"label_names has {len(labels)} names but scorer {name} returns {values.shape[1]} score(s) per "
                "image; give one name per score."
            )
        return values

    def read(self, outputs: list[np.ndarray], names: Sequence[str]) -> np.ndarray:
        return self.scores(outputs, len(names))

    def perturbed(self, pixels: np.ndarray) -> np.ndarray:
        return self.scores(self.run(pixels), len(pixels))

    def check_targets(self, targets: Any) -> None:
        check_targets(targets)

    def targets(self, request: Any, prediction: np.ndarray, size: tuple[int, int]) -> list[ScalarTarget]:
        labels = self.pipeline_.label_names if self.pipeline_ is not None else None
        return [ScalarTarget(t) for t in resolve_targets(request, prediction, labels)]

    def explanation(
        self, source: np.ndarray, targets: list[ScalarTarget], maps: dict, prediction: np.ndarray, **common: Any
    ) -> Explanation:
        keys = [t.index for t in targets]
        return Explanation(
            targets=keys,
            maps=maps,
            scores={t: float(prediction[t]) for t in keys},
            image_size=tuple(source.shape[:2]),
            predictions=np.asarray(prediction, np.float32),
            **common,
        )
