"""Explanation methods behind two small protocols; :mod:`.registry` is the one list of them by name."""

from __future__ import annotations

from . import registry
from .aise import AISE, AISEDetection
from .base import SALIENCY_OUTPUT, BlackBoxMethod, Predict, WhiteBoxMethod
from .rise import DRISE, RISE, FlatMapWarning
from .sampling import MaskSampler
from .whitebox import ActivationMap, ReciproCAM, ViTReciproCAM

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
