"""Explanation methods behind two small protocols, and a registry by name."""

from __future__ import annotations

from ..errors import MethodError
from .aise import AISE
from .base import SALIENCY_OUTPUT, BlackBoxMethod, Predict, WhiteBoxMethod
from .rise import RISE, FlatMapWarning
from .sampling import MaskSampler
from .whitebox import ActivationMap, ReciproCAM, ViTReciproCAM

METHODS: dict[str, type] = {
    "reciprocam": ReciproCAM,
    "vit_reciprocam": ViTReciproCAM,
    "activation_map": ActivationMap,
    "rise": RISE,
    "aise": AISE,
}


def get_method(name: str, **kwargs) -> WhiteBoxMethod | BlackBoxMethod:
    """A method object from its registry name, e.g. ``get_method("reciprocam", kernel="gaussian")``."""
    key = name.lower().replace("-", "_")
    if key not in METHODS:
        raise MethodError(f"method '{name}' is unknown; available: {', '.join(METHODS)}.")
    return METHODS[key](**kwargs)


__all__ = [
    "AISE",
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
]
