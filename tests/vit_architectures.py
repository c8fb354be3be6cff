"""A small Vision Transformer written with ``torch.nn`` for tests, its exports, and a brute-force reference.

The architecture follows timm's DeiT/ViT layout (patch embedding Conv2d, class token, position embedding,
pre-norm blocks with a hand-written attention on a fused ``qkv`` Linear, a final LayerNorm and a linear head)
so that the OpenVINO graphs it exports look like the real thing, while staying small enough (D=64, 4 blocks)
for tests that run in seconds. Weights are random but seeded.

``reference_vit_reciprocam`` computes ViT-ReciproCAM maps by explicitly masking tokens in torch and running
the rest of the network; ``saliencykit.graph.vit`` must reproduce it inside the OpenVINO graph.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import openvino as ov
import torch
from torch import nn

IMAGE_SIZE = 224
PATCH = 16
GRID = IMAGE_SIZE // PATCH  # 14 x 14 patch tokens

GAUSSIAN_3X3 = np.array([[1 / 16, 1 / 8, 1 / 16], [1 / 8, 1 / 4, 1 / 8], [1 / 16, 1 / 8, 1 / 16]], np.float32)


class Attention(nn.Module):
    """Multi-head self-attention like timm's: one ``qkv`` Linear, explicit softmax(q k^T / sqrt(d)) v."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj(x)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TinyViT(nn.Module):
    """A small ViT on 224 x 224 images with 16 x 16 patches (14 x 14 tokens).

    Args:
        head: ``"token"`` classifies the class token; ``"gap"`` averages the patch tokens.
        class_token: prepend a class token; defaults to ``head == "token"``.
    """

    def __init__(
        self,
        *,
        dim: int = 64,
        depth: int = 4,
        heads: int = 4,
        num_classes: int = 10,
        head: str = "token",
        class_token: bool | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if head not in ("token", "gap"):
            raise ValueError(f"head='{head}': use 'token' or 'gap'")
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        self.head_type = head
        self.num_prefix = int(head == "token" if class_token is None else class_token)
        self.patch_embed = nn.Conv2d(3, dim, PATCH, stride=PATCH)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.5) if self.num_prefix else None
        self.pos_embed = nn.Parameter(torch.randn(1, GRID * GRID + self.num_prefix, dim) * 0.5)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        # non-trivial LayerNorm affine parameters, so that masking before / after them differs
        for module in self.modules():
            if isinstance(module, nn.LayerNorm):
                nn.init.normal_(module.weight, 1.0, 0.3)
                nn.init.normal_(module.bias, 0.0, 0.3)
        # sharp attention and a head that is not saturated: the class scores then depend clearly on which tokens
        # are kept, so that normalised maps compare at 1e-4 without amplifying float32 rounding
        for block in self.blocks:
            nn.init.normal_(block.attn.qkv.weight, 0.0, 0.35)
            nn.init.normal_(block.attn.proj.weight, 0.0, 0.2)
        nn.init.normal_(self.head.weight, 0.0, 0.1)
        torch.random.set_rng_state(generator_state)
        self.eval()

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """Patch embedding + class token + position embedding: (N, T, D)."""
        x = self.patch_embed(images).flatten(2).transpose(1, 2)
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        return x + self.pos_embed

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        """Final norm and classifier on the output of the last block."""
        x = self.norm(x)
        x = x[:, 0] if self.head_type == "token" else x[:, self.num_prefix :].mean(dim=1)
        return self.head(x)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.tokens(images)
        for block in self.blocks:
            x = block(x)
        return self.forward_head(x)


class TinyCNN(nn.Module):
    """A small convolutional classifier (no transformer blocks): ViT detection must reject it."""

    def __init__(self, num_classes: int = 10, seed: int = 0) -> None:
        super().__init__()
        state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.fc = nn.Linear(32, num_classes)
        torch.random.set_rng_state(state)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def example_images(batch: int, seed: int = 0) -> np.ndarray:
    """Seeded normalised-looking images (batch, 3, 224, 224) float32."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, 3, IMAGE_SIZE, IMAGE_SIZE)).astype(np.float32)


def to_ir(
    module: nn.Module, path: Path | None = None, *, dynamic_batch: bool = True, compress_to_fp16: bool = False
) -> ov.Model:
    """Convert with ``openvino.convert_model``; save to ``path`` (``.xml``) and read it back when given.

    Weights stay float32 unless ``compress_to_fp16`` (``openvino.save_model``'s default), so that the IR computes
    what the torch module computes.
    """
    example = torch.from_numpy(example_images(1))
    shape = [-1 if dynamic_batch else 1, 3, IMAGE_SIZE, IMAGE_SIZE]
    with torch.no_grad():
        model = ov.convert_model(module, example_input=example, input=[shape])
    if path is None:
        return model
    ov.save_model(model, str(path), compress_to_fp16=compress_to_fp16)
    return ov.Core().read_model(str(path))


def to_onnx(module: nn.Module, path: Path, *, dynamic_batch: bool = True, opset: int = 17) -> ov.Model:
    """Export with the TorchScript ONNX exporter (``dynamo=False``) and read the file with OpenVINO."""
    example = torch.from_numpy(example_images(1))
    axes = {"input": {0: "batch"}, "logits": {0: "batch"}} if dynamic_batch else None
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter is deprecated, still fine
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )
    return ov.Core().read_model(str(path))


def token_masks(grid: int, num_prefix: int, use_gaussian: bool) -> np.ndarray:
    """Per-mosaic token weights (grid*grid, num_prefix + grid*grid), built position by position."""
    masks = np.zeros((grid * grid, num_prefix + grid * grid), np.float32)
    for i in range(grid):
        for j in range(grid):
            k = i * grid + j
            masks[k, :num_prefix] = 1.0  # class (and other prefix) tokens are kept
            if not use_gaussian:
                masks[k, num_prefix + k] = 1.0
                continue
            for di in (-1, 0, 1):
                for dj in (-1, 0, 1):
                    ii, jj = i + di, j + dj
                    if 0 <= ii < grid and 0 <= jj < grid:
                        masks[k, num_prefix + ii * grid + jj] = GAUSSIAN_3X3[di + 1, dj + 1]
    return masks


@torch.no_grad()
def reference_vit_reciprocam(
    model: TinyViT,
    images: np.ndarray,
    *,
    block_index: int = -1,
    use_gaussian: bool = False,
    postprocess: str = "softmax",
    normalise: bool = True,
) -> np.ndarray:
    """ViT-ReciproCAM by brute force: (N, num_classes, 14, 14), min-max normalised per class per image.

    For each patch position k, the target block's input ``x`` and its first LayerNorm output ``norm1(x)`` are
    multiplied by the token mask of k (class token kept, patch token k kept, the rest zeroed), then the rest of
    the block, the following blocks and the head run on the masked tokens.
    """
    block_index = block_index % len(model.blocks)
    masks = torch.from_numpy(token_masks(GRID, model.num_prefix, use_gaussian))
    out = []
    for image in images:
        x = model.tokens(torch.from_numpy(image)[None])
        for block in model.blocks[:block_index]:
            x = block(x)
        target = model.blocks[block_index]
        normed = target.norm1(x)
        # one masked copy of the tokens per patch position, all positions as one batch
        weights = masks[:, :, None]  # (h * w, T, 1)
        h = x * weights + target.attn(normed * weights)
        h = h + target.mlp(target.norm2(h))
        for block in model.blocks[block_index + 1 :]:
            h = block(h)
        scores = model.forward_head(h)  # (h * w, C)
        if postprocess == "softmax":
            scores = scores.softmax(-1)
        elif postprocess == "sigmoid":
            scores = scores.sigmoid()
        maps = scores.T.reshape(-1, GRID, GRID).numpy()  # (C, 14, 14)
        if not normalise:
            out.append(maps)
            continue
        low = maps.min(axis=(1, 2), keepdims=True)
        high = maps.max(axis=(1, 2), keepdims=True)
        out.append((maps - low) / np.maximum(high - low, 1e-12))
    return np.stack(out).astype(np.float32)


@torch.no_grad()
def reference_vit_activation_map(model: TinyViT, images: np.ndarray, *, block_index: int = -1) -> np.ndarray:
    """Mean over the embedding dimension of the target block's input patch tokens: (N, 1, 14, 14) in [0, 1]."""
    block_index = block_index % len(model.blocks)
    x = model.tokens(torch.from_numpy(images))
    for block in model.blocks[:block_index]:
        x = block(x)
    maps = x[:, model.num_prefix :].mean(-1).reshape(-1, 1, GRID, GRID).numpy()
    low = maps.min(axis=(1, 2, 3), keepdims=True)
    high = maps.max(axis=(1, 2, 3), keepdims=True)
    return ((maps - low) / np.maximum(high - low, 1e-12)).astype(np.float32)
