"""The batch dimension of a model, in one place: make it dynamic, fix it, and free a batch the graph hard-codes.

Three callers need "reshape the batch": :class:`saliencykit.ModelRunner` (a dynamic batch, or a fixed one for
callers that always send many samples), black-box detection (TFLite and some ONNX exports write a batch of 1
into their final ``Reshape`` nodes) and the white-box insertions, which run ``h * w`` mosaics per image through
the rest of the network and so multiply the batch that such ``Reshape`` nodes spell out.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from .edit import first_line, i64
from .query import select_input, static_dims

log = logging.getLogger(__name__)


def reshape_input(model: ov.Model, port: ov.Output, dims: Sequence[ov.Dimension]) -> str | None:
    """Reshape ``model``'s input ``port`` to ``dims`` in place; on failure restore it and return why (one line).

    ``None`` means the reshape went through (outputs may still not follow it: see :func:`set_batch`).
    """
    original = {p: p.get_partial_shape() for p in model.inputs}
    try:
        model.reshape({port: ov.PartialShape(list(dims))})
    except Exception as exc:  # OpenVINO's shape inference explains in a long internal message
        model.reshape(original)
        return first_line(exc)
    return None


def _follows(output: ov.Output, batch: int | None) -> bool:
    """Whether the model output's first dimension is the requested batch (None: dynamic)."""
    shape = output.get_partial_shape()
    if shape.rank.is_dynamic or shape.rank.get_length() == 0:
        return batch is None
    first = shape[0]
    return first.is_dynamic if batch is None else first.is_static and first.get_length() == batch


def set_batch(model: ov.Model, input_name: str | None, batch: int | None) -> bool:
    """Give ``model``'s image input the batch ``batch`` (``None``: dynamic), in place.

    True when every output then has that batch too. False when the input has no batch axis or the graph
    hard-codes its batch (shape inference fails, or an output keeps a fixed batch); the model is then unchanged.
    """
    port = select_input(model, input_name)
    shape = port.get_partial_shape()
    if shape.rank.is_dynamic or shape.rank.get_length() == 0:
        return batch is None  # no fixed batch axis: anything goes, nothing can be fixed
    if batch is None and shape[0].is_dynamic:
        return True
    original = {p: p.get_partial_shape() for p in model.inputs}
    wanted = ov.Dimension(-1) if batch is None else ov.Dimension(int(batch))
    if reshape_input(model, port, [wanted] + [shape[i] for i in range(1, shape.rank.get_length())]) is not None:
        return False
    if not all(_follows(o, batch) for o in model.outputs):
        model.reshape(original)  # the batch does not reach every output: the graph hard-codes it somewhere
        return False
    return True


def make_batch_dynamic(model: ov.Model, input_name: str | None = None) -> tuple[ov.Model, bool]:
    """Reshape a model whose batch is fixed to a dynamic batch, in place; return (model, batch_is_dynamic).

    Models that hard-code their batch size internally cannot be reshaped; they keep their static batch and
    the runner feeds them one sample per request.
    """
    dynamic = set_batch(model, input_name, None)
    if not dynamic:
        log.info("model batch could not be made dynamic; inferring one sample per request")
    return model, dynamic


def batch_pattern(node: ov.Node, data: ov.Output) -> ov.Output | None:
    """For a ``Reshape`` whose constant target shape spells out its input's batch (``[1, -1, K]`` in a static
    export), a target shape that takes the batch from ``data`` (the reshape's new input) instead; else ``None``.
    """
    source = node.input_value(1).get_node()
    in_dims, out_dims = static_dims(node.input_value(0)), static_dims(node.output(0))
    if source.get_type_name() != "Constant" or not in_dims or not out_dims:
        return None
    values = np.array(source.get_data()).astype(np.int64).reshape(-1)
    batch = in_dims[0]
    if batch is None or len(values) == 0 or values[0] != batch or out_dims[0] != batch:
        return None
    dim0 = ops.gather(ops.shape_of(data, "i64"), i64([0]), i64(0))
    return ops.concat([dim0, i64(values[1:])], 0).output(0) if len(values) > 1 else dim0.output(0)


def free_batch(model: ov.Model, input_name: str | None = None) -> ov.Model:
    """A copy of ``model`` that accepts any batch size when its graph hard-codes a batch of 1.

    TFLite and some ONNX exports write the batch into their final reshapes (``Reshape(x, [1, -1, K])``), so
    OpenVINO cannot make the batch dynamic and every masked image would need its own inference. Such reshapes
    take their batch from their input instead (:func:`batch_pattern`). When the result still does not have a
    dynamic batch on every output, the model is returned unchanged (the runner then infers one image per request).
    """
    work = model.clone()
    shape = select_input(work, input_name).get_partial_shape()
    if shape.rank.is_dynamic or shape[0].is_dynamic or shape[0].get_length() != 1:
        return model
    changed = 0
    for node in work.get_ordered_ops():
        if node.get_type_name() != "Reshape":
            continue
        pattern = batch_pattern(node, node.input_value(0))
        if pattern is not None:
            node.input(1).replace_source_output(pattern)
            changed += 1
    if not changed or not set_batch(work, input_name, None):
        return model
    log.info("freed the hard-coded batch of %d reshape(s): masked images go through in batches", changed)
    return work


def refold_batch(node: ov.Node, before_in: ov.PartialShape, before_out: ov.PartialShape) -> None:
    """Let a ``Reshape`` whose input's leading (batch) dimension grew keep its other dimensions: ``[-1, ...]``.

    Its target shape, constant or computed from tensors before the change, still spells the old batch; it becomes
    ``[-1, <the original trailing output dimensions>]``. Used where extra samples are folded into the batch in
    the middle of a graph (ViT-ReciproCAM's mosaics).
    """
    if before_out.rank.is_dynamic or before_out.rank.get_length() == 0 or before_in.rank.is_dynamic:
        return
    trailing = [before_out[i] for i in range(1, before_out.rank.get_length())]
    if not all(d.is_static for d in trailing):
        return
    now = node.get_input_partial_shape(0)
    if now.rank.is_dynamic or now.rank.get_length() == 0 or before_in.rank.get_length() == 0:
        return
    grew = now[0].is_dynamic or before_in[0].is_dynamic or now[0].get_length() != before_in[0].get_length()
    if grew:
        node.input(1).replace_source_output(i64([-1] + [d.get_length() for d in trailing]))
