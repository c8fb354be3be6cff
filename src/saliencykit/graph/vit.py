"""Vision-transformer white-box methods inside the OpenVINO graph: ViT-ReciproCAM and the token activation map.

ViT-ReciproCAM (Byun & Lee, arXiv 2310.02588) explains a transformer classifier without gradients. At the input
of a chosen transformer block it builds one *mosaic* token sequence per patch position k: the class (and other
prefix) tokens are kept, patch token k is kept (or its 3 x 3 neighbourhood with Gaussian weights) and every
other patch token is zeroed. The mosaics run through the rest of the network and the score of class c for the
mosaic of position k becomes the saliency of c at k. As in openvino-xai's ``ViTReciproCAM``, the mask is
applied both to the block's input (the residual stream that skips the attention) and to the output of the
block's first LayerNorm; the attention, the rest of the block, the following blocks and the head then run on
the masked tokens.

Everything happens inside one graph: :func:`insert_vit_reciprocam` returns a copy of the model with one extra
output ``(N, num_classes, h, w)`` so that one inference gives the logits and the maps.

How the graph is read (:func:`find_vit_target`):

* LayerNorm-like subgraphs: an ``MVN`` over the last axis, or its decomposition ``x - ReduceMean(x)`` divided by
  (or multiplied with) a function of itself (``Sqrt``/``Power`` of the variance), each followed by the optional
  constant scale and shift. A norm is found by its input and its output tensors, never by counting consumers:
  current exporters give the output of a LayerNorm several consumers (``ShapeOf`` nodes, separate q/k/v
  projections), on which openvino-xai 1.1 fails with ``Number of normalization outputs > 1!``.
* A transformer block is such a norm on a rank-3 token tensor ``(N, T, D)`` whose input also feeds a residual
  ``Add`` that depends on the norm's output through an attention branch (``Softmax``,
  ``ScaledDotProductAttention`` or a ``MatMul`` of two activations). Blocks are ordered along the graph.
* The token layout: the grid ``h x w`` comes from the patch-embedding ``Convolution`` upstream of the block when
  its output has a size that fits the token count (else ``h = w = isqrt(T)``); the remaining ``T - h * w``
  leading tokens are prefix tokens (class / distillation / register tokens).

The rest of the network is copied from a clone of the model, so batch-size constants can be rewritten in the
copy (static-batch-1 models hard-code the batch in their ``Reshape`` nodes) without touching the original
outputs.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from ..errors import GraphError, MethodError
from ..preprocess import POSTPROCESS_NAMES, postprocess_node, resolve_postprocess
from .batch import refold_batch
from .edit import GAUSSIAN_KERNEL, add_named_output, check_output_name, first_line, i64, minmax_per_map, record_xai
from .query import const_value, key, logits_output, upstream_nodes

log = logging.getLogger(__name__)

__all__ = [
    "GAUSSIAN_KERNEL",
    "ViTTarget",
    "find_vit_target",
    "insert_vit_activation_map",
    "insert_vit_reciprocam",
    "list_vit_blocks",
    "token_masks",
]

_VARIABLE_TYPES = {"Parameter", "ReadValue"}
_ATTENTION_TYPES = {"Softmax", "SoftMax", "ScaledDotProductAttention"}
#: what a batch-fixing layer after the target block means for the user
_BATCH_HINT = (
    " A layer after the target block probably fixes the batch size. Export the model with a dynamic batch, or use a "
    "black-box method."
)


# ------------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ViTTarget:
    """Where ViT methods act on a model: a transformer block's first LayerNorm and the token layout.

    Attributes:
        norm_name: friendly name of the node that outputs the block's first LayerNorm (``target_layer=``).
        block: index of the block among the detected blocks (0 = first); -1 when ``target_layer`` named another
            pre-norm residual branch (e.g. a block's second norm, before its MLP).
        num_blocks: number of transformer blocks detected.
        num_tokens: tokens per image at the block's input (``T``).
        num_prefix: leading tokens that are not patches (class, distillation or register tokens).
        grid: patch grid ``(h, w)``, ``h * w = T - num_prefix``.
        dim: embedding width ``D``.
    """

    norm_name: str
    block: int
    num_blocks: int
    num_tokens: int
    num_prefix: int
    grid: tuple[int, int]
    dim: int


@dataclass(eq=False)
class _Norm:
    """A LayerNorm-like subgraph: its input ``x``, its output ``y`` and the nodes in between."""

    x: ov.Output
    y: ov.Output
    nodes: set = field(default_factory=set)
    kind: str = "MVN"

    @property
    def name(self) -> str:
        return self.y.get_node().get_friendly_name()


@dataclass(eq=False)
class _Block:
    norm: _Norm
    residual: ov.Node
    attention: bool


# ------------------------------------------------------------------------------------------- graph helpers


class _Graph:
    """An ordered view of a model: topological index of every node and whether it depends on an input."""

    def __init__(self, model: ov.Model) -> None:
        self.ops = list(model.get_ordered_ops())
        self.index = {node: i for i, node in enumerate(self.ops)}
        self.variable: dict = {}
        for node in self.ops:
            self.variable[node] = node.get_type_name() in _VARIABLE_TYPES or any(
                self.variable.get(p, False) for p in _producers(node)
            )

    def is_constant(self, output: ov.Output) -> bool:
        return not self.variable.get(output.get_node(), True)

    def between(self, start: ov.Node, end: ov.Node, limit: int = 20000) -> set:
        """Non-constant nodes on paths from ``start`` (excluded) to ``end`` (included)."""
        lo = self.index[start]
        seen: set[ov.Node] = set()
        forward: set[ov.Node] = set()
        stack = [end]
        while stack and len(seen) < limit:
            node = stack.pop()
            if node in seen or node == start or self.index.get(node, -1) <= lo or not self.variable[node]:
                continue
            seen.add(node)
            stack.extend(_producers(node))
        # keep the nodes that are also downstream of start
        stack = [c for c in _all_consumers(start) if c in seen]
        while stack:
            node = stack.pop()
            if node in forward:
                continue
            forward.add(node)
            stack.extend(c for c in _all_consumers(node) if c in seen)
        return forward


def _producers(node: ov.Node) -> list:
    return [node.input_value(i).get_node() for i in range(node.get_input_size())]


def _consumers(output: ov.Output) -> list:
    return [target.get_node() for target in output.get_target_inputs()]


def _all_consumers(node: ov.Node) -> list:
    return [c for out in node.outputs() for c in _consumers(out)]


def _last_axis_only(axes_output: ov.Output, rank: int) -> bool:
    axes = const_value(axes_output)
    if axes is None or axes.size != 1:
        return False
    return int(axes.reshape(-1)[0]) % rank == rank - 1


def _rank(output: ov.Output) -> int | None:
    shape = output.get_partial_shape()
    return shape.rank.get_length() if shape.rank.is_static else None


def _other_input(node: ov.Node, output: ov.Output) -> ov.Output | None:
    values = [node.input_value(i) for i in range(node.get_input_size())]
    others = [v for v in values if key(v) != key(output)]
    return others[0] if len(others) == 1 and len(values) == 2 else None


# ---------------------------------------------------------------------------------------------- detection


def _find_norms(graph: _Graph) -> list[_Norm]:
    norms = []
    for node in graph.ops:
        kind = node.get_type_name()
        start = None
        if kind == "MVN" and node.get_input_size() == 2:
            x = node.input_value(0)
            rank = _rank(x)
            if rank is not None and _last_axis_only(node.input_value(1), rank):
                start = node.output(0)
        elif kind == "ReduceMean":
            x = node.input_value(0)
            rank = _rank(x)
            if rank is None or not _last_axis_only(node.input_value(1), rank):
                continue
            start = _decomposed_norm_output(node, x)
        if start is None:
            continue
        y = _extend_affine(graph, start)
        nodes = graph.between(x.get_node(), y.get_node())
        norms.append(_Norm(x=x, y=y, nodes=nodes, kind="MVN" if kind == "MVN" else "decomposed"))
    return norms


def _decomposed_norm_output(mean: ov.Node, x: ov.Output) -> ov.Output | None:
    """``(x - mean(x)) / sqrt(var + eps)`` or ``(x - mean(x)) * rsqrt(...)``: the normalised output."""
    for sub in _consumers(mean.output(0)):
        if sub.get_type_name() != "Subtract" or key(sub.input_value(0)) != key(x):
            continue
        centred = sub.output(0)
        for node in _consumers(centred):
            if node.get_type_name() not in ("Divide", "Multiply"):
                continue
            other = _other_input(node, centred)
            if other is None or other.get_node() == sub:
                continue  # (x - mean)^2 written as a product with itself is the variance, not the output
            if _depends_on(other.get_node(), sub, limit=12):
                return node.output(0)
    return None


def _depends_on(node: ov.Node, ancestor: ov.Node, limit: int) -> bool:
    stack, seen = [(node, 0)], set()
    while stack:
        current, depth = stack.pop()
        if current == ancestor:
            return True
        if current in seen or depth >= limit:
            continue
        seen.add(current)
        stack.extend((p, depth + 1) for p in _producers(current))
    return False


def _extend_affine(graph: _Graph, start: ov.Output) -> ov.Output:
    """Follow the LayerNorm's constant scale and shift (``Multiply``/``Add`` by constants) after the normalisation.

    Only the consumers that compute values count: ``ShapeOf`` consumers are ignored, and the walk stops where the
    output is used by several nodes (the norm's output is then wherever the chain stopped).
    """
    out = start
    for _ in range(4):
        users = [c for c in _consumers(out) if c.get_type_name() != "ShapeOf"]
        if len(users) != 1 or users[0].get_type_name() not in ("Multiply", "Add"):
            break
        other = _other_input(users[0], out)
        if other is None or not graph.is_constant(other):
            break
        if users[0].get_output_partial_shape(0) != out.get_partial_shape():
            break
        out = users[0].output(0)
    return out


def _find_blocks(graph: _Graph, norms: list[_Norm]) -> tuple[list[_Block], list[str]]:
    """Norms on (N, T, D) tokens whose input also feeds a residual Add fed by a branch from the norm's output."""
    blocks, rejected = [], []
    for norm in norms:
        if _rank(norm.x) != 3:
            rejected.append(f"{norm.name} (input rank {_rank(norm.x)}, not N x tokens x dim)")
            continue
        found = None
        for add in _consumers(norm.x):
            if add.get_type_name() != "Add" or add in norm.nodes:
                continue
            other = _other_input(add, norm.x)
            if other is None:
                continue
            branch = graph.between(norm.y.get_node(), other.get_node())
            if not branch and other.get_node() != norm.y.get_node():
                continue
            attention = any(_is_attention(graph, n) for n in branch)
            found = _Block(norm=norm, residual=add, attention=attention)
            break
        if found is None:
            rejected.append(f"{norm.name} (no residual Add around it)")
        else:
            blocks.append(found)
    return blocks, rejected


def _is_attention(graph: _Graph, node: ov.Node) -> bool:
    kind = node.get_type_name()
    if kind in _ATTENTION_TYPES:
        return True
    if kind == "MatMul":
        return all(graph.variable.get(p, True) for p in _producers(node))
    return False


def _token_layout(graph: _Graph, x: ov.Output) -> tuple[int, int, tuple[int, int], int]:
    shape = x.get_partial_shape()
    if shape[1].is_dynamic or shape[2].is_dynamic:
        raise GraphError(
            f"the transformer block input '{x.get_node().get_friendly_name()}' has shape {shape}: the number of "
            "tokens and the embedding width must be static. Reshape the model to a fixed image size first."
        )
    tokens, dim = shape[1].get_length(), shape[2].get_length()
    grid = _patch_grid(graph, x.get_node(), tokens)
    if grid is None:
        side = math.isqrt(tokens)
        if side < 2:
            raise GraphError(f"the transformer block input has {tokens} tokens: too few for a patch grid.")
        grid = (side, side)
    prefix = tokens - grid[0] * grid[1]
    return tokens, prefix, grid, dim


def _patch_grid(graph: _Graph, start: ov.Node, tokens: int) -> tuple[int, int] | None:
    """The output size of the patch-embedding convolution upstream of ``start`` when it fits the tokens."""
    stack, seen = [start], set[ov.Node]()
    while stack and len(seen) < 5000:
        node = stack.pop()
        if node in seen or not graph.variable.get(node, False):
            continue
        seen.add(node)
        if node.get_type_name() == "Convolution":
            shape = node.get_output_partial_shape(0)
            if shape.rank.is_static and shape.rank.get_length() == 4 and shape[2].is_static and shape[3].is_static:
                h, w = shape[2].get_length(), shape[3].get_length()
                if 0 <= tokens - h * w < h * w:
                    return h, w
            continue
        stack.extend(_producers(node))
    return None


def _norm_node_names(norm: _Norm) -> set[str]:
    return {n.get_friendly_name() for n in norm.nodes} | {norm.name}


def _select(
    model: ov.Model, target_layer: str | None, block_index: int
) -> tuple[_Graph, _Norm, int, int, tuple[int, int, tuple[int, int], int]]:
    graph = _Graph(model)
    norms = _find_norms(graph)
    blocks, rejected = _find_blocks(graph, norms)
    attention_blocks = sorted((b for b in blocks if b.attention), key=lambda b: graph.index[b.norm.y.get_node()])
    if target_layer is not None:
        chosen = _by_name(graph, norms, blocks, target_layer)
        position = next((i for i, b in enumerate(attention_blocks) if b.norm is chosen.norm), -1)
        return graph, chosen.norm, position, len(attention_blocks), _token_layout(graph, chosen.norm.x)
    if not attention_blocks:
        candidates = rejected + [f"{b.norm.name} (residual branch without attention)" for b in blocks]
        listed = "; ".join(candidates[:12]) if candidates else "none: the graph has no MVN or ReduceMean-based norm"
        raise GraphError(
            "no transformer block found: looked for a LayerNorm (MVN over the last axis, or its ReduceMean/"
            "Subtract/Sqrt decomposition) on N x tokens x dim activations whose input also feeds a residual Add "
            f"through an attention branch (Softmax, ScaledDotProductAttention or MatMul of two activations). "
            f"LayerNorm candidates: {listed}. Use a CNN method for this model, or name the block's first norm "
            "with target_layer=."
        )
    count = len(attention_blocks)
    if not -count <= block_index < count:
        raise GraphError(
            f"block_index={block_index}: the model has {count} transformer blocks (use -{count}..{count - 1})."
        )
    position = block_index % count
    block = attention_blocks[position]
    return graph, block.norm, position, count, _token_layout(graph, block.norm.x)


def _by_name(graph: _Graph, norms: list[_Norm], blocks: list[_Block], name: str) -> _Block:
    usable = {b.norm: b for b in blocks}
    for norm in norms:
        if name in _norm_node_names(norm):
            if norm not in usable:
                raise GraphError(
                    f"target_layer='{name}' is a LayerNorm without a residual Add around it (e.g. the final norm). "
                    + _listing(graph, blocks)
                )
            return usable[norm]
    # openvino-xai names the residual Add between blocks: take the block that starts there
    for block in sorted(blocks, key=lambda b: graph.index[b.norm.y.get_node()]):
        if block.norm.x.get_node().get_friendly_name() == name and block.attention:
            return block
    known = [n for n in graph.ops if n.get_friendly_name() == name]
    what = f"a {known[0].get_type_name()} node, not part of a LayerNorm" if known else "not a node of this model"
    raise GraphError(f"target_layer='{name}' is {what}. {_listing(graph, blocks)}")


def _listing(graph: _Graph, blocks: list[_Block]) -> str:
    first = [b.norm.name for b in sorted(blocks, key=lambda b: graph.index[b.norm.y.get_node()]) if b.attention]
    other = [b.norm.name for b in blocks if not b.attention]
    text = f"First norms of the transformer blocks: {', '.join(first) or 'none found'}"
    return text + (f"; other pre-norm residual branches: {', '.join(other)}." if other else ".")


def list_vit_blocks(model: ov.Model) -> list[str]:
    """Friendly names of the first LayerNorm of every transformer block found in ``model``, in graph order.

    >>> list_vit_blocks(vit_model)[-1]  # doctest: +SKIP
    '__module.blocks.3.norm1/aten::layer_norm/Add'
    """
    graph = _Graph(model)
    blocks, _ = _find_blocks(graph, _find_norms(graph))
    attention = sorted((b for b in blocks if b.attention), key=lambda b: graph.index[b.norm.y.get_node()])
    return [b.norm.name for b in attention]


def find_vit_target(model: ov.Model, *, target_layer: str | None = None, block_index: int = -1) -> ViTTarget:
    """Locate the transformer block ViT methods act on and the token layout; raise :class:`GraphError` if none.

    Args:
        model: an OpenVINO classifier with transformer blocks (ViT, DeiT, ...).
        target_layer: friendly name of a node of the block's first LayerNorm (or of the residual ``Add`` that
            feeds the block, as in openvino-xai); overrides ``block_index``.
        block_index: which block, counted among the detected blocks (``-1`` = the last one).

    >>> find_vit_target(vit_model).grid  # doctest: +SKIP
    (14, 14)
    """
    _, norm, position, count, (tokens, prefix, grid, dim) = _select(model, target_layer, block_index)
    return ViTTarget(norm.name, position, count, tokens, prefix, grid, dim)


# --------------------------------------------------------------------------------------------- insertion


def token_masks(grid: tuple[int, int], num_prefix: int, use_gaussian: bool = False) -> np.ndarray:
    """Token weights of every mosaic: ``(h * w, num_prefix + h * w)`` float32.

    Row ``k = i * w + j`` keeps the prefix tokens (weight 1) and patch ``(i, j)`` (weight 1), or with
    ``use_gaussian`` its 3 x 3 neighbourhood weighted by :data:`GAUSSIAN_KERNEL` (cut at the border, not
    renormalised, as in openvino-xai).

    >>> token_masks((2, 2), 1)[3]
    array([1., 0., 0., 0., 1.], dtype=float32)
    """
    h, w = grid
    masks = np.zeros((h * w, num_prefix + h * w), np.float32)
    masks[:, :num_prefix] = 1.0
    if not use_gaussian:
        masks[:, num_prefix:] = np.eye(h * w, dtype=np.float32)
        return masks
    padded = np.zeros((h * w, h + 2, w + 2), np.float32)
    for i in range(h):
        for j in range(w):
            padded[i * w + j, i : i + 3, j : j + 3] = GAUSSIAN_KERNEL
    masks[:, num_prefix:] = padded[:, 1:-1, 1:-1].reshape(h * w, h * w)
    return masks


def _mosaic(x: ov.Output, masks: np.ndarray, tokens: int, dim: int, name: str) -> ov.Output:
    """(N, T, D) -> (N * K, T, D): every image times every mask row, image-major."""
    weights = ops.constant(masks[None, :, :, None], ov.Type.f32, name=f"{name}/masks")
    source = x if x.get_element_type() == ov.Type.f32 else ops.convert(x, ov.Type.f32).output(0)
    expanded = ops.unsqueeze(source, i64([1]), name=f"{name}/unsqueeze")
    masked = ops.multiply(expanded, weights, name=f"{name}/multiply")
    out = ops.reshape(masked, i64([-1, tokens, dim]), False, name=name).output(0)
    if x.get_element_type() != ov.Type.f32:
        out = ops.convert(out, x.get_element_type()).output(0)
    return out


def insert_vit_reciprocam(
    model: ov.Model,
    *,
    target_layer: str | None = None,
    block_index: int = -1,
    postprocess: str = "softmax",
    use_gaussian: bool = False,
    output_name: str = "saliency_map",
) -> ov.Model:
    """Return a copy of ``model`` with a ViT-ReciproCAM output ``(N, num_classes, h, w)`` float32 in [0, 1].

    Each of the ``h * w`` patch positions gets a mosaic token sequence (prefix tokens and that patch kept, other
    patches zeroed) at the input of the chosen block and after the block's first LayerNorm; the ``N * h * w``
    mosaics run through a copy of the rest of the network inside the graph. The class scores after
    ``postprocess`` (``"softmax"``, ``"sigmoid"`` or ``"identity"``; a model that already ends in a softmax is
    used as is) form the maps, min-max normalised per class and image. The original outputs are unchanged.

    Args:
        model: an OpenVINO transformer classifier whose first output is ``(N, num_classes)``; static or dynamic
            batch.
        target_layer: friendly name of a node of the target block's first LayerNorm; overrides ``block_index``.
        block_index: the block whose input is masked, among the detected blocks; ``-1`` (the default) is the last.
        postprocess: how logits become scores.
        use_gaussian: keep a 3 x 3 Gaussian-weighted neighbourhood instead of the single token.
        output_name: name of the new output.

    Raises:
        GraphError: no transformer block was found (e.g. a CNN), or the rest of the network cannot take
            the mosaics as a batch.

    >>> explained = insert_vit_reciprocam(vit_model)  # doctest: +SKIP
    >>> ov.compile_model(explained)(images)["saliency_map"].shape  # doctest: +SKIP
    (1, 1000, 14, 14)
    """
    if callable(postprocess) or postprocess not in POSTPROCESS_NAMES:
        raise MethodError(
            f"postprocess={postprocess!r}: in-graph ViT-ReciproCAM takes one of {', '.join(POSTPROCESS_NAMES)}."
        )
    check_output_name(model, output_name)
    scoring = resolve_postprocess(model, postprocess)
    assert isinstance(scoring, str)  # a name stays a name ("softmax" may become "identity")
    result = model.clone()
    branch = model.clone()
    graph, norm, _, _, (tokens, prefix, grid, dim) = _select(result, target_layer, block_index)
    logits_shape = logits_output(result, 0).get_partial_shape()
    if logits_shape.rank.is_dynamic or logits_shape.rank.get_length() != 2:
        raise GraphError(
            f"the model's first output has shape {logits_shape}; ViT-ReciproCAM needs class scores (N, classes)."
        )

    masks = token_masks(grid, prefix, use_gaussian)
    mosaic_x = _mosaic(norm.x, masks, tokens, dim, f"{output_name}/vit/mosaic_input")
    mosaic_y = _mosaic(norm.y, masks, tokens, dim, f"{output_name}/vit/mosaic_norm")

    scores = _rest_of_network(result, graph, branch, norm, mosaic_x, mosaic_y, len(masks), output_name)
    scores = postprocess_node(scores, scoring)
    h, w = grid
    shape = ops.concat(
        [i64([-1, h * w]), ops.gather(ops.shape_of(scores), [1], 0)], 0
    )  # (N * h * w, C) -> (N, h * w, C)
    per_image = ops.reshape(scores, shape, False, name=f"{output_name}/vit/scores")
    per_class = ops.transpose(per_image, i64([0, 2, 1]))
    maps = ops.reshape(per_class, i64([0, 0, h, w]), True, name=f"{output_name}/vit/maps")
    if maps.get_output_element_type(0) != ov.Type.f32:
        maps = ops.convert(maps, ov.Type.f32)
    add_named_output(result, minmax_per_map(maps.output(0)), output_name, hint=_BATCH_HINT)
    info = {"method": "vit_reciprocam", "kernel": "gaussian" if use_gaussian else "hard", "target_layer": norm.name}
    record_xai(result, output_name, {**info, "postprocess": scoring})
    return result


def _rest_of_network(
    result: ov.Model,
    graph: _Graph,
    branch: ov.Model,
    norm: _Norm,
    mosaic_x: ov.Output,
    mosaic_y: ov.Output,
    mosaic_count: int,
    output_name: str,
) -> ov.Output:
    """Feed the mosaics to the clone ``branch`` at the target block and return its logits (N * K, C)."""
    copy = _Graph(branch)
    if len(copy.ops) != len(graph.ops):
        raise GraphError("internal: the model clone differs from the model (node count).")
    twin = dict(zip(copy.ops, graph.ops, strict=True))
    for a, b in twin.items():
        if a.get_type_name() != b.get_type_name() or a.get_friendly_name() != b.get_friendly_name():
            raise GraphError("internal: the model clone differs from the model (node order).")
    own = {b: a for a, b in twin.items()}
    x_node, y_node = own[norm.x.get_node()], own[norm.y.get_node()]
    x_out, y_out = x_node.output(norm.x.get_index()), y_node.output(norm.y.get_index())
    norm_nodes = {own[n] for n in norm.nodes}
    original_in = {}
    original_out = {}
    for node in copy.ops:
        if node.get_type_name() == "Reshape":
            original_in[node] = node.get_input_partial_shape(0)
            original_out[node] = node.get_output_partial_shape(0)

    for target in list(y_out.get_target_inputs()):
        target.replace_source_output(mosaic_y)
    for target in list(x_out.get_target_inputs()):
        if target.get_node() not in norm_nodes:
            target.replace_source_output(mosaic_x)

    logits_branch = logits_output(branch, 0)
    mosaics = {mosaic_x.get_node(), mosaic_y.get_node()}
    rest = set(upstream_nodes(logits_branch.get_node(), stop=mosaics))
    fed = {n for n in rest if any(p in mosaics for p in _producers(n))}
    for node in sorted(rest, key=lambda n: copy.index[n]):
        if node in fed or any(p in fed for p in _producers(node)):
            fed.add(node)
    if logits_branch.get_node() not in fed:
        raise GraphError("the model's first output does not depend on the target block; choose another block.")

    for node in sorted(fed, key=lambda n: copy.index[n]):
        if node.get_type_name() == "Reshape" and node in original_out:
            refold_batch(node, original_in[node], original_out[node])
        try:
            node.validate_and_infer_types()
        except RuntimeError as exc:
            raise GraphError(
                f"'{node.get_friendly_name()}' ({node.get_type_name()}) after the target block cannot take the "
                f"{mosaic_count} mosaics per image as a batch ({first_line(exc)}). Export the model with a dynamic "
                "batch, or use a black-box method."
            ) from None
        # weights and other constant inputs: use the model's own, so that they are stored once
        for i in range(node.get_input_size()):
            source = node.input_value(i)
            if source.get_node() in twin and copy.is_constant(source):
                node.input(i).replace_source_output(twin[source.get_node()].output(source.get_index()))

    rows = logits_branch.get_partial_shape()[0]
    batch = logits_output(result, 0).get_partial_shape()[0]
    if rows.is_static and batch.is_static and rows.get_length() != batch.get_length() * mosaic_count:
        raise GraphError(
            f"after folding the {mosaic_count} mosaics into the batch the scores have {rows.get_length()} rows "
            f"instead of {batch.get_length() * mosaic_count}: a layer after the target block fixes the batch size "
            "in a way saliencykit cannot rewrite. Export the model with a dynamic batch, or use a black-box method."
        )
    rest = set(upstream_nodes(logits_branch.get_node(), stop=mosaics))
    leaks = sorted(
        (n for n in rest if n not in fed and copy.variable.get(n, False)), key=lambda n: copy.index.get(n, 0)
    )
    if leaks:
        names = ", ".join(f"{n.get_friendly_name()} ({n.get_type_name()})" for n in leaks[:5])
        raise GraphError(
            "the layers after the target block read tensors from before it other than the block input "
            f"({names}), so the mosaics cannot be folded into the batch; choose another block or a black-box method."
        )
    for node in rest:
        if node in twin:  # a node of the clone that now lives in the returned model: keep names unique
            node.set_friendly_name(f"{output_name}/vit/{node.get_friendly_name()}")
            for out in node.outputs():
                out.get_tensor().set_names(set())
    return logits_branch


def insert_vit_activation_map(
    model: ov.Model, *, target_layer: str | None = None, block_index: int = -1, output_name: str = "saliency_map"
) -> ov.Model:
    """Return a copy of ``model`` with a class-agnostic token activation map ``(N, 1, h, w)`` float32 in [0, 1].

    The map is the mean over the embedding dimension of the patch tokens at the input of the chosen transformer
    block, laid out on the patch grid and min-max normalised per image.

    >>> explained = insert_vit_activation_map(vit_model)  # doctest: +SKIP
    >>> ov.compile_model(explained)(images)["saliency_map"].shape  # doctest: +SKIP
    (1, 1, 14, 14)
    """
    check_output_name(model, output_name)
    result = model.clone()
    _, norm, _, _, (tokens, prefix, grid, _) = _select(result, target_layer, block_index)
    h, w = grid
    x = norm.x
    if x.get_element_type() != ov.Type.f32:
        x = ops.convert(x, ov.Type.f32).output(0)
    patches = ops.slice(
        x,
        i64([prefix]),
        i64([tokens]),
        i64([1]),
        i64([1]),
    )
    mean = ops.reduce_mean(patches, i64([2]), False, name=f"{output_name}/vit/mean")
    maps = ops.reshape(mean, i64([-1, 1, h, w]), False, name=f"{output_name}/vit/maps")
    add_named_output(result, minmax_per_map(maps.output(0)), output_name, hint=_BATCH_HINT)
    record_xai(result, output_name, {"method": "activation_map", "target_layer": norm.name})
    return result
