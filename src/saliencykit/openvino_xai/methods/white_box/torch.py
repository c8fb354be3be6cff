"""openvino-xai 1.1's ``insert_xai`` for PyTorch modules: a copy of the module whose forward returns
``{"prediction": B x C, "saliency_map": ...}``, computed with forward hooks (no conversion, runs wherever the module
runs, exports to ONNX like any module).

ReciproCAM: the feature map of the target module is followed, in the same forward, by one copy per spatial cell
that keeps only that cell; the head's scores for those copies are the per-class maps (B x C x h x w).
ActivationMap: the channel mean of the feature map (B x h x w). With ``embed_scaling`` every map is min-max scaled
to uint8 0..255 inside the forward, as openvino-xai does; without, raw float scores.
"""

from __future__ import annotations

import copy
from typing import Any

from ..._errors import XAIRuntimeError, XAIValueError
from ...common.parameters import Method
from ...common.utils import SALIENCY_MAP_OUTPUT_NAME, logger


def _torch():
    try:
        import torch
    except ImportError:  # pragma: no cover - a torch module exists only when torch does
        raise XAIRuntimeError("PyTorch is not installed: pip install torch.") from None
    return torch


def _scale_rows(x):
    """Min-max scale every row of a 2-D tensor to uint8 0..255."""
    low = x.min(dim=-1, keepdim=True).values
    high = x.max(dim=-1, keepdim=True).values
    return (255 * (x - low) / (high - low + 1e-12)).to(_torch().uint8)


def _run_on_zeros(model: Any, input_size: tuple[int, int], failure: str) -> None:
    """One forward of ``model`` on a zero image 1 x 3 x ``input_size``; an error raises ``failure`` with ``{exc}``
    filled in."""
    torch = _torch()
    try:
        with torch.no_grad():
            model(torch.zeros((1, 3, *input_size)))
    except Exception as exc:
        raise XAIRuntimeError(failure.format(exc=exc)) from None


def _probe(model: Any, input_size: tuple[int, int]) -> list[tuple[Any, tuple[int, ...]]]:
    """(module, output shape) of every module call of one forward on a zero image, in call order."""
    torch = _torch()
    calls: list[tuple[Any, tuple[int, ...]]] = []

    def record(module, inputs, output) -> None:
        if isinstance(output, torch.Tensor):
            calls.append((module, tuple(output.shape)))

    handle = torch.nn.modules.module.register_module_forward_hook(record)
    try:
        _run_on_zeros(
            model,
            input_size,
            f"The torch model does not run on a 1 x 3 x {input_size[0]} x {input_size[1]} image ({{exc}}): give "
            "input_size=(height, width).",
        )
    finally:
        handle.remove()
    return calls


def _feature_module(model: Any, target_layer: str | None, input_size: tuple[int, int]):
    """The module whose output the maps are made from: by name (the last whose name contains ``target_layer``),
    else the last module with a spatial feature map (B x C x H x W, C larger than H and W) in the second half of
    the forward. A module called more than once in a forward (a shared activation) cannot be the one: its hook
    would fire on every call."""
    calls = _probe(model, input_size)
    uses: dict[int, int] = {}
    for module, _ in calls:
        uses[id(module)] = uses.get(id(module), 0) + 1
    if target_layer:
        found = [module for name, module in model.named_modules() if target_layer in name]
        if not found:
            names = [name for name, _ in model.named_modules() if name][-8:]
            raise XAIValueError(
                f"target_layer={target_layer!r} is not a module of the torch model; its last modules are "
                f"{', '.join(names)}."
            )
        if uses.get(id(found[-1]), 0) != 1:
            raise XAIValueError(
                f"target_layer={target_layer!r} runs {uses.get(id(found[-1]), 0)} times in one forward: name a "
                "module that runs once (e.g. the last convolution or normalisation of the backbone)."
            )
        return found[-1]
    spatial = [
        i
        for i, (module, shape) in enumerate(calls)
        if len(shape) == 4 and min(shape[2:]) > 1 and shape[1] > max(shape[2:]) and uses[id(module)] == 1
    ]
    if not spatial:
        raise XAIRuntimeError("No module of the torch model gives a feature map (B x C x H x W): give target_layer=.")
    if spatial[-1] / len(calls) < 0.5:
        raise XAIRuntimeError(
            "The torch model's last feature map comes early in the network (a ViT-like model?): give target_layer= "
            "or explain it with Explainer, which converts it."
        )
    return calls[spatial[-1]][0]


class _Hooks:
    """The forward hooks of one inserted module (ReciproCAM or ActivationMap)."""

    def __init__(self, method: Method, embed_scaling: bool) -> None:
        self.method = method
        self.embed_scaling = embed_scaling
        self.shape: tuple[int, int, int, int] | None = None
        self.features = None

    def on_features(self, module, inputs, output):
        torch = _torch()
        self.shape = b, c, h, w = tuple(output.shape)
        if self.method == Method.ACTIVATIONMAP:
            self.features = output
            return output
        eye = torch.eye(h * w, dtype=output.dtype, device=output.device).reshape(h * w, 1, h, w)
        cells = [output[i : i + 1] * eye for i in range(b)]  # (h*w, C, h, w) per image: one kept cell each
        return torch.cat([output, *cells])

    def on_output(self, module, inputs, output):
        b, _, h, w = self.shape
        if self.method == Method.ACTIVATIONMAP:
            maps = self.features.mean(dim=1).reshape(b, h * w)
            maps = _scale_rows(maps) if self.embed_scaling else maps
            return {"prediction": output, SALIENCY_MAP_OUTPUT_NAME: maps.reshape(b, h, w)}
        num_classes = output.shape[1]
        maps = output[b:].reshape(b, h * w, num_classes).transpose(1, 2)  # B x C x hw
        if self.embed_scaling:
            maps = _scale_rows(maps.reshape(b * num_classes, h * w))
        return {"prediction": output[:b], SALIENCY_MAP_OUTPUT_NAME: maps.reshape(b, num_classes, h, w)}


def insert_torch_xai(
    model: Any,
    explain_method: Method | None = None,
    target_layer: str | list[str] | None = None,
    embed_scaling: bool = True,
    input_size: tuple[int, int] = (224, 224),
    **kwargs: Any,
) -> Any:
    """A copy of the torch ``model`` (in eval mode) whose forward returns the prediction and the saliency map;
    ``input_size`` is the image size used to find the feature map automatically."""
    method = Method.RECIPROCAM if explain_method is None else explain_method
    if method not in (Method.RECIPROCAM, Method.ACTIVATIONMAP):
        raise XAIValueError(
            f"explain_method={method}: a PyTorch module takes Method.RECIPROCAM or Method.ACTIVATIONMAP; for "
            "ViT-ReciproCAM give Explainer the module (it converts it to OpenVINO)."
        )
    if kwargs:
        raise XAIValueError(f"{', '.join(sorted(kwargs))}: not an argument of insert_xai for a PyTorch module.")
    if target_layer is not None and not isinstance(target_layer, str):
        raise XAIValueError(f"target_layer={target_layer!r}: a PyTorch module takes one module name (a str).")
    model = copy.deepcopy(model).eval()
    feature = _feature_module(model, target_layer, input_size)
    hooks = _Hooks(method, bool(embed_scaling))
    feature.register_forward_hook(hooks.on_features)
    model.register_forward_hook(hooks.on_output)
    _run_on_zeros(
        model,
        input_size,
        "The torch model does not run with the XAI branch ({exc}); its forward likely reshapes with the input's "
        "batch size. Give the module to Explainer instead (it converts it to OpenVINO and explains that).",
    )
    model.has_xai = True
    logger.info(f"Using {'ReciproCAM' if method == Method.RECIPROCAM else 'ActivationMap'} method (for PyTorch).")
    return model
