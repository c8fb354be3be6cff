"""Editing OpenVINO graphs: the shared building blocks of every saliency insertion.

Constants, node cloning, constant folding, NCHW conversion, min-max scaling, adding a named output and recording
what was inserted in the model's runtime info. Reading a graph is :mod:`saliencykit.graph.query`; reshaping the
batch is :mod:`saliencykit.graph.batch`. Insertions edit a clone, never the user's model.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import openvino as ov
import openvino.opset13 as ops
from openvino.passes import ConstantFolding, Manager
from openvino.utils.node_factory import NodeFactory

from ..errors import GraphError
from .query import has_output

#: 3 x 3 Gaussian spreading weights (centre, edge neighbours, diagonal neighbours) of ReciproCAM's ``"gaussian"``
#: kernel and ViT-ReciproCAM's ``use_gaussian``, as the authors and openvino-xai use them (not normalised).
GAUSSIAN_KERNEL = np.array([[1 / 16, 1 / 8, 1 / 16], [1 / 8, 1 / 4, 1 / 8], [1 / 16, 1 / 8, 1 / 16]], np.float32)

#: What :func:`record_xai` may store about a saliency output, read back by :func:`xai_info`.
XAI_FIELDS = ("method", "path", "kernel", "target_layer", "postprocess")

_FACTORIES: dict[str, NodeFactory] = {}


def i64(values) -> ov.Output:
    """An int64 constant (axes, shapes, indices)."""
    return ops.constant(np.array(values, dtype=np.int64)).output(0)


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an OpenVINO exception (its type name when it has no text), for one-line messages."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__


def clone_node(node: ov.Node, inputs: list[ov.Output]) -> ov.Node:
    """A new node of the same type and attributes as ``node`` reading ``inputs`` (shapes are re-inferred)."""
    version = node.get_type_info().version_id
    if version not in _FACTORIES:
        _FACTORIES[version] = NodeFactory(version)
    return _FACTORIES[version].create(node.get_type_name(), inputs, node.get_attributes())


def fold_constants(model: ov.Model) -> ov.Model:
    """Constant-fold ``model`` in place (shape subgraphs of ONNX models, bias reshapes...) and return it."""
    manager = Manager()
    manager.register_pass(ConstantFolding())
    manager.run_passes(model)
    return model


def check_output_name(model: ov.Model, name: str) -> None:
    """Raise :class:`GraphError` when ``name`` is empty or already names a model output."""
    if not isinstance(name, str) or not name:
        raise GraphError(f"output_name={name!r}: give a non-empty string.")
    if has_output(model, name):
        raise GraphError(
            f"the model already has an output named '{name}' (was a saliency map inserted already?); pass "
            "another output_name= or insert into the original model."
        )


def to_nchw(value: ov.Output, layout: str) -> ov.Output:
    """``value`` in NCHW order (a Transpose for NHWC maps)."""
    if layout == "NCHW":
        return value
    return ops.transpose(value, i64([0, 3, 1, 2])).output(0)


def minmax_per_map(maps: ov.Output) -> ov.Output:
    """Scale every ``maps[n, t]`` (N, T, h, w) to [0, 1]; constant maps become 0. Output is float32."""
    axes = i64([2, 3])
    low = ops.reduce_min(maps, axes, keep_dims=True)
    high = ops.reduce_max(maps, axes, keep_dims=True)
    span = ops.subtract(high, low)
    dtype = maps.get_element_type()
    one = ops.constant(np.array(1, dtype.to_dtype()))
    zero = ops.constant(np.array(0, dtype.to_dtype()))
    safe = ops.select(ops.greater(span, zero), span, one)
    out = ops.divide(ops.subtract(maps, low), safe).output(0)
    if dtype != ov.Type.f32:
        out = ops.convert(out, "f32").output(0)
    return out


def add_named_output(model: ov.Model, value: ov.Output, name: str, *, hint: str = "") -> None:
    """Append a Result reading ``value`` (as float32) to ``model`` with the tensor name ``name``; re-infer shapes.

    When shape inference fails the model cannot carry the new output: :class:`GraphError` with OpenVINO's first
    line and ``hint`` (what the user can do about it).
    """
    if value.get_element_type() != ov.Type.f32:
        value = ops.convert(value, "f32").output(0)
    value.get_node().set_friendly_name(name)
    value.get_tensor().set_names({name})
    result = ops.result(value)
    result.set_friendly_name(f"{name}/sink_port_0")
    model.add_results([result])
    try:
        model.validate_nodes_and_infer_types()
    except RuntimeError as exc:
        raise GraphError(
            f"the saliency output '{name}' does not fit the model's shapes ({first_line(exc)}).{hint}"
        ) from None


def record_xai(model: ov.Model, output_name: str, info: Mapping[str, str]) -> None:
    """Store what was inserted as ``output_name`` (method, path, kernel, target_layer, postprocess) in the model's
    runtime info, where :func:`xai_info` reads it and ``openvino.save_model`` keeps it."""
    for field, value in info.items():
        if field not in XAI_FIELDS:
            raise ValueError(f"internal: unknown xai_info field '{field}'")  # pragma: no cover
        model.set_rt_info(str(value), ["saliencykit", "xai", output_name, field])


def xai_info(model: ov.Model, output_name: str = "saliency_map") -> dict[str, str]:
    """What saliencykit recorded about the saliency output ``output_name`` (method, path, target_layer...).

    Stored in the model's runtime info, so it survives ``openvino.save_model``; empty when there is none.
    """
    info = {}
    for field in XAI_FIELDS:
        path = ["saliencykit", "xai", output_name, field]
        if model.has_rt_info(path):
            info[field] = model.get_rt_info(path).astype(str)
    return info
