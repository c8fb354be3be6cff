"""Sorting audited images into cases: confident hits, unsure hits, confident mistakes, two competing classes,
and, for images with annotated objects, hits for the wrong reasons and mistakes that looked at the object.

The cases follow the OpenVINO saliency-map interpretation notebook (``explainable-ai-3-map-interpretation``),
which picks images of a labelled set by the model's confidence and whether it was right, and looks at the
maps of each group side by side. Every labelled image falls in exactly one case; the first rule that matches
wins, in this order:

0a. ``right_for_wrong_reasons``      annotated; top-1 is the ground truth, score >= ``high``, and less than
                                      ``object_energy`` of the top-1 map's energy lies on the annotated objects
0b. ``wrong_but_looked_at_object``   annotated; top-1 is wrong, and at least ``object_energy`` of its map's
                                      energy lies on the annotated objects
1. ``true_positive_high_confidence``  top-1 is the ground truth and its score >= ``high``
2. ``false_positive_high_confidence`` top-1 is wrong and its score >= ``high``
3. ``two_predictions``                the two best classes both score >= ``two``, the ground truth among them
4. ``true_positive_low_confidence``   top-1 is the ground truth and its score < ``low``
5. ``true_positive``                  top-1 is the ground truth (``low`` <= score < ``high``)
6. ``false_positive_low_confidence``  top-1 is wrong (score < ``high``)

Images without a ground truth go to ``unlabelled``. A confident decision comes first because it is the
strongest fact about an image (a confident mistake is what an audit is for); ``two_predictions`` then
catches the undecided model torn between two classes, whichever of the two won.

Defaults (scores are postprocessed probabilities, softmax over 1000 ImageNet classes for the demo):

- ``high = 0.6``: the notebook selects confident mistakes at 0.60 (its examples score 0.78-0.98) and its
  confident hits score 0.88-0.97; 0.6 means the winner has more mass than all other classes together.
- ``low = 0.3``: the notebook's unsure hits score 0.18-0.20; below 0.3 the model gives more than twice as much
  probability to other classes as to the right one.
- ``two = 0.25``: the notebook's two-class examples have their runner-up at 0.30-0.39 (and 0.57/0.30,
  0.43/0.39 pairs); a quarter of the probability on a second class is a real contender, and it keeps the
  demo's moped / motor scooter photo (0.57 / 0.27) in this case.
- ``explain = 0.1``: the notebook's ``get_model_predictions(conf_thr=0.1)`` explains every class above 0.1;
  the top-1 class is always explained even below it, and the ground truth when the model got it wrong.

Focus thresholds (shares of the top-1 map's energy, see :mod:`saliencykit.audit.focus`):

- ``object_energy = 0.5``: less than half of the mass on the annotated object means the map mostly looks
  elsewhere (a confident hit below it is right for the wrong reasons; a mistake at or above it looked at the
  object). Half is the point where the object stops being where most of the evidence is, whatever its size.
- ``border = 0.5``: the outer 10 % band is 36 % of the frame, so a flat map puts 0.36 there and an
  object-centred one much less; half of the mass on the border is a map drawn to the frame's edges (a
  watermark, a caption, a border, a corner patch), the ``border`` reason.
- ``shared = 0.5``: when half of the other images of a predicted class peak within 0.1 of the frame of this
  image's peak (away from the centre, where photographers put objects), the class leans on a fixed spot:
  the ``shared_peak`` reason.
- ``diffuse = 0.1``: the top 5 % of the map's cells holding less than 10 % of its mass (a flat map holds 5 %)
  is a map that points nowhere: the ``diffuse`` reason.
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import SaliencyKitError

UNLABELLED = "unlabelled"

#: Case name -> one-line description, in precedence order (the report lists them in this order).
CASES: dict[str, str] = {
    "right_for_wrong_reasons": "right and sure, but the map's mass lies mostly outside the annotated object",
    "wrong_but_looked_at_object": "wrong, but the map's mass lies mostly on the annotated object",
    "true_positive_high_confidence": "right, and sure of it: top-1 is the ground truth with score >= high",
    "false_positive_high_confidence": "wrong, and sure of it: top-1 is not the ground truth, score >= high",
    "two_predictions": "torn between two classes: both of the top two score >= two, the ground truth among them",
    "true_positive_low_confidence": "right, but unsure: top-1 is the ground truth with score < low",
    "true_positive": "right, moderately sure: top-1 is the ground truth, low <= score < high",
    "false_positive_low_confidence": "wrong, without conviction: top-1 is not the ground truth, score < high",
    UNLABELLED: "no ground truth: predictions and maps only",
}
#: the cases only images with annotated objects can fall in
ANNOTATED_CASES = ("right_for_wrong_reasons", "wrong_but_looked_at_object")


@dataclass(frozen=True)
class Thresholds:
    """Score thresholds that sort images into cases and choose which classes get a map.

    Args:
        high: a top-1 score at or above it is a confident decision.
        low: a correct top-1 below it is an unsure hit.
        two: the top two classes both at or above it (ground truth among them) are two competing predictions.
        explain: every class scoring at or above it gets a map (top-1 always does, and the ground truth
            when the model got it wrong).
        object_energy: share of the top-1 map's energy on the annotated objects below which a confident hit is
            right for the wrong reasons (and at or above which a mistake looked at the object).
        border: share of the energy in the outer 10 % band at or above which the map is on the border.
        shared: share of the other images of the predicted class peaking near this one at or above which the
            peak is shared.
        diffuse: share of the energy in the top 5 % of cells below which the map is diffuse.
    """

    high: float = 0.6
    low: float = 0.3
    two: float = 0.25
    explain: float = 0.1
    object_energy: float = 0.5
    border: float = 0.5
    shared: float = 0.5
    diffuse: float = 0.1

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, numbers.Real) or isinstance(value, bool):
                raise SaliencyKitError(f"threshold {name}={value!r}: use a number between 0 and 1.")
            if not 0.0 <= float(value) <= 1.0:
                raise SaliencyKitError(f"threshold {name}={value}: use a score between 0 and 1.")
        if self.low > self.high:
            raise SaliencyKitError(f"thresholds low={self.low} > high={self.high}: low must not exceed high.")

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def classify(
    scores: np.ndarray, gt: int | None, thresholds: Thresholds = Thresholds(), object_energy: float | None = None
) -> str:
    """The case of one image from its class scores (num_classes,), ground-truth index (or ``None``) and, for an
    annotated image, the share of its top-1 map's energy on the objects (:mod:`saliencykit.audit.focus`).

    >>> classify(np.array([0.05, 0.9, 0.05]), 1)
    'true_positive_high_confidence'
    >>> classify(np.array([0.05, 0.9, 0.05]), 1, object_energy=0.2)
    'right_for_wrong_reasons'
    >>> classify(np.array([0.1, 0.5, 0.4]), 2)
    'two_predictions'
    """
    if gt is None:
        return UNLABELLED
    order = np.argsort(-scores, kind="stable")
    top1 = int(order[0])
    score = float(scores[top1])
    right = top1 == gt
    if object_energy is not None:
        if right and score >= thresholds.high and object_energy < thresholds.object_energy:
            return "right_for_wrong_reasons"
        if not right and object_energy >= thresholds.object_energy:
            return "wrong_but_looked_at_object"
    if score >= thresholds.high:
        return "true_positive_high_confidence" if right else "false_positive_high_confidence"
    if len(order) > 1:
        top2 = int(order[1])
        if float(scores[top2]) >= thresholds.two and gt in (top1, top2):
            return "two_predictions"
    if right:
        return "true_positive_low_confidence" if score < thresholds.low else "true_positive"
    return "false_positive_low_confidence"


def explain_targets(scores: np.ndarray, gt: int | None, thresholds: Thresholds, max_maps: int = 10) -> list[int]:
    """Classes to map for one image: those scoring >= ``explain`` (at most ``max_maps``, top-1 always), by
    falling score, then the ground truth when it is not among them.

    >>> explain_targets(np.array([0.05, 0.7, 0.25]), 0, Thresholds())
    [1, 2, 0]
    """
    order = np.argsort(-scores, kind="stable")
    chosen = [int(order[0])]
    for c in order[1:max_maps]:
        if float(scores[c]) < thresholds.explain:
            break
        chosen.append(int(c))
    if gt is not None and gt not in chosen:
        chosen.append(int(gt))
    return chosen
