"""Explanation methods behind two small protocols; :mod:`.registry` is the one list of them by name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import attach
from . import registry

if TYPE_CHECKING:
    from .aise import AISE, AISEDetection
    from .base import SALIENCY_OUTPUT, BlackBoxMethod, Predict, WhiteBoxMethod
    from .rise import DRISE, RISE, FlatMapWarning
    from .sampling import MaskSampler
    from .whitebox import ActivationMap, ReciproCAM, ViTReciproCAM

# the method classes are imported on first use: the registry (method names and help) needs none of them
__getattr__, __dir__ = attach(
    __name__,
    {
        **dict.fromkeys(("AISE", "AISEDetection"), ".aise"),
        **dict.fromkeys(("SALIENCY_OUTPUT", "BlackBoxMethod", "Predict", "WhiteBoxMethod"), ".base"),
        **dict.fromkeys(("DRISE", "RISE", "FlatMapWarning"), ".rise"),
        "MaskSampler": ".sampling",
        **dict.fromkeys(("ActivationMap", "ReciproCAM", "ViTReciproCAM"), ".whitebox"),
    },
    ("aise", "base", "rise", "sampling", "whitebox"),
)

#: the classification methods by name: a live view of :mod:`.registry`
METHODS = registry.View("classification")


def get_method(name: str, **kwargs) -> WhiteBoxMethod | BlackBoxMethod:
    """A classification method object from its registry name, e.g. ``get_method("reciprocam", kernel="gaussian")``."""
    return METHODS.create(name, **kwargs)


__all__ = [
    "AISE",
    "DRISE",
    "AISEDetection",
    "METHODS",
    "RISE",
    "SALIENCY_OUTPUT",
    "ActivationMap",
    "BlackBoxMethod",
    "FlatMapWarning",
    "MaskSampler",
    "Predict",
    "ReciproCAM",
    "ViTReciproCAM",
    "WhiteBoxMethod",
    "get_method",
    "registry",
]
