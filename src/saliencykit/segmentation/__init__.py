"""Explaining segmentation models and any scalar a user's scorer reads: regions, explanations, demo explainers.

- ``sk.Explainer(model, task="segmentation")`` — targets are classes over regions
  (:mod:`saliencykit.tasks.segmentation`, :class:`saliencykit.targets.Region`);
- ``sk.Explainer(model, task="scalar", scorer=fn)`` — any number read from the outputs
  (:mod:`saliencykit.tasks.scalar`);
- :class:`SegmentationExplanation` — maps with their regions, outlined in overlays;
- :mod:`saliencykit.segmentation.demo` — ready explainers for MediaPipe's pose model and face detector.
"""

from ..targets import Region
from .explanation import SegmentationExplanation

__all__ = ["Region", "SegmentationExplanation"]
