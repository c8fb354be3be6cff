"""openvino-xai 1.1's ``openvino_xai.methods``."""

from .black_box.aise.classification import AISEClassification
from .black_box.rise import RISE
from .white_box.activation_map import ActivationMap
from .white_box.base import WhiteBoxMethod
from .white_box.det_class_probability_map import DetClassProbabilityMap
from .white_box.recipro_cam import FeatureMapPerturbationBase, ReciproCAM, ViTReciproCAM

__all__ = [
    "AISEClassification",
    "ActivationMap",
    "DetClassProbabilityMap",
    "FeatureMapPerturbationBase",
    "RISE",
    "ReciproCAM",
    "ViTReciproCAM",
    "WhiteBoxMethod",
]
