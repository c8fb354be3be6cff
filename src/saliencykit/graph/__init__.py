"""Reading and editing OpenVINO graphs: find the target layer and the logits, insert white-box saliency outputs.

Everything here works on ``openvino.Model`` objects only; it knows nothing of images, files or colormaps.
Insertions return a new model and leave the given one untouched.

* :mod:`.query` reads a graph (inputs, logits, pooling, target layers, nodes by name, subgraphs);
* :mod:`.edit` holds the building blocks every insertion shares (constants, min-max, named outputs, run-time
  info);
* :mod:`.batch` reshapes the batch dimension (dynamic, fixed, or freed where the graph hard-codes it);
* :mod:`.reciprocam`, :mod:`.activation_map`, :mod:`.vit`, :mod:`.detection` and :mod:`.blend` are the insertions.

The insertions that need preprocessing or the runtime core (ReciproCAM, the ViT methods, detection) are loaded
on first use, so that :mod:`saliencykit.model` can use :mod:`.batch` without importing them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import openvino as ov

from .activation_map import insert_activation_map
from .edit import xai_info
from .query import (
    GlobalPooling,
    TargetLayer,
    candidate_layers,
    find_global_pooling,
    find_node,
    find_target_layer,
    has_output,
    logits_output,
    resolve_target_layer,
)

if TYPE_CHECKING:
    from .reciprocam import insert_reciprocam, one_pass_problem

_LAZY = {"insert_reciprocam": "reciprocam", "one_pass_problem": "reciprocam"}


def __getattr__(name: str) -> Any:
    """Load the insertions listed in ``_LAZY`` on first access."""
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def has_xai(model: ov.Model, output_name: str = "saliency_map") -> bool:
    """Whether ``model`` already has a saliency output named ``output_name`` (e.g. a reloaded explained IR)."""
    return has_output(model, output_name)


__all__ = [
    "GlobalPooling",
    "TargetLayer",
    "candidate_layers",
    "find_global_pooling",
    "find_node",
    "find_target_layer",
    "has_xai",
    "insert_activation_map",
    "insert_reciprocam",
    "logits_output",
    "one_pass_problem",
    "resolve_target_layer",
    "xai_info",
]
