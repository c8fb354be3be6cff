"""DetClassProbabilityMap inside the OpenVINO graph: per-class probability maps of an SSD/YOLO-style detector.

A single-shot detector predicts class logits for every anchor from one convolution per scale: a map
``F_s`` (N, anchors_s * K, h_s, w_s) whose channels hold, for every cell, the K class logits of each of its anchors.
The head then reshapes, transposes and concatenates these maps into the class output (N, A, K). Reading the class
logits *before* that flattening gives where in the image each class is found:

1. for every scale, gather the channels of class ``k`` (one per anchor), apply the head's activation (sigmoid, or
   softmax over the classes) and take the maximum (or mean) over the anchors of each cell: (N, K, h_s, w_s);
2. resize every scale to the finest grid (bilinear, inside the graph) and combine them (maximum or mean):
   ``saliency_map`` (N, K, H, W), float32 probabilities in [0, 1] (not rescaled: a weak class stays weak).

**Finding the heads.** Starting from the class output, the walk goes back through operations that only move data
(Concat, Reshape, Transpose, Squeeze, Unsqueeze, Split, Slice, Gather, Convert) and past a final activation, to
the first tensors computed otherwise: the per-scale head convolutions (with their bias). Which channel and cell of
which scale lands on which anchor and class is then *measured* rather than assumed: the data-movement part of the
head is copied into a small probe model, fed index numbers instead of logits, and its output read back. So the
TensorFlow order (NHWC, anchor-major), PyTorch's ``view/permute`` orders and sliced YOLO-style heads are all read
correctly, and a head that does not map every cell of a scale to its anchors is refused with a message.

``target_layer=[...]`` names the per-scale class convolutions instead (NCHW; channel ``j * K + k`` is class ``k``
of anchor ``j`` unless the probe through the head says otherwise). When neither works, a
:class:`~saliencykit.errors.GraphError` lists the model's outputs and its last spatial layers.

**Per box.** The per-class map is shared by every box of a class. :func:`insert_det_anchor_probabilities` stops
before the reduction over anchors and outputs every anchor's class probabilities; the probe also says which element
of the class output (the anchor a postprocess decodes) is which cell and anchor of which scale
(:class:`AnchorLayout`), so once the postprocess has found a box, the map of the anchors that predicted it is placed
on the grids on the host (:meth:`AnchorLayout.box_map`).

The model's original outputs are untouched; one inference returns detections and maps.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from ..errors import GraphError
from ..model import core
from .batch import free_batch as free_batch  # its old import path: saliencykit.detection reads it here
from .edit import add_named_output, check_output_name, clone_node, fold_constants, i64, record_xai
from .query import (
    ancestors,
    candidates_text,
    descendants,
    describe,
    find_node,
    is_constant_like,
    key,
    node_id,
    sample_dims,
    static_dims,
)

log = logging.getLogger(__name__)

#: operations that only move, copy or select values (the head's flattening)
DATA_MOVEMENT = {
    "Reshape", "Transpose", "Concat", "Squeeze", "Unsqueeze", "Convert", "Split", "VariadicSplit", "StridedSlice",
    "Slice", "Gather", "Identity",
}  # fmt: skip
#: activations a head may end with, and how they are reproduced on the maps
_ACTIVATIONS = {"Sigmoid": "sigmoid", "Softmax": "softmax", "SoftMax": "softmax", "LogSoftmax": "softmax"}
_PASS = {"Clamp", "Convert"}  # score clipping / precision changes between the logits and the output
_CLASS_WORDS = ("class", "score", "conf", "cls", "logit", "prob")
ACTIVATIONS = ("auto", "sigmoid", "softmax", "identity")
REDUCTIONS = ("max", "mean")


@dataclass(frozen=True)
class HeadScale:
    """One scale of a detection head: the class-logit map and which channels hold which class.

    ``channels[k]`` are the channels of ``output`` (N, C, h, w) holding class ``k``, one per anchor of a cell.
    """

    output: ov.Output
    channels: np.ndarray  # (K, anchors) int64
    height: int
    width: int

    @property
    def name(self) -> str:
        return self.output.get_node().get_friendly_name()

    @property
    def anchors(self) -> int:
        return int(self.channels.shape[1])


@dataclass(frozen=True)
class DetectionHead:
    """The class output of a detector, its per-scale class maps and the activation it applies."""

    class_output: ov.Output
    scales: tuple[HeadScale, ...]
    num_classes: int
    activation: str  # "sigmoid" | "softmax" | "identity" (found on the graph) or "unknown"
    how: str  # "traced" or "target_layer"
    #: (A, K, 4) int64: for anchor ``a`` of the class output (its non-class axes flattened, as a postprocess
    #: reads it) and class ``k``: the scale, the anchor slot in that scale's ``channels[k]``, the cell y and x.
    #: ``None`` when the head was not probed through to the class output (channel convention).
    anchor_cells: np.ndarray | None = None

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.scales]


# ----------------------------------------------------------------------------------------- the class output


def _result_source(output: ov.Output) -> ov.Output:
    node = output.get_node()
    return node.input_value(0) if node.get_type_name() == "Result" else output


def _output_label(model: ov.Model, i: int) -> str:
    out = model.outputs[i]
    name = out.get_any_name() if out.get_names() else f"#{i}"
    return f"{i}: '{name}' {out.get_partial_shape()}"


def _outputs_text(model: ov.Model) -> str:
    return "\n".join(f"  output {_output_label(model, i)}" for i in range(len(model.outputs)))


def select_class_output(model: ov.Model, class_output: int | str | None = None, num_classes: int | None = None) -> int:
    """Index of the model output that holds class logits/scores.

    In order: ``class_output`` (index or tensor name); the only output; an output named like
    classes/scores/logits; an output whose last dimension is ``num_classes``; the only output whose last dimension
    is below 4 (box regressors have at least 4 values per anchor). Raises :class:`GraphError` listing the outputs
    otherwise.
    """
    outputs = list(model.outputs)
    if isinstance(class_output, int):
        if not 0 <= class_output < len(outputs):
            raise GraphError(f"class_output={class_output}: the model has outputs 0..{len(outputs) - 1}.")
        return class_output
    if isinstance(class_output, str):
        for i, out in enumerate(outputs):
            if class_output in out.get_names():
                return i
        raise GraphError(f"class_output='{class_output}': no such output. The outputs are:\n{_outputs_text(model)}")
    if len(outputs) == 1:
        return 0
    named = [i for i, o in enumerate(outputs) if any(w in n.lower() for n in o.get_names() for w in _CLASS_WORDS)]
    if len(named) == 1:
        return named[0]
    shapes = [static_dims(o) for o in outputs]
    lasts = [d[-1] if d and d[-1] is not None and len(d) >= 2 else None for d in shapes]
    if num_classes is not None:
        fitting = [i for i, d in enumerate(lasts) if d == num_classes]
        if len(fitting) == 1:
            return fitting[0]
    small = [i for i, d in enumerate(lasts) if d is not None and d < 4]
    if len(small) == 1:
        return small[0]
    raise GraphError(
        "cannot tell which model output holds the class logits; pass class_output= (index or name), or "
        f"target_layer=[...] with the per-scale class convolutions. The outputs are:\n{_outputs_text(model)}\n"
        f"The last spatial layers are:\n{candidates_text(model, 10)}"
    )


# --------------------------------------------------------------------------------------------- tracing


def _trace_sources(logits: ov.Output) -> tuple[list[ov.Output], set[int]]:
    """Tensors met first when walking back from ``logits`` through data-movement operations only."""
    sources: list[ov.Output] = []
    seen_sources: set = set()
    chain: set[int] = set()
    memo: dict = {}
    stack = [logits]
    while stack:
        value = stack.pop()
        node = value.get_node()
        if node.get_type_name() in DATA_MOVEMENT:
            if node_id(node) in chain:
                continue
            chain.add(node_id(node))
            data_inputs = [v for v in node.input_values() if not is_constant_like(v, memo)]
            # Reshape/Gather/... read one data input; Concat reads several (one per scale)
            stack.extend(reversed(data_inputs if node.get_type_name() == "Concat" else data_inputs[:1]))
            continue
        if key(value) not in seen_sources:
            seen_sources.add(key(value))
            sources.append(value)
    return sources, chain


def _strip_activation(value: ov.Output) -> tuple[ov.Output, str]:
    """Step back past a final activation (and score clipping) to the logits."""
    activation = "identity"
    while True:
        kind = value.get_node().get_type_name()
        if kind in _ACTIVATIONS and activation == "identity":
            activation = _ACTIVATIONS[kind]
        elif kind not in _PASS:
            return value, activation
        value = value.get_node().input_value(0)


def _probe(model: ov.Model, sources: list[ov.Output], logits: ov.Output) -> np.ndarray:
    """Which source element lands on each element of ``logits``: an int64 array of ``logits``' shape (batch 1).

    The data-movement subgraph between ``sources`` and ``logits`` is copied onto Parameters that are fed element
    numbers (source ``s`` element ``i`` gets ``offset_s + i``), so the output reads back as indices.
    """
    params, feeds, mapping = [], [], {}
    offset = 0
    for value in sources:
        shape = [1, *_map_dims(value)]
        size = int(np.prod(shape))
        param = ops.parameter(shape, ov.Type.f32)
        params.append(param)
        feeds.append((offset + np.arange(size, dtype=np.float64)).reshape(shape).astype(np.float32))
        mapping[key(value)] = param.output(0)
        offset += size
    if offset >= 2**24:
        raise GraphError("the detection head is too large to probe (more than 16.7 M logits).")
    inside = descendants(sources) & ancestors(logits.get_node())
    memo: dict = {}
    for node in model.get_ordered_ops():
        if node_id(node) not in inside:
            continue
        inputs = []
        for v in node.input_values():
            if key(v) in mapping:
                inputs.append(mapping[key(v)])
            elif v.get_node().get_type_name() == "Constant":
                inputs.append(ops.constant(np.array(v.get_node().get_data())).output(0))
            elif is_constant_like(v, memo):  # e.g. a decompressed constant: read it as it is
                inputs.append(v)
            else:
                raise GraphError(
                    f"the head operation {node.get_type_name()} '{node.get_friendly_name()}' reads {describe(v)}, "
                    "which is computed from the input (e.g. a shape); fix the model's input size first."
                )
        # a Convert must not round the index numbers: every copy stays float32
        new = ops.convert(inputs[0], "f32") if node.get_type_name() == "Convert" else clone_node(node, inputs)
        for i in range(node.get_output_size()):
            mapping[key(node.output(i))] = new.output(i)
    if key(logits) not in mapping:
        raise GraphError(f"the given layers do not feed the class output {describe(logits)}.")
    probe = ov.Model([ops.result(mapping[key(logits)])], params, "saliencykit_head_probe")
    compiled = core().compile_model(probe, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    out = np.array(compiled(feeds)[0])
    return np.rint(out).astype(np.int64)


def _class_axis(cells: np.ndarray) -> int | None:
    """The non-batch axis along which the cell stays the same (the classes of one anchor); ``None`` if none."""
    found = []
    for axis in range(1, cells.ndim):
        if cells.shape[axis] > 1 and np.all(cells == cells.take([0], axis=axis)):
            found.append(axis)
    if len(found) == 1:
        return found[0]
    if not found:
        return None
    raise GraphError(f"the class output {cells.shape} has several axes that could be classes: {found}.")


def _map_dims(value: ov.Output) -> list[int]:
    """A head map's dimensions after the batch; :class:`GraphError` when one is dynamic."""
    dims = sample_dims(value)
    if dims is None:
        raise GraphError(f"the head map {describe(value)} has a dynamic shape; reshape the model to a fixed size.")
    return dims


def _scales_from_probe(
    sources: list[ov.Output], index: np.ndarray, class_output: ov.Output
) -> tuple[list[HeadScale], np.ndarray]:
    """The head's scales, and the cell of every (anchor, class) of the class output (``DetectionHead.anchor_cells``)."""
    dims = [_map_dims(s) for s in sources]
    sizes = [int(np.prod(d)) for d in dims]
    starts = np.cumsum([0, *sizes])
    if index.min() < 0 or index.max() >= starts[-1]:
        raise GraphError(f"the class output {describe(class_output)} is not a rearrangement of the head maps.")
    scale = np.searchsorted(starts, index, side="right") - 1
    local = index - starts[scale]
    chw = np.array(dims)  # (S, 3): C, H, W (NCHW)
    h, w = chw[scale, 1], chw[scale, 2]
    channel = local // (h * w)
    y = (local // w) % h
    x = local % w
    cells = (scale * (1 << 40)) + y * (1 << 20) + x
    axis = _class_axis(cells)
    if axis is None:
        classes = np.zeros_like(index)
        num_classes = 1
    else:
        num_classes = index.shape[axis]
        shape = [1] * index.ndim
        shape[axis] = num_classes
        classes = np.broadcast_to(np.arange(num_classes).reshape(shape), index.shape)
    if len(np.unique(index)) != index.size:
        raise GraphError(f"the class output {describe(class_output)} repeats head values; it is not an SSD/YOLO head.")
    scales = []
    for s, value in enumerate(sources):
        _, h_s, w_s = dims[s]
        here = scale == s
        per_class = []
        for k in range(num_classes):
            picked = here & (classes == k)
            chans = np.unique(channel[picked])
            for c in chans:  # every cell of the grid must hold this channel's anchor
                if np.count_nonzero(picked & (channel == c)) != h_s * w_s:
                    raise GraphError(
                        f"the head map {describe(value)} channel {c} does not reach the class output at every cell; "
                        "pass target_layer= with the per-scale class convolutions."
                    )
            per_class.append(chans)
        counts = {len(c) for c in per_class}
        if len(counts) != 1 or 0 in counts:
            raise GraphError(
                f"the head map {describe(value)} has different numbers of anchors per class ({sorted(counts)})."
            )
        scales.append(HeadScale(value, np.stack(per_class).astype(np.int64), h_s, w_s))
    slot = np.full(index.shape, -1, np.int64)  # which of its cell's anchors each class-output element is
    for s, head_scale in enumerate(scales):
        for k in range(num_classes):
            lookup = np.full(dims[s][0], -1, np.int64)
            lookup[head_scale.channels[k]] = np.arange(head_scale.anchors)
            picked = (scale == s) & (classes == k)
            slot[picked] = lookup[channel[picked]]
    cells = np.stack([scale, slot, y, x], axis=-1).astype(np.int64)  # index.shape + (4,)
    if axis is not None:
        cells = np.moveaxis(cells, axis, -2)  # classes last, as a postprocess reads (N, A, K)
    return scales, cells.reshape(-1, num_classes, 4)


def _check_map(model: ov.Model, value: ov.Output, what: str) -> None:
    dims = static_dims(value)
    if dims is None or len(dims) != 4 or any(d is None for d in dims[1:]):
        raise GraphError(
            f"{what} {describe(value)} is not a static 4-D (N, C, h, w) map: name the class-logit convolution of "
            f"each scale. The last spatial layers are:\n{candidates_text(model, 10)}"
        )


def _with_bias(value: ov.Output) -> ov.Output:
    """A convolution's output together with its bias: the Add of a constant that is its only consumer."""
    consumers = list(value.get_target_inputs())
    if len(consumers) == 1:
        node = consumers[0].get_node()
        if node.get_type_name() == "Add":
            other = node.input_value(1 - consumers[0].get_index())
            if is_constant_like(other) and static_dims(node.output(0)) == static_dims(value):
                return node.output(0)
    return value


def find_detection_head(
    model: ov.Model,
    target_layer: str | Sequence[str] | None = None,
    class_output: int | str | None = None,
    num_classes: int | None = None,
) -> DetectionHead:
    """Find the per-scale class-logit maps of a detector (see the module docstring).

    Raises :class:`GraphError` listing the outputs and candidate layers when the head cannot be found.
    """
    index = select_class_output(model, class_output, num_classes)
    out = _result_source(model.outputs[index])
    logits, activation = _strip_activation(out)
    if target_layer is not None:
        names = [target_layer] if isinstance(target_layer, str) else list(target_layer)
        if not names:
            raise GraphError("target_layer=[]: name the per-scale class convolutions.")
        sources = []
        for name in names:
            value = find_node(model, name).output(0)
            if value.get_node().get_type_name() in DATA_MOVEMENT:  # e.g. TFLite's NHWC tensor after a Transpose
                traced, _ = _trace_sources(value)
                value = traced[0] if len(traced) == 1 else value
            _check_map(model, value, f"target_layer '{name}'")
            sources.append(_with_bias(value))
        try:
            scales, cells = _scales_from_probe(sources, _probe(model, sources, logits), logits)
            k = int(scales[0].channels.shape[0])
            return DetectionHead(logits, tuple(scales), k, activation, "target_layer", cells)
        except GraphError as exc:
            why = str(exc).splitlines()[0]
        k = num_classes or (static_dims(logits) or [None])[-1] or 1
        logging.getLogger("saliencykit").warning(
            "saliencykit: target_layer %s does not reach the class output through reshapes and concatenations alone "
            "(%s); reading channel j * %d + k as class k of anchor j (NCHW).",
            names,
            why,
            k,
        )
        scales = []
        for value in sources:
            c, h, w = _map_dims(value)
            if c % k:
                raise GraphError(
                    f"target_layer {describe(value)} has {c} channels, not a multiple of the {k} classes: give the "
                    "class-logit convolution of each scale (anchors x classes channels)."
                )
            chans = np.arange(c).reshape(c // k, k).T  # channel j * K + k: class k of anchor j
            scales.append(HeadScale(value, chans.astype(np.int64), h, w))
        return DetectionHead(
            logits, tuple(scales), int(k), "unknown" if activation == "identity" else activation, "target_layer"
        )
    sources, _ = _trace_sources(logits)
    problems = []
    for value in sources:
        dims = static_dims(value)
        if dims is None or len(dims) != 4 or any(d is None for d in dims[1:]):
            problems.append(describe(value))
    if not sources or problems:
        found = ", ".join(problems) if problems else "nothing"
        raise GraphError(
            f"cannot find the detection head automatically: walking back from the class output "
            f"{_output_label(model, index)} through reshapes, transposes and concatenations reaches {found}, not "
            "per-scale (N, C, h, w) class convolutions. Pass target_layer=[...] with the class-logit convolution "
            "of each scale (or class_output= if this is not the class output). "
            f"The outputs are:\n{_outputs_text(model)}\nThe last spatial layers are:\n{candidates_text(model, 10)}"
        )
    scales, cells = _scales_from_probe(sources, _probe(model, sources, logits), logits)
    return DetectionHead(logits, tuple(scales), int(scales[0].channels.shape[0]), activation, "traced", cells)


# -------------------------------------------------------------------------------------------- insertion


def _scale_probabilities(scale: HeadScale, num_classes: int, activation: str) -> ov.Output:
    """(N, K, anchors, h, w) class probabilities of every anchor of one scale."""
    value = scale.output
    if value.get_element_type() != ov.Type.f32:
        value = ops.convert(value, "f32").output(0)
    gathered = ops.gather(value, i64(scale.channels.reshape(-1)), i64(1))
    grouped = ops.reshape(gathered, i64([0, num_classes, scale.anchors, scale.height, scale.width]), True)
    if activation == "sigmoid":
        grouped = ops.sigmoid(grouped)
    elif activation == "softmax":
        grouped = ops.softmax(grouped, 1)
    return grouped.output(0)


def _scale_map(scale: HeadScale, num_classes: int, activation: str, reduce: str) -> ov.Output:
    """(N, K, h, w) class probabilities of one scale."""
    reducer = ops.reduce_max if reduce == "max" else ops.reduce_mean
    return reducer(_scale_probabilities(scale, num_classes, activation), i64([2]), keep_dims=False).output(0)


def _resize(value: ov.Output, size: tuple[int, int]) -> ov.Output:
    dims = static_dims(value)
    if dims is not None and tuple(dims[2:]) == tuple(size):
        return value
    import openvino.opset11 as ops11

    return ops11.interpolate(
        value,
        i64(list(size)),
        mode="linear",
        shape_calculation_mode="sizes",
        coordinate_transformation_mode="half_pixel",
        axes=i64([2, 3]),
    ).output(0)


def insert_det_class_probability_map(
    model: ov.Model,
    *,
    target_layer: str | Sequence[str] | None = None,
    class_output: int | str | None = None,
    num_classes: int | None = None,
    activation: str = "auto",
    reduce_anchors: str = "max",
    combine_scales: str = "max",
    output_name: str = "saliency_map",
    default_activation: str = "sigmoid",
) -> ov.Model:
    """A copy of ``model`` with an output ``output_name``: per-class probability maps (N, K, H, W) float32.

    Args:
        model: an SSD/YOLO-style detector (class logits per anchor from one convolution per scale).
        target_layer: friendly names of the per-scale class-logit convolutions (default: found from the graph).
        class_output: which model output holds the class logits (index or name; default: found).
        num_classes: number of classes, when the graph cannot tell (explicit layers off the class output).
        activation: ``"auto"`` (the head's own activation; sigmoid when it ends in raw logits), ``"sigmoid"``,
            ``"softmax"`` (over the classes of each anchor) or ``"identity"`` (raw logits).
        reduce_anchors: ``"max"`` or ``"mean"`` over the anchors of a cell.
        combine_scales: ``"max"`` or ``"mean"`` over the scales, after resizing to the finest grid.
        output_name: tensor name of the new output.
        default_activation: with ``activation="auto"``, what a head that ends in raw logits gets (a postprocess
            knows: BlazeFace's applies a sigmoid outside the graph).

    >>> explained = insert_det_class_probability_map(sk.load_model(mediapipe_model_path()))  # doctest: +SKIP
    >>> ov.Core().compile_model(explained)(batch)["saliency_map"].shape  # doctest: +SKIP
    (1, 1, 16, 16)
    """
    if reduce_anchors not in REDUCTIONS or combine_scales not in REDUCTIONS:
        raise GraphError(f"reduce_anchors / combine_scales: use one of {', '.join(REDUCTIONS)}.")
    work, head, chosen = _prepare(
        model, target_layer, class_output, num_classes, activation, output_name, default_activation
    )
    size = _finest(head)
    maps = [_resize(_scale_map(s, head.num_classes, chosen, reduce_anchors), size) for s in head.scales]
    if len(maps) == 1:
        combined = maps[0]
    else:
        stacked = ops.concat([ops.unsqueeze(m, i64([1])) for m in maps], 1)
        reducer = ops.reduce_max if combine_scales == "max" else ops.reduce_mean
        combined = reducer(stacked, i64([1]), keep_dims=False).output(0)
    add_named_output(work, combined, output_name)
    info = {"method": "det_class_probability_map", "target_layer": ",".join(head.names), "path": head.how}
    record_xai(work, output_name, {**info, "postprocess": chosen})
    log.info(
        "DetClassProbabilityMap: %d scale(s) %s (%s), %d class(es), %s", len(head.scales), head.names, head.how,
        head.num_classes, chosen,
    )  # fmt: skip
    return work


def _prepare(
    model: ov.Model,
    target_layer: str | Sequence[str] | None,
    class_output: int | str | None,
    num_classes: int | None,
    activation: str,
    output_name: str,
    default_activation: str,
) -> tuple[ov.Model, DetectionHead, str]:
    """The copy to edit, its head and the activation the maps get (shared by both insertions)."""
    if activation not in ACTIVATIONS:
        raise GraphError(f"activation='{activation}': use one of {', '.join(ACTIVATIONS)}.")
    check_output_name(model, output_name)
    work = fold_constants(model.clone())
    head = find_detection_head(work, target_layer, class_output, num_classes)
    chosen = head.activation if activation == "auto" else activation
    if chosen in ("identity", "unknown") and activation == "auto":
        chosen = default_activation  # raw logits: the activation is applied outside the graph
    return work, head, chosen


def _finest(head: DetectionHead) -> tuple[int, int]:
    return max(s.height for s in head.scales), max(s.width for s in head.scales)


# ------------------------------------------------------------------------------------------ per-box maps


@dataclass(frozen=True)
class AnchorLayout:
    """Where every anchor of a detector's class output sits in the per-anchor probability output.

    :func:`insert_det_anchor_probabilities` returns it with the graph; :meth:`box_map` turns one image's output
    and a box's anchors into that box's map.

    Attributes:
        grids: ``(h, w, anchors per cell)`` of each scale, in the order of the output.
        positions: (A, K) int64: where anchor ``a``'s class-``k`` probability is along the output's last axis.
        cells: (A, K, 4) int64: its scale, anchor slot, cell y and cell x (``DetectionHead.anchor_cells``).
        size: the finest grid ``(H, W)``, the size of the maps.
    """

    grids: tuple[tuple[int, int, int], ...]
    positions: np.ndarray
    cells: np.ndarray
    size: tuple[int, int]

    @property
    def num_anchors(self) -> int:
        """A: the anchors of the class output, as the postprocess counts them."""
        return int(self.positions.shape[0])

    @property
    def num_classes(self) -> int:
        return int(self.positions.shape[1])

    def box_map(
        self,
        probabilities: np.ndarray,
        anchors: Sequence[int] | np.ndarray,
        cls: int,
        reduce_anchors: str = "max",
        combine_scales: str = "max",
    ) -> np.ndarray:
        """The (H, W) float32 map of one box: class ``cls``'s probability at the cells of ``anchors`` only.

        ``probabilities`` is one image's (K, P) output of :func:`insert_det_anchor_probabilities`; every other
        anchor counts as probability 0. Each scale is reduced over the anchors of a cell, resized to the finest
        grid (bilinear, half-pixel centres, as the per-class map inside the graph) and the scales are combined —
        so with every anchor given, this is the per-class map of :func:`insert_det_class_probability_map`.
        """
        import cv2

        probabilities = np.asarray(probabilities, np.float32)
        width = sum(h * w * a for h, w, a in self.grids)
        if probabilities.shape != (self.num_classes, width):
            raise GraphError(
                f"per-anchor probabilities of shape {probabilities.shape}: expected (classes, positions) = "
                f"({self.num_classes}, {width}), one image of the per-anchor output."
            )
        if not 0 <= int(cls) < self.num_classes:
            raise GraphError(f"class {cls}: the detector's head has classes 0..{self.num_classes - 1}.")
        picked = np.unique(np.asarray(anchors, np.int64).reshape(-1))
        if picked.size and (picked[0] < 0 or picked[-1] >= self.num_anchors):
            bad = int(picked[0] if picked[0] < 0 else picked[-1])
            raise GraphError(f"anchor {bad}: the class output has anchors 0..{self.num_anchors - 1}.")
        if reduce_anchors not in REDUCTIONS or combine_scales not in REDUCTIONS:
            raise GraphError(f"reduce_anchors / combine_scales: use one of {', '.join(REDUCTIONS)}.")
        values = probabilities[int(cls), self.positions[picked, int(cls)]]
        where = self.cells[picked, int(cls)]
        maps = []
        for s, (h, w, a) in enumerate(self.grids):
            grid = np.zeros((a, h, w), np.float32)
            here = where[:, 0] == s
            grid[where[here, 1], where[here, 2], where[here, 3]] = values[here]
            reduced = grid.max(0) if reduce_anchors == "max" else grid.mean(0, dtype=np.float32)
            if (h, w) != self.size:
                reduced = cv2.resize(reduced, (self.size[1], self.size[0]), interpolation=cv2.INTER_LINEAR)
            maps.append(reduced)
        stacked = np.stack(maps)
        return (stacked.max(0) if combine_scales == "max" else stacked.mean(0, dtype=np.float32)).astype(np.float32)


def insert_det_anchor_probabilities(
    model: ov.Model,
    *,
    target_layer: str | Sequence[str] | None = None,
    class_output: int | str | None = None,
    num_classes: int | None = None,
    activation: str = "auto",
    output_name: str = "saliency_map",
    default_activation: str = "sigmoid",
) -> tuple[ov.Model, AnchorLayout]:
    """A copy of ``model`` with an output ``output_name``: every anchor's class probabilities, and their layout.

    The per-box map of a detection is built from *its own* anchors: the per-class map
    (:func:`insert_det_class_probability_map`) takes the maximum over all anchors of a cell, so two faces share
    one map. Here the graph stops one step earlier: for every scale it gathers the class-``k`` channels of the
    class-logit convolution, applies the head's activation and keeps every anchor, (N, K, anchors_s * h_s * w_s),
    concatenated over the scales into (N, K, P) float32. Which box an anchor belongs to is only known after the
    postprocess has decoded and suppressed the boxes, on the host; :meth:`AnchorLayout.box_map` then places the
    probabilities of the chosen anchors on their scale's grid, zero elsewhere, and resizes and combines the
    scales as the per-class map does. The layout comes from the same probe that finds the head (which element of
    the class output is which cell and anchor), so it needs the head traced to the class output.

    Arguments are those of :func:`insert_det_class_probability_map`. Raises :class:`GraphError` when the head
    cannot be found, or was named with ``target_layer`` that does not reach the class output.
    """
    work, head, chosen = _prepare(
        model, target_layer, class_output, num_classes, activation, output_name, default_activation
    )
    if head.anchor_cells is None:
        raise GraphError(
            f"the layers {head.names} do not reach the class output through reshapes and concatenations alone, so "
            "which anchor of the class output sits in which cell is unknown; per-box maps need it. Leave "
            "target_layer= unset (found from the class output) or name the convolutions that feed it."
        )
    per_scale = [_scale_probabilities(s, head.num_classes, chosen) for s in head.scales]
    flat = [ops.reshape(p, i64([0, head.num_classes, -1]), True).output(0) for p in per_scale]
    output = flat[0] if len(flat) == 1 else ops.concat(flat, 2).output(0)
    add_named_output(work, output, output_name)
    record_xai(
        work,
        output_name,
        {"method": "det_class_probability_map", "target_layer": ",".join(head.names), "path": head.how,
         "postprocess": f"{chosen}, per anchor"},
    )  # fmt: skip
    cells = head.anchor_cells
    sizes = [s.anchors * s.height * s.width for s in head.scales]
    offsets = np.cumsum([0, *sizes])[:-1]
    heights = np.array([s.height for s in head.scales])
    widths = np.array([s.width for s in head.scales])
    scale, slot, y, x = (cells[..., i] for i in range(4))
    positions = offsets[scale] + (slot * heights[scale] + y) * widths[scale] + x
    grids = tuple((s.height, s.width, s.anchors) for s in head.scales)
    log.info("DetClassProbabilityMap per anchor: %d scale(s) %s, %d anchors", len(grids), head.names, len(cells))
    return work, AnchorLayout(grids, positions.astype(np.int64), cells, _finest(head))
