"""Reading and editing OpenVINO graphs: find the target layer and the logits, insert white-box saliency outputs.

Everything here works on ``openvino.Model`` objects only; it knows nothing of images, files or colormaps.
Insertions return a new model and leave the given one untouched.
"""

from __future__ import annotations

import openvino as ov

from .activation_map import insert_activation_map
from .inspect import (
    GlobalPooling,
    TargetLayer,
    candidate_layers,
    find_global_pooling,
    find_target_layer,
    has_output,
    logits_output,
    resolve_target_layer,
    xai_info,
)
from .reciprocam import insert_reciprocam, one_pass_problem


def has_xai(model: ov.Model, output_name: str = "saliency_map") -> bool:
    """Whether ``model`` already has a saliency output named ``output_name`` (e.g. a reloaded explained IR)."""
    return has_output(model, output_name)


__all__ = [
    "GlobalPooling",
    "TargetLayer",
    "candidate_layers",
    "find_global_pooling",
    "find_target_layer",
    "has_xai",
    "insert_activation_map",
    "insert_reciprocam",
    "logits_output",
    "one_pass_problem",
    "resolve_target_layer",
    "xai_info",
]
