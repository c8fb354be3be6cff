"""Reading OpenVINO graphs: the image input, the logits, global pooling, the target feature map, nodes by name,
and the subgraphs between them.

Nothing here edits a model (that is :mod:`saliencykit.graph.edit`); the white-box insertions read a clone of the
user's model with these queries, then edit the clone.

Vocabulary used throughout:

* **logits** - the model output that holds class scores, ``(N, K)`` (or ``(N, K, 1, 1)``).
* **target layer** - the spatial feature map ``F`` the saliency map is computed on, ``(N, C, h, w)``. By
  default the last spatial feature map in front of global pooling (the input of the ``GAP`` node).
* **global pooling** - how ``convert_model`` and the ONNX reader express ``AdaptiveAvgPool2d(1)``,
  ``x.mean((2, 3))`` and ONNX ``GlobalAveragePool``: a ``ReduceMean`` over the spatial axes (its axes are a
  ``Range`` computed from the rank for ONNX models); also ``AvgPool`` / ``AdaptiveAvgPool`` whose output is
  1 x 1, ``ReduceMax`` / ``MaxPool`` (global max pooling) and ``ReduceSum``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import openvino as ov

from ..errors import GraphError, ModelInputError

try:  # partial value propagation: evaluates shape subgraphs such as ONNX GlobalAveragePool's axes
    from openvino.experimental import evaluate_both_bounds
except ImportError:  # pragma: no cover - older OpenVINO
    evaluate_both_bounds = None

_REDUCE_KIND = {"ReduceMean": "mean", "ReduceMax": "max", "ReduceSum": "sum"}
_POOL_KIND = {"AvgPool": "mean", "AdaptiveAvgPool": "mean", "MaxPool": "max", "AdaptiveMaxPool": "max"}


# ----------------------------------------------------------------------------------------------- basics


def select_input(model: ov.Model, input_name: str | None = None) -> ov.Output:
    """The model input that receives images: the only one, or the one named ``input_name``."""
    inputs = list(model.inputs)
    if input_name is None:
        if len(inputs) != 1:
            names = [next(iter(i.get_names()), f"#{n}") for n, i in enumerate(inputs)]
            raise ModelInputError(
                f"model has {len(inputs)} inputs ({', '.join(names)}); name the image input with input_name= "
                "(CLI: --input-name)."
            )
        return inputs[0]
    for i in inputs:
        if input_name in i.get_names():
            return i
    names = [n for i in inputs for n in i.get_names()]
    raise ModelInputError(
        f"model has no input named '{input_name}'; its inputs are: {', '.join(names)}. Pass one of them as "
        "input_name= (CLI: --input-name)."
    )


def key(output: ov.Output) -> tuple[int, int]:
    """A hashable identity for a node output (Python wrappers of one node are not identical objects)."""
    return (output.get_node().get_instance_id(), output.get_index())


def node_id(node: ov.Node) -> int:
    """A hashable identity for a node."""
    return node.get_instance_id()


def describe(output: ov.Output) -> str:
    """``'friendly_name' (Type, shape)`` for messages."""
    node = output.get_node()
    port = f":{output.get_index()}" if node.get_output_size() > 1 else ""
    return f"'{node.get_friendly_name()}{port}' ({node.get_type_name()}, {output.get_partial_shape()})"


def const_value(output: ov.Output) -> np.ndarray | None:
    """The value of ``output`` when it is known without running the model (a Constant or a foldable shape
    computation such as ``Range(2, rank(x))``), else ``None``."""
    node = output.get_node()
    if node.get_type_name() == "Constant":
        return np.array(node.get_data())
    if evaluate_both_bounds is None or not output.get_element_type().is_integral():
        return None
    try:
        low, high = evaluate_both_bounds(output)
    except Exception:  # bounds are not implemented for every operation
        return None
    if not low or not high:
        return None
    low, high = np.array(low.data), np.array(high.data)
    return low if low.shape == high.shape and np.array_equal(low, high) else None


def static_dims(output: ov.Output) -> list[int | None] | None:
    """The output's dimensions (``None`` for a dynamic one), or ``None`` for a dynamic rank."""
    shape = output.get_partial_shape()
    if shape.rank.is_dynamic:
        return None
    return [d.get_length() if d.is_static else None for d in shape]


def sample_dims(output: ov.Output) -> list[int] | None:
    """The dimensions after the batch when the rank and every one of them are static, else ``None``."""
    dims = static_dims(output)
    if dims is None or len(dims) < 1:
        return None
    rest = [d for d in dims[1:] if d is not None]
    return rest if len(rest) == len(dims) - 1 else None


def is_spatial(output: ov.Output) -> bool:
    """Whether ``output`` looks like a 4-D feature map with a spatial extent (NCHW or NHWC, h * w > 1)."""
    dims = static_dims(output)
    if dims is None or len(dims) != 4 or not output.get_element_type().is_real():
        return False
    return sum(1 for d in dims[1:] if d is None or d > 1) >= 2


def is_constant_like(output: ov.Output, _memo: dict | None = None) -> bool:
    """Whether ``output`` depends on no model input (Constants and operations on them, e.g. decompression)."""
    memo = {} if _memo is None else _memo
    root = output.get_node()
    stack = [(root, False)]
    while stack:  # iterative post-order: a node is decided after all its inputs
        node, expanded = stack.pop()
        nid = node_id(node)
        if nid in memo:
            continue
        if node.get_input_size() == 0:
            memo[nid] = node.get_type_name() == "Constant"
        elif node.get_type_name() == "ReadValue":
            memo[nid] = False
        elif expanded:
            memo[nid] = all(memo[node_id(v.get_node())] for v in node.input_values())
        else:
            stack.append((node, True))
            stack.extend((v.get_node(), False) for v in node.input_values() if node_id(v.get_node()) not in memo)
    return memo[node_id(root)]


# --------------------------------------------------------------------------------------------- pooling


@dataclass(frozen=True)
class GlobalPooling:
    """A global pooling node: ``kind`` is ``"mean"``, ``"max"`` or ``"sum"``; ``layout`` is that of its input."""

    node: ov.Node
    kind: str
    layout: str
    keep_dims: bool

    @property
    def input(self) -> ov.Output:
        """The pooled feature map."""
        return self.node.input_value(0)

    @property
    def name(self) -> str:
        return self.node.get_friendly_name()


def global_pooling(node: ov.Node) -> GlobalPooling | None:
    """Describe ``node`` as global pooling over the spatial axes of a 4-D map, or ``None`` if it is not one."""
    kind_name = node.get_type_name()
    if kind_name not in _REDUCE_KIND and kind_name not in _POOL_KIND:
        return None
    source = node.input_value(0)
    dims = static_dims(source)
    if dims is None or len(dims) != 4:
        return None
    out_dims = static_dims(node.output(0))
    if kind_name in _REDUCE_KIND:
        axes = const_value(node.input_value(1))
        if axes is None:
            return None
        pooled = frozenset(int(a) % 4 for a in np.atleast_1d(axes))
        layout = {frozenset({2, 3}): "NCHW", frozenset({1, 2}): "NHWC"}.get(pooled)
        if layout is None:
            return None
        return GlobalPooling(node, _REDUCE_KIND[kind_name], layout, keep_dims=len(out_dims or []) == 4)
    # AvgPool / MaxPool / AdaptiveAvgPool / AdaptiveMaxPool work on NCHW and keep the rank
    if out_dims is None or len(out_dims) != 4 or out_dims[2:] != [1, 1]:
        return None
    if kind_name in ("AvgPool", "MaxPool"):
        attrs = node.get_attributes()
        if dims[2] is None or dims[3] is None or list(attrs.get("kernel", [])) != dims[2:]:
            return None
        if any(attrs.get("pads_begin", [])) or any(attrs.get("pads_end", [])):
            return None
    return GlobalPooling(node, _POOL_KIND[kind_name], "NCHW", keep_dims=True)


# ---------------------------------------------------------------------------------------------- logits


def logits_output(model: ov.Model, output: int | str | None = None) -> ov.Output:
    """The node output that produces the class scores (what the model's Result reads).

    ``output`` selects a model output by index or tensor name; by default the only output, or the first
    2-D ``(N, K)`` one when the model has several.
    """
    outputs = list(model.outputs)
    if isinstance(output, int):
        if not 0 <= output < len(outputs):
            raise GraphError(f"model has {len(outputs)} outputs; output={output} is out of range.")
        chosen = outputs[output]
    elif isinstance(output, str):
        matches = [o for o in outputs if output in o.get_names()]
        if not matches:
            names = ", ".join(sorted(n for o in outputs for n in o.get_names())) or "(unnamed)"
            raise GraphError(f"model has no output named '{output}'; its outputs are: {names}.")
        chosen = matches[0]
    elif len(outputs) == 1:
        chosen = outputs[0]
    else:
        ranks = [static_dims(o) for o in outputs]
        two_d = [o for o, d in zip(outputs, ranks, strict=True) if d is not None and len(d) == 2]
        if not two_d:
            raise GraphError(
                f"model has {len(outputs)} outputs and none is 2-D (N, classes); pass output= (index or name) "
                "to say which one holds the class scores."
            )
        chosen = two_d[0]
    # the Output of the model is the Result's input
    result = chosen.get_node()
    return result.input_value(0) if result.get_type_name() == "Result" else chosen


def output_index(model: ov.Model, logits: ov.Output) -> int:
    """Index in ``model.outputs`` of the Result that reads ``logits``."""
    for i, out in enumerate(model.outputs):
        node = out.get_node()
        source = node.input_value(0) if node.get_type_name() == "Result" else out
        if key(source) == key(logits):
            return i
    raise GraphError(f"{describe(logits)} is not a model output.")


def num_classes(logits: ov.Output) -> int:
    """Number of classes: the product of the static non-batch dimensions of the logits."""
    dims = sample_dims(logits)
    if not dims:
        raise GraphError(
            f"the logits {describe(logits)} need a static number of classes (N, K); this model's is unknown."
        )
    count = int(np.prod(dims))
    if count != max(dims):
        raise GraphError(
            f"the logits {describe(logits)} are not (N, K) class scores; white-box methods explain classifiers."
        )
    return count


# --------------------------------------------------------------------------------------- target layers


@dataclass(frozen=True)
class TargetLayer:
    """A resolved target feature map and what the saliency methods need to know about it."""

    output: ov.Output
    layout: str
    channels: int
    height: int
    width: int
    logits: ov.Output
    pooling: GlobalPooling | None

    @property
    def name(self) -> str:
        return self.output.get_node().get_friendly_name()

    @property
    def positions(self) -> int:
        return self.height * self.width


def _frontier(logits: ov.Output) -> list[tuple[ov.Output, ov.Node]]:
    """Spatial feature maps met first when walking back from the logits, with the node that consumes each."""
    found: list[tuple[ov.Output, ov.Node]] = []
    seen_nodes = {node_id(logits.get_node())}
    memo: dict = {}
    stack = [logits.get_node()]
    if is_spatial(logits):
        return []
    while stack:
        node = stack.pop()
        for value in node.input_values():
            source = value.get_node()
            if source.get_type_name() == "Parameter" or is_constant_like(value, memo):
                continue
            if is_spatial(value):  # recorded once per consumer: a ShapeOf may meet the map before the pooling
                if node.get_type_name() != "ShapeOf":
                    found.append((value, node))
                continue
            if node_id(source) not in seen_nodes:
                seen_nodes.add(node_id(source))
                stack.append(source)
    return found


def candidate_layers(model: ov.Model, limit: int | None = 8) -> list[str]:
    """Friendly names of nodes with a spatial 4-D output, in graph order; the last ``limit`` of them.

    These are the layers a white-box method can take as ``target_layer=``.
    """
    names = [
        node.get_friendly_name()
        for node in model.get_ordered_ops()
        if node.get_type_name() not in ("Parameter", "Constant")
        and node.get_output_size() > 0
        and is_spatial(node.output(0))
    ]
    return names if limit is None else names[-limit:]


def candidates_text(model: ov.Model, limit: int = 8) -> str:
    """The last ``limit`` spatial layers, one ``describe`` line each, for error messages."""
    by_name = {n.get_friendly_name(): n for n in model.get_ordered_ops()}
    lines = [f"  {describe(by_name[name].output(0))}" for name in candidate_layers(model, limit)]
    return "\n".join(lines) if lines else "  (none: the model has no 4-D spatial feature maps)"


def find_global_pooling(model: ov.Model, output: int | str | None = None) -> GlobalPooling:
    """The global pooling node in front of the logits (the last spatial map flows through it).

    Raises :class:`GraphError` listing candidate layers when there is none, or more than one.
    """
    logits = logits_output(model, output)
    frontier = _frontier(logits)
    pools = {}
    others = []
    for value, consumer in frontier:
        pooling = global_pooling(consumer)
        if pooling is not None and key(pooling.input) == key(value):
            pools[node_id(consumer)] = pooling
        else:
            others.append((value, consumer))
    if len(pools) == 1 and not others:
        return next(iter(pools.values()))
    if not frontier:
        why = "no spatial feature map reaches the logits"
    elif not pools:
        value, consumer = others[0]
        why = (
            f"the last spatial feature map {describe(value)} reaches the logits through "
            f"{consumer.get_type_name()} '{consumer.get_friendly_name()}', not through global pooling"
        )
    else:
        maps = ", ".join(describe(v) for v, _ in frontier)
        why = f"several spatial feature maps reach the logits ({maps})"
    raise GraphError(
        f"cannot find the target layer automatically: {why}. Pass target_layer= with the friendly name of a "
        f"spatial feature map; the last ones in this model are:\n{candidates_text(model)}"
    )


def find_node(model: ov.Model, name: str) -> ov.Node:
    """The node whose friendly name (or one of whose output tensor names) is ``name``."""
    ops = model.get_ordered_ops()
    matches = [n for n in ops if n.get_friendly_name() == name]
    if not matches:
        matches = [n for n in ops if any(name in o.get_names() for o in n.outputs())]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise GraphError(f"target_layer='{name}': {len(matches)} nodes have that name; use a unique tensor name.")
    spatial = candidate_layers(model, limit=None)
    seen = set(spatial)
    others = [n.get_friendly_name() for n in ops if n.get_friendly_name() not in seen]
    close = difflib.get_close_matches(name, spatial, n=5, cutoff=0.6)  # feature maps first: they can be explained
    close += difflib.get_close_matches(name, others, n=5 - len(close), cutoff=0.6) if len(close) < 5 else []
    hint = f" Did you mean: {', '.join(repr(c) for c in close)}?" if close else ""
    raise GraphError(
        f"target_layer='{name}': the model has no node with that name (CLI: --target-layer).{hint} The last "
        "spatial feature maps "
        f"in this model are:\n{candidates_text(model)}"
    )


def resolve_target_layer(
    model: ov.Model, target_layer: str | None = None, output: int | str | None = None
) -> TargetLayer:
    """Find the target feature map (``target_layer`` overrides the default) and check that it can be used."""
    logits = logits_output(model, output)
    pooling: GlobalPooling | None
    if target_layer is None:
        pooling = find_global_pooling(model, output)
        value = pooling.input
    else:
        try:
            pooling = find_global_pooling(model, output)
        except GraphError:
            pooling = None
        node = find_node(model, target_layer)
        spatial = [o for o in node.outputs() if is_spatial(o)]
        if not spatial:
            shapes = ", ".join(str(o.get_partial_shape()) for o in node.outputs()) or "no outputs"
            raise GraphError(
                f"target_layer='{target_layer}' ({node.get_type_name()}, {shapes}) is not a spatial 4-D feature "
                f"map. The last spatial feature maps in this model are:\n{candidates_text(model)}"
            )
        value = spatial[0]
    layout = pooling.layout if pooling is not None and key(pooling.input) == key(value) else "NCHW"
    dims = static_dims(value)
    assert dims is not None
    c, h, w = (dims[1], dims[2], dims[3]) if layout == "NCHW" else (dims[3], dims[1], dims[2])
    if c is None or h is None or w is None:
        raise GraphError(
            f"the target layer {describe(value)} has a dynamic channel or spatial size; give the input size with "
            "Preprocess(size=...) (CLI: --size), which fixes it, or reshape the model to a fixed input size "
            "(model.reshape({input: [-1, 3, H, W]}))."
        )
    if key(value) != key(logits) and not _reaches(value, logits):
        raise GraphError(f"the target layer {describe(value)} does not feed the logits {describe(logits)}.")
    return TargetLayer(value, layout, c, h, w, logits, pooling)


def find_target_layer(model: ov.Model, target_layer: str | None = None, output: int | str | None = None) -> ov.Output:
    """The output of the target layer: the last spatial feature map before global pooling, or ``target_layer``.

    >>> find_target_layer(model).get_node().get_friendly_name()  # doctest: +SKIP
    '__module._swish/aten::hardtanh/Clamp_1'

    Raises :class:`saliencykit.errors.GraphError` listing candidate layers when nothing fits.
    """
    return resolve_target_layer(model, target_layer, output).output


# -------------------------------------------------------------------------------------------- subgraphs


def _reaches(start: ov.Output, end: ov.Output) -> bool:
    return node_id(end.get_node()) in descendants([start])


def descendants(starts: Iterable[ov.Output]) -> set[int]:
    """Ids of the nodes that consume ``starts`` directly or indirectly (Results excluded)."""
    seen: set[int] = set()
    stack = [t.get_node() for s in starts for t in s.get_target_inputs()]
    while stack:
        node = stack.pop()
        nid = node_id(node)
        if nid in seen or node.get_type_name() == "Result":
            continue
        seen.add(nid)
        stack.extend(t.get_node() for o in node.outputs() for t in o.get_target_inputs())
    return seen


def upstream_nodes(end: ov.Node, stop: Iterable[ov.Node] = ()) -> list[ov.Node]:
    """``end`` and every node it depends on, not walking past (nor including) the nodes in ``stop``."""
    stopped = {node_id(n) for n in stop}
    seen: set[int] = set()
    found = []
    stack = [end]
    while stack:
        node = stack.pop()
        nid = node_id(node)
        if nid in seen or nid in stopped:
            continue
        seen.add(nid)
        found.append(node)
        stack.extend(v.get_node() for v in node.input_values())
    return found


def ancestors(end: ov.Node) -> set[int]:
    """Ids of ``end`` and every node it depends on."""
    return {node_id(n) for n in upstream_nodes(end)}


def subgraph(model: ov.Model, start: ov.Output, end: ov.Output) -> list[ov.Node]:
    """Nodes that depend on ``start`` and that ``end`` depends on, in topological order (``end`` included)."""
    inside = descendants([start]) & ancestors(end.get_node())
    return [n for n in model.get_ordered_ops() if node_id(n) in inside]


# ---------------------------------------------------------------------------------------------- outputs


def has_output(model: ov.Model, name: str) -> bool:
    """Whether one of the model's outputs carries the tensor name ``name``."""
    return any(name in out.get_names() for out in model.outputs)
