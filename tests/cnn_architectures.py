"""Tiny CNN test architectures with seeded random weights, and helpers to export them to IR and ONNX.

Two families stand in for timm's ``resnet18`` and ``mobilenetv3_large_100`` (timm is not a dependency):

* :func:`resnet` - conv stem, residual basic blocks with BatchNorm, ``AdaptiveAvgPool2d(1)`` + flatten + Linear.
* :func:`mobilenetv3` - inverted residual blocks with depthwise convolutions and squeeze-excite, a 1x1 conv +
  BN + hardswish after the last block, global pooling, then a head *after* pooling (Linear -> hardswish ->
  Linear) like ``mobilenetv3_large_100``.

They are small (64 x 64 inputs, 8 x 8 final feature maps) so that tests stay fast. Weights are variance
preserving and BatchNorm statistics random, so that mosaic predictions differ well above float32 rounding and
BatchNorm folding is exercised. :func:`converted` caches ``openvino.convert_model`` results for the test session
(a conversion takes seconds); :func:`to_ir` and :func:`to_onnx` write files with a dynamic or static batch.
"""

from __future__ import annotations

import warnings
from functools import cache
from pathlib import Path

import openvino as ov
import torch
from torch import nn

INPUT_SIZE = 64
NUM_CLASSES = 10


def _randomise(module: nn.Module, generator: torch.Generator) -> None:
    """Variance-preserving weights (so that mosaic predictions differ well above float32 noise) and random
    BatchNorm statistics."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=generator) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=generator))
        elif isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            with torch.no_grad():
                m.weight.copy_(0.5 + torch.rand(n, generator=generator))
                m.bias.copy_(0.1 * torch.randn(n, generator=generator))
                m.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
                m.running_var.copy_(0.5 + torch.rand(n, generator=generator))


def _seeded(build, seed: int) -> nn.Module:
    """Build a module and set all its weights from a seeded generator (global randomness is not touched)."""
    with torch.random.fork_rng():  # default initialisation draws from the global RNG: restore it afterwards
        module = build()
    _randomise(module, torch.Generator().manual_seed(seed))
    return module.eval()


# ---------------------------------------------------------------------------------------------- ResNet-style


class BasicBlock(nn.Module):
    """ResNet basic block: 3x3 conv-BN-ReLU, 3x3 conv-BN, identity or 1x1 projection shortcut, ReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return torch.relu(out + shortcut)


class TinyResNet(nn.Module):
    """64x64 -> stem (32x32) -> layer1 (32x32) -> layer2 (16x16) -> layer3 (8x8) -> GAP -> fc."""

    def __init__(self, num_classes: int = NUM_CLASSES, pool: str = "adaptive", flatten: str = "flatten") -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.layer1 = BasicBlock(16, 16)
        self.layer2 = BasicBlock(16, 32, stride=2)
        self.layer3 = BasicBlock(32, 64, stride=2)
        self.pool = pool
        self.flatten = flatten
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        if self.pool == "mean":
            x = x.mean((2, 3))
        elif self.flatten == "view":  # old-style flatten: a static export bakes the batch size into the Reshape
            x = self.avgpool(x).view(x.size(0), -1)
        else:
            x = self.avgpool(x).flatten(1)
        return self.fc(x)


def resnet(
    seed: int = 0, num_classes: int = NUM_CLASSES, pool: str = "adaptive", flatten: str = "flatten"
) -> TinyResNet:
    """A tiny ResNet with seeded random weights.

    ``pool`` is ``"adaptive"`` (``AdaptiveAvgPool2d(1)``) or ``"mean"`` (``x.mean((2, 3))``); ``flatten`` is
    ``"flatten"`` (``x.flatten(1)``) or ``"view"`` (``x.view(x.size(0), -1)``).
    """
    return _seeded(lambda: TinyResNet(num_classes, pool, flatten), seed)


# ---------------------------------------------------------------------------------------- MobileNetV3-style


class SqueezeExcite(nn.Module):
    """timm-style SE: mean over (H, W) -> 1x1 conv -> ReLU -> 1x1 conv -> hardsigmoid -> rescale."""

    def __init__(self, channels: int, reduced: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.expand = nn.Conv2d(reduced, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        s = nn.functional.hardsigmoid(self.expand(torch.relu(self.reduce(s))))
        return x * s


class InvertedResidual(nn.Module):
    """1x1 expand-BN-act, kxk depthwise-BN-act, optional SE, 1x1 project-BN, residual when shapes match."""

    def __init__(self, cin: int, expanded: int, cout: int, kernel: int, stride: int, se: bool, act: type) -> None:
        super().__init__()
        self.expand = nn.Sequential(nn.Conv2d(cin, expanded, 1, bias=False), nn.BatchNorm2d(expanded), act())
        self.depthwise = nn.Sequential(
            nn.Conv2d(expanded, expanded, kernel, stride, kernel // 2, groups=expanded, bias=False),
            nn.BatchNorm2d(expanded),
            act(),
        )
        self.se = SqueezeExcite(expanded, max(8, expanded // 4)) if se else nn.Identity()
        self.project = nn.Sequential(nn.Conv2d(expanded, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.se(self.depthwise(self.expand(x))))
        return out + x if self.residual else out


class TinyMobileNetV3(nn.Module):
    """64x64 -> stem (32x32) -> blocks (32, 16, 16, 8) -> 1x1 conv+BN+hardswish (8x8) -> GAP -> Linear-hswish-Linear."""

    def __init__(self, num_classes: int = NUM_CLASSES, pool: str = "adaptive") -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.Hardswish())
        self.blocks = nn.Sequential(
            InvertedResidual(16, 32, 16, 3, 1, se=False, act=nn.ReLU),
            InvertedResidual(16, 48, 24, 3, 2, se=True, act=nn.Hardswish),
            InvertedResidual(24, 72, 24, 5, 1, se=True, act=nn.Hardswish),
            InvertedResidual(24, 96, 40, 3, 2, se=True, act=nn.Hardswish),
        )
        self.conv_last = nn.Sequential(nn.Conv2d(40, 96, 1, bias=False), nn.BatchNorm2d(96), nn.Hardswish())
        self.pool = pool
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Linear(96, 128), nn.Hardswish(), nn.Linear(128, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_last(self.blocks(self.stem(x)))
        x = self.global_pool(x).flatten(1) if self.pool == "adaptive" else x.mean((2, 3))
        return self.head(x)


def mobilenetv3(seed: int = 0, num_classes: int = NUM_CLASSES, pool: str = "adaptive") -> TinyMobileNetV3:
    """A tiny MobileNetV3-style network with seeded random weights (see :class:`TinyMobileNetV3`)."""
    return _seeded(lambda: TinyMobileNetV3(num_classes, pool), seed)


# ------------------------------------------------------------------------------------------------ wrappers


class NHWCInput(nn.Module):
    """Takes N x H x W x 3 input and permutes it to NCHW before the wrapped network."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.permute(0, 3, 1, 2))


class WithSoftmax(nn.Module):
    """Ends the wrapped network in a softmax over classes."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=-1)


def input_shape(module: nn.Module, batch: int = 1) -> tuple[int, int, int, int]:
    """The input shape a test module expects (NHWC for :class:`NHWCInput`)."""
    if isinstance(module, NHWCInput):
        return (batch, INPUT_SIZE, INPUT_SIZE, 3)
    return (batch, 3, INPUT_SIZE, INPUT_SIZE)


def example_input(module: nn.Module, batch: int = 1, seed: int = 0) -> torch.Tensor:
    """A seeded random input batch for ``module``."""
    return torch.randn(input_shape(module, batch), generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------------------------------------- exports


def to_ov(module: nn.Module, dynamic_batch: bool = True) -> ov.Model:
    """Convert with ``openvino.convert_model``; batch dimension dynamic or fixed to 1."""
    shape = input_shape(module)
    with torch.no_grad():
        return ov.convert_model(
            module, example_input=torch.zeros(shape), input=[(-1, *shape[1:]) if dynamic_batch else shape]
        )


def to_ir(module: nn.Module | ov.Model, path: str | Path, dynamic_batch: bool = True) -> Path:
    """Export to an OpenVINO IR ``.xml`` (+ ``.bin``, f32 weights) at ``path``; returns the ``.xml`` path."""
    path = Path(path).with_suffix(".xml")
    model = module if isinstance(module, ov.Model) else to_ov(module, dynamic_batch)
    ov.save_model(model, str(path), compress_to_fp16=False)
    return path


def to_onnx(module: nn.Module, path: str | Path, dynamic_batch: bool = True, opset: int = 17) -> Path:
    """Export to ONNX with the TorchScript exporter (``dynamo=False``); batch dynamic or fixed to 1."""
    path = Path(path).with_suffix(".onnx")
    axes = {"input": {0: "batch"}, "logits": {0: "batch"}} if dynamic_batch else None
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter is deprecated, on purpose
        torch.onnx.export(
            module,
            (torch.zeros(input_shape(module)),),
            str(path),
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )
    return path


_FAMILIES = {"resnet": resnet, "mobilenetv3": mobilenetv3}
_WRAPPERS = {None: None, "nhwc": NHWCInput, "softmax": WithSoftmax}


def build(family: str, wrapper: str | None = None, seed: int = 0, **options) -> nn.Module:
    """``family`` (``"resnet"`` / ``"mobilenetv3"``) with ``options``, optionally wrapped (``"nhwc"`` input or
    ending in a ``"softmax"``)."""
    net = _FAMILIES[family](seed=seed, **options)
    wrap = _WRAPPERS[wrapper]
    return net if wrap is None else wrap(net)


@cache
def _converted(family: str, wrapper: str | None, dynamic_batch: bool, seed: int, options: tuple) -> ov.Model:
    return to_ov(build(family, wrapper, seed, **dict(options)), dynamic_batch)


def converted(
    family: str, wrapper: str | None = None, dynamic_batch: bool = True, seed: int = 0, **options
) -> ov.Model:
    """:func:`to_ov` of :func:`build`, cached for the test session (conversion takes seconds); a fresh clone."""
    return _converted(family, wrapper, dynamic_batch, seed, tuple(sorted(options.items()))).clone()
