"""openvino-xai 1.1's ``Task`` and ``Method`` enums, with its values (``Method("activationmap")`` works)."""

from __future__ import annotations

from enum import Enum


class Task(Enum):
    """The task of the explained model."""

    CLASSIFICATION = "classification"
    DETECTION = "detection"


class Method(Enum):
    """openvino-xai's method names; saliencykit's own registry spells two of them differently."""

    ACTIVATIONMAP = "activationmap"
    RECIPROCAM = "reciprocam"
    VITRECIPROCAM = "vitreciprocam"
    DETCLASSPROBABILITYMAP = "detclassprobabilitymap"
    RISE = "rise"
    AISE = "aise"

    @classmethod
    def _missing_(cls, value: object) -> Method | None:
        """Also accept saliencykit's spellings (``activation_map``, ``vit_reciprocam``, any case)."""
        if isinstance(value, str):
            key = value.lower().replace("_", "").replace("-", "")
            for member in cls:
                if member.value == key:
                    return member
        return None


WhiteBoxXAIMethods = {Method.ACTIVATIONMAP, Method.RECIPROCAM, Method.DETCLASSPROBABILITYMAP}
BlackBoxXAIMethods = {Method.RISE, Method.AISE}
ClassificationXAIMethods = {Method.ACTIVATIONMAP, Method.RECIPROCAM, Method.RISE, Method.AISE}
DetectionXAIMethods = {Method.DETCLASSPROBABILITYMAP}
