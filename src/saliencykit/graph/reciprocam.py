"""ReciproCAM inside the OpenVINO graph (Byun & Lee, 2022, arXiv:2209.14074).

Split the network at the target feature map ``F`` (N, C, h, w): ``logits = g(F)``. For every spatial
position ``k`` a *mosaic* ``M_k`` keeps ``F`` at ``k`` and zeros elsewhere; the class-``c`` saliency at ``k``
is ``postprocess(g(M_k))[c]``, then every map is min-max scaled to [0, 1] per image and class.

``kernel="gaussian"`` follows the authors' CNN implementation (github.com/sybyun/ReciproCAM,
``_mosaic_feature(..., is_gaussian=True)``): the feature vector ``F[:, k]`` is spread over the 3 x 3
neighbourhood of ``k`` with weights ``[[1/16, 1/8, 1/16], [1/8, 1/4, 1/8], [1/16, 1/8, 1/16]]`` (the
same, unnormalised, weights openvino-xai uses in its ViT ReciproCAM mosaics), so
``M_k[:, k'] = G[k' - k] * F[:, k]`` for the neighbours ``k'`` of ``k`` and zero elsewhere.

Two ways to compute the ``h * w`` mosaic predictions are inserted into the graph:

* **general**: the mosaics ``(N * h * w, C, h, w)`` go through a copy of ``g``. Works for any target layer.
* **one pass**: when ``g = L(GAP(P(F)))`` with ``P`` pointwise per position (1 x 1 convolutions,
  per-channel affine maps, elementwise activations, sums and products of such tensors), then
  ``GAP(P(M_k)) = (P(F)[:, :, k] + (h*w - 1) * P(0)) / (h*w)``: the mosaic predictions need the
  already computed ``P(F)``, ``P`` once on a zero vector (folded to a constant) and ``L`` on ``N * h * w``
  pooled vectors - no ``h * w``-fold copy of the convolutional head. For the Gaussian kernel, with
  ``Q_g = P(g * F)``, ``n_e(k)`` / ``n_d(k)`` the numbers of edge / diagonal neighbours of ``k`` inside the
  map: ``sum_k' P(M_k)[k'] = Q_1/4[k] + n_e(k) Q_1/8[k] + n_d(k) Q_1/16[k] + (h*w - 1 - n_e(k) - n_d(k)) P(0)``.

Min-max scaling magnifies rounding: on CPUs whose OpenVINO plugin defaults to bf16 inference the maps move by
a few hundredths; compile with ``{"INFERENCE_PRECISION_HINT": "f32"}`` when maps must be exact.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from ..errors import GraphError, MethodError
from ..preprocess import POSTPROCESS_NAMES, ends_in_softmax, postprocess_node
from .batch import batch_pattern
from .edit import (
    GAUSSIAN_KERNEL,
    add_named_output,
    check_output_name,
    clone_node,
    first_line,
    fold_constants,
    i64,
    minmax_per_map,
    record_xai,
    to_nchw,
)
from .query import (
    GlobalPooling,
    TargetLayer,
    descendants,
    describe,
    is_constant_like,
    key,
    node_id,
    num_classes,
    output_index,
    resolve_target_layer,
    sample_dims,
    static_dims,
    subgraph,
)

log = logging.getLogger(__name__)

KERNELS = ("hard", "gaussian")


#: Elementwise operations that act on each position on its own (extra inputs must be per-channel constants).
_UNARY = {
    "Relu", "Clamp", "HSwish", "Swish", "Sigmoid", "HSigmoid", "Mish", "Gelu", "Tanh", "Elu", "Exp", "Abs",
    "SoftPlus", "SoftSign", "Negative", "Sqrt", "Erf", "Floor", "Ceiling", "Sign", "Log", "Convert", "PRelu",
    "Selu", "FakeQuantize", "LogicalNot", "Round",
}  # fmt: skip
_BINARY = {"Add", "Subtract", "Multiply", "Divide", "Maximum", "Minimum", "Power", "SquaredDifference"}
_CONVOLUTIONS = {"Convolution", "GroupConvolution"}


def _const(values, like: ov.Output) -> ov.Output:
    return ops.constant(np.asarray(values, dtype=like.get_element_type().to_dtype())).output(0)


# ------------------------------------------------------------------------------------------ copying g


class _Copier:
    """Re-creates a subgraph on new inputs, batch-replicating the tensors it reads from outside."""

    def __init__(self, prefix: str, positions: int, graph_ids: set[int]) -> None:
        self.prefix = prefix
        self.positions = positions  # h * w: each image becomes h * w mosaics
        self.graph_ids = graph_ids  # nodes that depend on the target layer (may not be read from outside)
        self.memo: dict = {}
        self.replicated: dict[tuple[int, int], ov.Output] = {}

    def _replicate(self, value: ov.Output) -> ov.Output:
        """(N, ...) -> (N * h * w, ...), each image repeated h * w times in a row (the mosaics' batch order)."""
        k = key(value)
        if k in self.replicated:
            return self.replicated[k]
        dims = static_dims(value)
        if dims is None or len(dims) < 1 or value.get_element_type().is_integral():
            raise GraphError(
                f"the network after the target layer reads {describe(value)}, which does not come from the target "
                "layer and is not a per-image tensor; choose another target_layer."
            )
        rank = len(dims)
        tiled = ops.tile(ops.unsqueeze(value, i64([1])), i64([1, self.positions] + [1] * (rank - 1)))
        tail = ops.gather(ops.shape_of(value, "i64"), i64(list(range(1, rank))), i64(0))
        out = ops.reshape(tiled, ops.concat([i64([-1]), tail], 0), special_zero=False).output(0)
        self.replicated[k] = out
        return out

    def input_for(self, value: ov.Output, mapping: dict) -> ov.Output:
        k = key(value)
        if k in mapping:
            return mapping[k]
        if node_id(value.get_node()) in self.graph_ids:
            raise GraphError(f"internal: {describe(value)} used before it was copied.")  # pragma: no cover
        if is_constant_like(value, self.memo):
            return value
        return self._replicate(value)

    def copy(self, nodes: list[ov.Node], mapping: dict) -> dict:
        """Copy ``nodes`` (topological order); ``mapping`` maps original output keys to new outputs."""
        for node in nodes:
            inputs = [self.input_for(v, mapping) for v in node.input_values()]
            if node.get_type_name() == "Reshape":  # a static-batch export spells its batch in Reshape targets
                pattern = batch_pattern(node, inputs[0])
                inputs[1] = inputs[1] if pattern is None else pattern
            try:
                new = clone_node(node, inputs)
            except Exception as exc:
                raise GraphError(
                    f"cannot run the network after the target layer on h*w = {self.positions} mosaics: "
                    f"{node.get_type_name()} '{node.get_friendly_name()}' fails ({first_line(exc)}). The model may "
                    "hard-code its batch size; export it with a dynamic batch, or choose another target_layer."
                ) from None
            new.set_friendly_name(f"{self.prefix}/{node.get_friendly_name()}")
            for i, out in enumerate(node.outputs()):
                mapping[key(out)] = new.output(i)
        return mapping


# ----------------------------------------------------------------------------------------- mosaics


def _spread_weights(height: int, width: int, kernel: str) -> np.ndarray:
    """W[k, i', j']: weight of F[:, k] at (i', j') in mosaic k; (h*w, h, w)."""
    weights = np.zeros((height * width, height, width), np.float32)
    for i in range(height):
        for j in range(width):
            k = i * width + j
            if kernel == "hard":
                weights[k, i, j] = 1.0
                continue
            for di in (-1, 0, 1):
                for dj in (-1, 0, 1):
                    if 0 <= i + di < height and 0 <= j + dj < width:
                        weights[k, i + di, j + dj] = GAUSSIAN_KERNEL[di + 1, dj + 1]
    return weights


def _position_vectors(value: ov.Output, channels: int, positions: int) -> ov.Output:
    """(N, C, h, w) -> (N, h*w, C): the feature vector at every position."""
    flat = ops.reshape(value, i64([0, channels, positions]), special_zero=True)
    return ops.transpose(flat, i64([0, 2, 1])).output(0)


def _mosaics(target: TargetLayer, kernel: str) -> ov.Output:
    """(N * h * w, C, h, w) mosaics in the target layer's layout; mosaic n * h * w + k belongs to image n."""
    c, h, w, hw = target.channels, target.height, target.width, target.positions
    feature = to_nchw(target.output, target.layout)
    vectors = ops.reshape(_position_vectors(feature, c, hw), i64([0, hw, c, 1, 1]), special_zero=True)
    spread = _const(_spread_weights(h, w, kernel).reshape(1, hw, 1, h, w), feature)
    mosaics = ops.reshape(ops.multiply(vectors, spread), i64([-1, c, h, w]), special_zero=False).output(0)
    if target.layout == "NHWC":
        mosaics = ops.transpose(mosaics, i64([0, 2, 3, 1])).output(0)
    return mosaics


# ------------------------------------------------------------------------------------ one-pass check


@dataclass
class _OnePassPlan:
    pooling: GlobalPooling
    pointwise: list[ov.Node]  # P: target -> pooled map, topological
    head: list[ov.Node]  # L: after pooling -> logits, topological


def _per_channel(value: ov.Output) -> bool:
    """A constant that broadcasts over an NCHW map without varying over positions."""
    dims = static_dims(value)
    if dims is None or len(dims) > 4 or None in dims:
        return False
    n, _, h, w = [1] * (4 - len(dims)) + dims
    return n == 1 and h == 1 and w == 1


def _pointwise_problem(node: ov.Node, inside: set[int], memo: dict, hw: tuple[int, int]) -> str | None:
    """Why ``node`` is not a per-position operation of the head, or None when it is."""
    kind, name = node.get_type_name(), node.get_friendly_name()
    values = node.input_values()
    if kind in ("ReduceMean", "ReduceMax", "ReduceSum", "AvgPool", "MaxPool", "AdaptiveAvgPool"):
        return f"the head pools with {kind} '{name}' before global pooling (e.g. squeeze-excite)"
    if kind in _CONVOLUTIONS:
        wdims = static_dims(values[1]) or []
        if len(wdims) >= 2 and wdims[-2:] != [1, 1]:
            return f"the head has a {wdims[-2]}x{wdims[-1]} {kind} '{name}' between the target layer and global pooling"
        if any(s != 1 for s in node.get_attributes().get("strides", [1])):
            return f"the head has a strided {kind} '{name}' between the target layer and global pooling"
        if not is_constant_like(values[1], memo):
            return f"{kind} '{name}' has weights computed from the input"
    dims = static_dims(node.output(0)) if node.get_output_size() == 1 else None
    if dims is None or len(dims) != 4 or (dims[2], dims[3]) != hw:
        shape = node.output(0).get_partial_shape() if node.get_output_size() else "no output"
        return f"the head changes the shape of the feature map in {kind} '{name}' ({shape})"
    if kind in _CONVOLUTIONS:
        data = [values[0]]
    elif kind in _UNARY:
        data = [values[0]]
        for extra in values[1:]:
            if not (is_constant_like(extra, memo) and _per_channel(extra)):
                return f"{kind} '{name}' has a parameter that varies over positions or with the input"
    elif kind in _BINARY:
        data = []
        for value in values:
            if node_id(value.get_node()) in inside:
                data.append(value)
            elif not is_constant_like(value, memo):
                return (
                    f"{kind} '{name}' combines the feature map with {describe(value)}, which does not come from "
                    "the target layer (e.g. a skip connection)"
                )
            elif not _per_channel(value):
                return f"{kind} '{name}' adds or multiplies a constant that varies over positions"
    else:
        return f"the head has a {kind} '{name}' between the target layer and global pooling (not a per-position op)"
    for value in data:
        if node_id(value.get_node()) not in inside:
            return f"{kind} '{name}' reads {describe(value)}, which does not come from the target layer"
    return None


def _plan_one_pass(model: ov.Model, target: TargetLayer) -> tuple[_OnePassPlan | None, str]:
    """The one-pass decomposition g = L(GAP(P(F))), or None and the reason it does not hold."""
    pooling = target.pooling
    if pooling is None:
        return None, "no global pooling was found in front of the logits"
    if pooling.kind == "max":
        return None, f"the model pools with global max pooling '{pooling.name}', not an average"
    pooled = pooling.input
    if key(pooled) == key(target.output):
        pointwise: list[ov.Node] = []
    elif node_id(pooled.get_node()) in descendants([target.output]):
        pointwise = subgraph(model, target.output, pooled)
    else:
        return None, f"the global pooling '{pooling.name}' does not read the target layer {describe(target.output)}"
    if pointwise and target.layout != "NCHW":
        return None, "the target layer is NHWC and operations follow it before global pooling"
    inside = {node_id(n) for n in pointwise} | {node_id(target.output.get_node())}
    memo: dict = {}
    hw = (target.height, target.width)
    for node in pointwise:
        problem = _pointwise_problem(node, inside, memo, hw)
        if problem:
            return None, problem
    # every reader of the target layer and of P must be in P or be the global pooling
    allowed = {node_id(n) for n in pointwise} | {node_id(pooling.node)}
    whole = subgraph(model, target.output, target.logits)
    whole_ids = {node_id(n) for n in whole}
    sources = [target.output] + [o for n in pointwise for o in n.outputs()]
    for out in sources:
        for reader in out.get_target_inputs():
            reader_node = reader.get_node()
            rid = node_id(reader_node)
            if rid in whole_ids and rid not in allowed:
                return None, (
                    f"{reader_node.get_type_name()} '{reader_node.get_friendly_name()}' reads {describe(out)} "
                    f"besides the global pooling '{pooling.name}'"
                )
    after = descendants([pooling.node.output(0)])
    head = [n for n in whole if node_id(n) in after]
    head_ids = {node_id(n) for n in head}
    for node in head:
        for value in node.input_values():
            vid = node_id(value.get_node())
            if vid in whole_ids and vid not in head_ids and vid != node_id(pooling.node):
                return None, (
                    f"{node.get_type_name()} '{node.get_friendly_name()}' after global pooling also reads "
                    f"{describe(value)} from before it"
                )
    return _OnePassPlan(pooling, pointwise, head), ""


# ------------------------------------------------------------------------------------ building paths


def _evaluate_pointwise(plan: _OnePassPlan, target: TargetLayer, source: ov.Output, prefix: str) -> ov.Output:
    """P applied to ``source`` (same layout as the target, any batch and spatial size)."""
    if not plan.pointwise:
        return source
    mapping = {key(target.output): source}
    copier = _Copier(prefix, 1, {node_id(n) for n in plan.pointwise})
    copier.copy(plan.pointwise, mapping)
    return mapping[key(plan.pooling.input)]


def _neighbour_counts(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Per position, how many edge (4-connected) and diagonal neighbours lie inside the map; (1, 1, h, w) each."""
    inside = np.pad(np.ones((height, width), np.float32), 1)

    def count(offsets):
        return sum(inside[1 + a : 1 + a + height, 1 + b : 1 + b + width] for a, b in offsets).reshape(
            1, 1, height, width
        )

    return count([(-1, 0), (1, 0), (0, -1), (0, 1)]), count([(-1, -1), (-1, 1), (1, -1), (1, 1)])


def _one_pass_logits(target: TargetLayer, plan: _OnePassPlan, kernel: str, prefix: str, graph_ids: set) -> ov.Output:
    """Mosaic logits (N * h * w, K) from P(F), P(0) and L - see the module docstring for the algebra."""
    h, w, hw = target.height, target.width, target.positions
    pooled_map = plan.pooling.input  # P(F), already computed by the model
    feature = target.output
    zero_map = None
    if plan.pointwise:
        zeros = ops.constant(np.zeros((1, target.channels, 1, 1), feature.get_element_type().to_dtype())).output(0)
        zero_map = _evaluate_pointwise(plan, target, zeros, f"{prefix}/P(0)")  # (1, C', 1, 1), constant
    if kernel == "hard":
        summed = to_nchw(pooled_map, target.layout)
        others = np.full((1, 1, h, w), hw - 1, np.float32)
    else:
        edges, diagonals = _neighbour_counts(h, w)
        others = hw - 1 - edges - diagonals
        centre, edge, diagonal = (
            float(GAUSSIAN_KERNEL[1, 1]),
            float(GAUSSIAN_KERNEL[0, 1]),
            float(GAUSSIAN_KERNEL[0, 0]),
        )
        if not plan.pointwise:  # P is the identity: the sum is F times a per-position weight
            total = centre + edge * edges + diagonal * diagonals
            summed = ops.multiply(to_nchw(feature, target.layout), _const(total, feature)).output(0)
        else:
            terms = []
            for weight, count in ((centre, None), (edge, edges), (diagonal, diagonals)):
                scaled = ops.multiply(feature, _const(weight, feature)).output(0)
                q = _evaluate_pointwise(plan, target, scaled, f"{prefix}/P(F*{weight:g})")
                terms.append(q if count is None else ops.multiply(q, _const(count, q)).output(0))
            summed = ops.add(ops.add(terms[0], terms[1]), terms[2]).output(0)
    if zero_map is not None:
        summed = ops.add(summed, ops.multiply(zero_map, _const(others, zero_map))).output(0)
    summed_dims = sample_dims(summed)
    assert summed_dims is not None  # P keeps the target layer's static channels and size
    channels = summed_dims[0]
    vectors = ops.reshape(_position_vectors(summed, channels, hw), i64([-1, channels]), special_zero=False)
    if plan.pooling.kind == "mean":
        vectors = ops.multiply(vectors, _const(1.0 / hw, vectors.output(0)))
    if plan.pooling.keep_dims:
        shape = [-1, channels, 1, 1] if plan.pooling.layout == "NCHW" else [-1, 1, 1, channels]
    else:
        shape = [-1, *(sample_dims(plan.pooling.node.output(0)) or [channels])]
    pooled = ops.reshape(vectors, i64(shape), special_zero=False).output(0)
    mapping = {key(plan.pooling.node.output(0)): pooled}
    _Copier(prefix, hw, graph_ids).copy(plan.head, mapping)
    return mapping[key(target.logits)]


def _general_logits(model: ov.Model, target: TargetLayer, kernel: str, prefix: str) -> ov.Output:
    nodes = subgraph(model, target.output, target.logits)
    mapping = {key(target.output): _mosaics(target, kernel)}
    _Copier(prefix, target.positions, {node_id(n) for n in nodes}).copy(nodes, mapping)
    return mapping[key(target.logits)]


def _scores_to_maps(logits: ov.Output, target: TargetLayer, classes: int, postprocess: str) -> ov.Output:
    """(N * h * w, K...) mosaic predictions -> (N, K, h, w) saliency maps, min-max scaled per map."""
    scores = ops.reshape(logits, i64([-1, classes]), special_zero=False).output(0)
    scores = postprocess_node(scores, postprocess)
    per_image = ops.reshape(scores, i64([-1, target.positions, classes]), special_zero=False)
    maps = ops.reshape(
        ops.transpose(per_image, i64([0, 2, 1])), i64([0, classes, target.height, target.width]), special_zero=True
    )
    return minmax_per_map(maps.output(0))


# ---------------------------------------------------------------------------------------- public API


def one_pass_problem(model: ov.Model, target_layer: str | None = None) -> str | None:
    """Why the one-pass ReciproCAM does not apply to ``model`` at ``target_layer``; None when it does."""
    work = fold_constants(model.clone())
    target = resolve_target_layer(work, target_layer)
    plan, reason = _plan_one_pass(work, target)
    return None if plan is not None else reason


def insert_reciprocam(
    model: ov.Model,
    *,
    target_layer: str | None = None,
    postprocess: str = "softmax",
    one_pass: bool | str = "auto",
    kernel: str = "hard",
    output_name: str = "saliency_map",
) -> ov.Model:
    """Return a copy of ``model`` with an extra output ``output_name``: ReciproCAM maps (N, K, h, w) float32.

    The original outputs are unchanged. Each map ``[n, c]`` is min-max scaled to [0, 1].

    Args:
        model: a CNN classifier whose (first 2-D) output holds class scores.
        target_layer: friendly name of the feature map to explain; by default the last spatial map before
            global pooling (see :func:`saliencykit.graph.candidate_layers` for others).
        postprocess: ``"softmax"``, ``"sigmoid"`` or ``"identity"``, applied to every mosaic prediction.
            A model that ends in a Softmax already is not given a second one.
        one_pass: ``"auto"`` uses the one-pass computation when the network between the target layer and
            global pooling is pointwise, ``True`` requires it (raises :class:`GraphError` saying why not),
            ``False`` always copies the network after the target layer for the mosaics.
        kernel: ``"hard"`` keeps one position per mosaic; ``"gaussian"`` spreads it over 3 x 3 neighbours.
        output_name: tensor name of the new output.

    >>> explained = insert_reciprocam(model)  # doctest: +SKIP
    >>> ov.Core().compile_model(explained)(batch)["saliency_map"].shape  # doctest: +SKIP
    (1, 1000, 7, 7)
    """
    if kernel not in KERNELS:
        raise MethodError(f"kernel='{kernel}': use one of {', '.join(KERNELS)}.")
    if postprocess not in POSTPROCESS_NAMES:
        raise MethodError(f"postprocess={postprocess!r}: use one of {', '.join(POSTPROCESS_NAMES)}.")
    if one_pass not in (True, False, "auto"):
        raise MethodError(f"one_pass={one_pass!r}: use True, False or 'auto'.")
    check_output_name(model, output_name)
    work = fold_constants(model.clone())
    target = resolve_target_layer(work, target_layer)
    classes = num_classes(target.logits)
    if postprocess == "softmax" and ends_in_softmax(work, output_index(work, target.logits)):
        postprocess = "identity"

    plan, reason = (None, "one_pass=False") if one_pass is False else _plan_one_pass(work, target)
    if one_pass is True and plan is None:
        raise GraphError(
            f"one_pass=True: the one-pass ReciproCAM does not apply at target layer '{target.name}': {reason}. "
            "Use one_pass='auto' or False to copy the network after the target layer instead."
        )
    prefix = f"{output_name}/reciprocam"
    graph_ids = {node_id(n) for n in subgraph(work, target.output, target.logits)}
    if plan is not None:
        logits = _one_pass_logits(target, plan, kernel, prefix, graph_ids)
        path = "one-pass"
    else:
        log.info("ReciproCAM at '%s' copies the network after it (%s)", target.name, reason)
        logits = _general_logits(work, target, kernel, prefix)
        path = "general"
    maps = _scores_to_maps(logits, target, classes, postprocess)
    add_named_output(work, maps, output_name)
    info = {"method": "reciprocam", "path": path, "kernel": kernel, "target_layer": target.name}
    record_xai(work, output_name, {**info, "postprocess": postprocess})
    return work
