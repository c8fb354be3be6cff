"""Explaining object detectors: per-box saliency maps, white-box inside the graph or black-box.

- :class:`DetectionExplainer` — ``sk.Explainer(..., task="detection")``; targets are boxes
  (:mod:`saliencykit.tasks.detection`);
- :class:`DetClassProbabilityMap` — white-box per-class maps from the class head at every scale, or with
  ``per_box=True`` one map per box from its own anchors (:mod:`saliencykit.graph.detection`);
- :class:`DRISE` and :class:`AISEDetection` — RISE and AISE with the detection task's box targets and defaults
  (:mod:`saliencykit.methods.rise`, :mod:`saliencykit.methods.aise`);
- :mod:`saliencykit.detection.ssd` — anchors, box decoding and NMS for SSD-style models, with presets for the
  MediaPipe BlazeFace and palm detectors (the example to copy for your own detector).
"""

from typing import TYPE_CHECKING

from ..lazy import attach

if TYPE_CHECKING:
    from ..methods import DRISE, AISEDetection
    from .base import Detect, DetectionBlackBoxMethod, DetectionWhiteBoxMethod
    from .boxes import DetectionBatch, Detections, box_iou, box_similarity, normalize_boxes, scale_boxes
    from .explainer import DETECTION_METHODS, DetectionExplainer, get_detection_method
    from .explanation import DetectionExplanation
    from .ssd import (
        AnchorOptions,
        SSDPostprocess,
        anchor_grids,
        blazeface,
        decode_boxes,
        mediapipe_model_path,
        non_max_suppression,
        palm_detection,
        ssd_anchors,
    )
    from .whitebox import DetClassProbabilityMap

# every name is imported on first use, so importing one submodule does not import them all
__getattr__, __dir__ = attach(
    __name__,
    {
        "DRISE": "..methods",
        "AISEDetection": "..methods",
        "Detect": ".base",
        "DetectionBlackBoxMethod": ".base",
        "DetectionWhiteBoxMethod": ".base",
        "DetectionBatch": ".boxes",
        "Detections": ".boxes",
        "box_iou": ".boxes",
        "box_similarity": ".boxes",
        "normalize_boxes": ".boxes",
        "scale_boxes": ".boxes",
        "DETECTION_METHODS": ".explainer",
        "DetectionExplainer": ".explainer",
        "get_detection_method": ".explainer",
        "DetectionExplanation": ".explanation",
        "AnchorOptions": ".ssd",
        "SSDPostprocess": ".ssd",
        "anchor_grids": ".ssd",
        "blazeface": ".ssd",
        "decode_boxes": ".ssd",
        "mediapipe_model_path": ".ssd",
        "non_max_suppression": ".ssd",
        "palm_detection": ".ssd",
        "ssd_anchors": ".ssd",
        "DetClassProbabilityMap": ".whitebox",
    },
    ("base", "boxes", "explainer", "explanation", "ssd", "whitebox"),
)

__all__ = [
    "AISEDetection",
    "AnchorOptions",
    "DETECTION_METHODS",
    "DRISE",
    "DetClassProbabilityMap",
    "Detect",
    "DetectionBatch",
    "DetectionBlackBoxMethod",
    "DetectionExplainer",
    "DetectionExplanation",
    "DetectionWhiteBoxMethod",
    "Detections",
    "SSDPostprocess",
    "anchor_grids",
    "blazeface",
    "box_iou",
    "box_similarity",
    "decode_boxes",
    "get_detection_method",
    "mediapipe_model_path",
    "non_max_suppression",
    "normalize_boxes",
    "palm_detection",
    "scale_boxes",
    "ssd_anchors",
]
