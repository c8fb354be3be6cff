"""ActivationMap inside the OpenVINO graph: the class-agnostic mean over channels of the target feature map."""

from __future__ import annotations

import openvino as ov
import openvino.opset13 as ops

from .edit import add_named_output, check_output_name, fold_constants, i64, minmax_per_map, record_xai, to_nchw
from .query import resolve_target_layer


def insert_activation_map(
    model: ov.Model, *, target_layer: str | None = None, output_name: str = "saliency_map"
) -> ov.Model:
    """Return a copy of ``model`` with an extra output ``output_name``: the target feature map averaged over
    channels, (N, 1, h, w) float32, min-max scaled to [0, 1] per image.

    It shows where the network's features are strong, whichever class they support - a cheap sanity check
    beside class-specific methods such as ReciproCAM. The original outputs are unchanged.

    >>> explained = insert_activation_map(model)  # doctest: +SKIP
    >>> ov.Core().compile_model(explained)(batch)["saliency_map"].shape  # doctest: +SKIP
    (1, 1, 7, 7)
    """
    check_output_name(model, output_name)
    work = fold_constants(model.clone())
    target = resolve_target_layer(work, target_layer)
    channel_axis = 1 if target.layout == "NCHW" else 3
    mean = ops.reduce_mean(target.output, i64([channel_axis]), keep_dims=True).output(0)
    add_named_output(work, minmax_per_map(to_nchw(mean, target.layout)), output_name)
    record_xai(work, output_name, {"method": "activation_map", "target_layer": target.name})
    return work
