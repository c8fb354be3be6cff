"""openvino-xai 1.1's ``Task`` and ``Method`` enums, with its values (``Method("activationmap")`` works)."""

from __future__ import annotations

from enum import Enum

from ...errors import MethodError
from ...methods import registry


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
        """Also accept saliencykit's spellings and aliases (``activation_map``, ``vit_reciprocam``, any case)."""
        if isinstance(value, str):
            try:
                spec = registry.lookup(value)
            except MethodError:
                return None
            for name in (spec.name, *spec.aliases):
                key = name.lower().replace("_", "").replace("-", "")
                for member in cls:
                    if member.value == key:
                        return member
        return None

    @property
    def kind(self) -> str:
        """``"whitebox"`` or ``"blackbox"``, as saliencykit's method registry says."""
        return registry.lookup(self.value).kind


WhiteBoxXAIMethods = {m for m in Method if m.kind == "whitebox"}
BlackBoxXAIMethods = {m for m in Method if m.kind == "blackbox"}
ClassificationXAIMethods = {Method.ACTIVATIONMAP, Method.RECIPROCAM, Method.RISE, Method.AISE}
DetectionXAIMethods = {Method.DETCLASSPROBABILITYMAP}
