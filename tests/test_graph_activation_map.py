"""ActivationMap inserted into OpenVINO graphs: the channel mean of the target feature map, per image."""

from __future__ import annotations

from pathlib import Path

import cnn_architectures as arch
import numpy as np
import openvino as ov
import pytest
import torch

from saliencykit import demo
from saliencykit.errors import GraphError
from saliencykit.graph import candidate_layers, has_xai, insert_activation_map, xai_info

F32 = {"INFERENCE_PRECISION_HINT": "f32"}
CORE = ov.Core()


def run(model: ov.Model, x: np.ndarray) -> list[np.ndarray]:
    compiled = CORE.compile_model(model, "CPU", F32)
    result = compiled(x)
    return [np.array(result[o]) for o in compiled.outputs]


def reference(feature: torch.Tensor) -> np.ndarray:
    mean = feature.mean(1, keepdim=True).numpy()
    low, high = mean.min(axis=(2, 3), keepdims=True), mean.max(axis=(2, 3), keepdims=True)
    return (mean - low) / (high - low)


def test_default_layer_per_image() -> None:
    net = arch.resnet()
    model = arch.converted("resnet")
    explained = insert_activation_map(model)
    assert xai_info(explained)["method"] == "activation_map" and not has_xai(model)
    x = arch.example_input(net, batch=3, seed=2)
    with torch.no_grad():
        expected = reference(net.layer3(net.layer2(net.layer1(net.stem(x)))))
        logits = net(x).numpy()
    plain, maps = run(explained, x.numpy())
    assert maps.shape == (3, 1, 8, 8) and maps.dtype == np.float32
    assert np.abs(maps - expected).max() <= 1e-5
    np.testing.assert_array_equal(plain, run(model, x.numpy())[0])
    assert np.abs(plain - logits).max() < 1e-4


def test_explicit_layer_and_nhwc_input() -> None:
    net = arch.NHWCInput(arch.mobilenetv3())
    model = arch.converted("mobilenetv3", wrapper="nhwc")
    target = [n for n in candidate_layers(model, None) if n.startswith("__module.net.blocks.1.project")][-1]
    x = arch.example_input(net, batch=2, seed=1)
    with torch.no_grad():
        expected = reference(net.net.blocks[:2](net.net.stem(x.permute(0, 3, 1, 2))))
    maps = run(insert_activation_map(model, target_layer=target), x.numpy())[1]
    assert maps.shape == (2, 1, 16, 16)
    assert np.abs(maps - expected).max() <= 1e-5


def test_demo_save_and_reload(tmp_path: Path) -> None:
    explained = insert_activation_map(demo.model(), output_name="activation")
    ov.save_model(explained, str(tmp_path / "am.xml"), compress_to_fp16=False)
    reloaded = CORE.read_model(str(tmp_path / "am.xml"))
    assert has_xai(reloaded, "activation") and not has_xai(reloaded)
    x = demo.preprocess(demo.photos()["coffee"])
    maps = CORE.compile_model(reloaded, "CPU", F32)(x)["activation"]
    assert maps.shape == (1, 1, 7, 7) and maps.min() == 0.0 and maps.max() == pytest.approx(1.0)


def test_errors() -> None:
    model = arch.converted("resnet")
    with pytest.raises(GraphError, match="no node with that name"):
        insert_activation_map(model, target_layer="missing")
    with pytest.raises(GraphError, match="already has an output"):
        insert_activation_map(insert_activation_map(model))
