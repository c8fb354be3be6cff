"""openvino-xai 1.1's enums."""

from __future__ import annotations

from enum import Enum


class Task(Enum):
    CLASSIFICATION = "classification"
    DETECTION = "detection"


class Method(Enum):
    ACTIVATIONMAP = "activation_map"
    RECIPROCAM = "reciprocam"
    VITRECIPROCAM = "vit_reciprocam"
    DETCLASSPROBABILITYMAP = "detclassprobabilitymap"
    RISE = "rise"
    AISE = "aise"
