"""Move black-box perturbation into the graph: the model takes masks and blends one image with them itself.

Black-box methods score an image blended towards a base by many masks, ``base + mask * (image - base)``; the base
is a fill colour (the preprocessing mean) or another image (a blurred copy).
Built on the host, every mask costs a full float32 image written by one Python thread and copied to the
runtime; inside the graph the blend is a broadcast multiply-add that the CPU plugin runs on every core, fused
with the first layers, and only the single-channel masks cross over (``bench/blackbox.py`` measures it).
"""

from __future__ import annotations

import openvino as ov
import openvino.opset13 as ops

from ..errors import GraphError

MASKS_INPUT = "masks"
IMAGE_INPUT = "image"
BASE_INPUT = "base"


def insert_mask_blend(model: ov.Model, size: tuple[int, int]) -> ov.Model:
    """A copy of ``model`` whose pixel input (N, H, W, 3, float32) is replaced by three inputs.

    ``masks`` (N, H, W, 1) in [0, 1], ``image`` and ``base`` (1, H, W, 3), with (H, W) = ``size``; the model sees
    ``base + masks * (image - base)``. ``model`` must have exactly one input of shape (?, H, W, 3) (H and W may
    be dynamic), as a :meth:`saliencykit.Preprocess.embed`-ed model has.
    """
    if len(model.inputs) != 1:
        raise GraphError(f"mask blending needs a model with one pixel input; this one has {len(model.inputs)}.")
    shape = model.inputs[0].get_partial_shape()
    h, w = (int(v) for v in size)
    if (
        shape.rank.is_dynamic
        or shape.rank.get_length() != 4
        or not shape[3].compatible(ov.Dimension(3))
        or not shape[1].compatible(ov.Dimension(h))
        or not shape[2].compatible(ov.Dimension(w))
    ):
        raise GraphError(f"mask blending needs a pixel input of shape (N, {h}, {w}, 3); this one is {shape}.")
    model = model.clone()
    pixel_input = model.get_parameters()[0]
    masks = ops.parameter([-1, h, w, 1], ov.Type.f32, name=MASKS_INPUT)
    image = ops.parameter([1, h, w, 3], ov.Type.f32, name=IMAGE_INPUT)
    base = ops.parameter([1, h, w, 3], ov.Type.f32, name=BASE_INPUT)
    for parameter, name in ((masks, MASKS_INPUT), (image, IMAGE_INPUT), (base, BASE_INPUT)):
        parameter.output(0).set_names({name})
    blended = ops.add(ops.multiply(masks, ops.subtract(image, base)), base)
    for target in list(pixel_input.output(0).get_target_inputs()):
        target.replace_source_output(blended.output(0))
    return ov.Model(model.get_results(), [masks, image, base], f"{model.get_friendly_name()}_mask_blend")
