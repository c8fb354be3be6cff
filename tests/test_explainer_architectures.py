"""The Explainer on every test architecture, from IR and ONNX files, with static and dynamic batch."""

from __future__ import annotations

import cnn_architectures as cnn
import numpy as np
import pytest
import vit_architectures as vit

import saliencykit as sk

pytestmark = pytest.mark.slow  # left out of `make test-fast` (the inner loop); `make test` runs it

PHOTO_NAMES = ("chelsea", "coffee", "rocket")


def _files(module, tmp_path, dynamic_batch, family):
    """The module exported as IR and as ONNX; returns both paths."""
    if family == "cnn":
        cnn.to_ir(module, tmp_path / "model.xml", dynamic_batch)
        cnn.to_onnx(module, tmp_path / "model.onnx", dynamic_batch)
    else:
        vit.to_ir(module, tmp_path / "model.xml", dynamic_batch=dynamic_batch)
        vit.to_onnx(module, tmp_path / "model.onnx", dynamic_batch=dynamic_batch)
    return [tmp_path / "model.xml", tmp_path / "model.onnx"]


@pytest.mark.slow
@pytest.mark.parametrize("dynamic_batch", [True, False], ids=["dynamic", "static"])
@pytest.mark.parametrize(
    ("name", "family", "method", "grid"),
    [
        ("resnet", "cnn", "reciprocam", (8, 8)),
        ("mobilenetv3", "cnn", "reciprocam", (8, 8)),
        ("vit", "vit", "vit_reciprocam", (14, 14)),
    ],
)
def test_maps_for_every_architecture_and_source(tmp_path, photos, name, family, method, grid, dynamic_batch):
    module = vit.TinyViT() if family == "vit" else cnn.build(name)
    size = 224 if family == "vit" else cnn.INPUT_SIZE
    images = [photos[n] for n in PHOTO_NAMES]
    for path in _files(module.eval(), tmp_path, dynamic_batch, family):
        explainer = sk.Explainer(path, preprocess=sk.Preprocess(size=size, mean=127.5, std=64.0))
        assert explainer.method.name == method, path
        explanations = explainer(images, targets="top:2")
        for image, explanation in zip(images, explanations):
            assert len(explanation.targets) == 2
            for target in explanation.targets:
                saliency = explanation.maps[target]
                assert saliency.shape[-2:] == grid and np.isfinite(saliency).all()
                assert saliency.max() == pytest.approx(1.0) and saliency.min() == pytest.approx(0.0)
            single = explainer(image, targets=explanation.targets)
            for target in explanation.targets:
                np.testing.assert_allclose(single.maps[target], explanation.maps[target], atol=1e-4)
