"""Explaining segmentation models and any scalar a user's scorer reads: regions, explanations, demo explainers.

- ``sk.Explainer(model, task="segmentation")`` — targets are classes over regions
  (:mod:`saliencykit.tasks.segmentation`, :class:`saliencykit.targets.Region`);
- ``sk.Explainer(model, task="scalar", scorer=fn)`` — any number read from the outputs
  (:mod:`saliencykit.tasks.scalar`);
- :class:`SegmentationExplanation` — maps with their regions, outlined in overlays;
- :mod:`saliencykit.segmentation.demo` — ready explainers for MediaPipe's pose model and face detector.
"""

from typing import TYPE_CHECKING

from ..lazy import attach

if TYPE_CHECKING:
    from ..targets import Region
    from .demo import face_explainer, person_scenes, pose_explainer, pose_model, pose_presence, presence_explainer
    from .explanation import SegmentationExplanation

# every name is imported on first use: the demo explainers load OpenVINO, the package itself does not
__getattr__, __dir__ = attach(
    __name__,
    {
        "Region": "..targets",
        "SegmentationExplanation": ".explanation",
        "face_explainer": ".demo",
        "pose_presence": ".demo",
        "person_scenes": ".demo",
        "pose_explainer": ".demo",
        "pose_model": ".demo",
        "presence_explainer": ".demo",
    },
    ("demo", "explanation"),
)

__all__ = [
    "Region",
    "SegmentationExplanation",
    "face_explainer",
    "person_scenes",
    "pose_explainer",
    "pose_model",
    "pose_presence",
    "presence_explainer",
]
