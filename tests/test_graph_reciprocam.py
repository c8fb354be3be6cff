"""ReciproCAM inserted into OpenVINO graphs: correctness against a brute-force reference, one-pass vs general
path, target-layer detection, sources (IR / ONNX, static / dynamic batch), batch sizes and round trips."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import cnn_architectures as arch
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
import torch

from saliencykit import demo
from saliencykit.errors import GraphError, MethodError
from saliencykit.graph import (
    candidate_layers,
    find_target_layer,
    has_xai,
    insert_reciprocam,
    one_pass_problem,
    resolve_target_layer,
    xai_info,
)

#: This machine's CPU plugin defaults to bf16 inference, whose rounding min-max scaling turns into visible
#: differences; correctness is checked in f32.
F32 = {"INFERENCE_PRECISION_HINT": "f32"}
CORE = ov.Core()
TOL = 1e-4

#: The authors' 3 x 3 Gaussian weights, written out independently of the implementation.
GAUSS = {(0, 0): 1 / 4, (-1, 0): 1 / 8, (1, 0): 1 / 8, (0, -1): 1 / 8, (0, 1): 1 / 8}
GAUSS.update({(a, b): 1 / 16 for a in (-1, 1) for b in (-1, 1)})


def infer(model: ov.Model, x: np.ndarray, config: dict | None = None) -> list[np.ndarray]:
    """All outputs of ``model`` on ``x``, in model order (f32 inference unless ``config`` says otherwise)."""
    compiled = CORE.compile_model(model, "CPU", F32 if config is None else config)
    result = compiled(x)
    return [np.array(result[o]) for o in compiled.outputs]


def saliency(model: ov.Model, x: np.ndarray, name: str = "saliency_map") -> np.ndarray:
    compiled = CORE.compile_model(model, "CPU", F32)
    return np.array(compiled(x)[name])


def layer(model: ov.Model, prefix: str) -> str:
    """The last spatial layer whose friendly name starts with ``prefix``."""
    return [n for n in candidate_layers(model, None) if n.startswith(prefix)][-1]


def brute_force(feature: torch.Tensor, head, kernel: str, postprocess: str = "softmax") -> np.ndarray:
    """ReciproCAM by definition: run ``head`` on every mosaic of every image, then min-max scale per class."""
    n, c, h, w = feature.shape
    maps = []
    for image in range(n):
        mosaics = torch.zeros(h * w, c, h, w)
        for i in range(h):
            for j in range(w):
                spread = {(0, 0): 1.0} if kernel == "hard" else GAUSS
                for (di, dj), weight in spread.items():
                    if 0 <= i + di < h and 0 <= j + dj < w:
                        mosaics[i * w + j, :, i + di, j + dj] = feature[image, :, i, j] * weight
        with torch.no_grad():
            scores = head(mosaics, image)
        if postprocess == "softmax":
            scores = torch.softmax(scores, -1)
        scores = scores.numpy().T.reshape(-1, h, w)
        low, high = scores.min(axis=(1, 2), keepdims=True), scores.max(axis=(1, 2), keepdims=True)
        maps.append((scores - low) / (high - low))
    return np.stack(maps).astype(np.float32)


# ------------------------------------------------------------------------------------------------ models


@cache
def resnet() -> torch.nn.Module:
    return arch.resnet()


@cache
def mobilenet() -> torch.nn.Module:
    return arch.mobilenetv3()


def ov_model(name: str, dynamic: bool = True) -> ov.Model:
    return arch.converted({"resnet": "resnet", "mobilenet": "mobilenetv3"}[name], dynamic_batch=dynamic)


@cache
def demo_model() -> ov.Model:
    return demo.model()


@cache
def demo_input() -> np.ndarray:
    return demo.preprocess(demo.photos()["chelsea"])


DEMO_14x14 = "__module._blocks.10/aten::add/Add"
DEMO_BLOCK15 = "__module._blocks.15._bn2/aten::batch_norm/BatchNormInference"


def split_resnet(where: str):
    """(features(x), head(mosaics, image_index)) of the tiny ResNet split at ``where``."""
    net = resnet()

    def stem_to_layer2(x):
        return net.layer2(net.layer1(net.stem(x)))

    def pool_fc(f):
        return net.fc(net.avgpool(f).flatten(1))

    if where == "layer3":
        return (lambda x: net.layer3(stem_to_layer2(x))), (lambda m, i: pool_fc(m))
    if where == "layer2":
        return stem_to_layer2, (lambda m, i: pool_fc(net.layer3(m)))
    if where == "layer3.relu":  # inside a residual block: the shortcut comes from outside the head
        block, kept = net.layer3, {}

        def features(x):
            kept["layer2"] = stem_to_layer2(x)
            return torch.relu(block.bn1(block.conv1(kept["layer2"])))

        def head(m, i):  # every mosaic of image i shares image i's unperturbed shortcut
            shortcut = block.downsample(kept["layer2"][i : i + 1])
            return pool_fc(torch.relu(block.bn2(block.conv2(m)) + shortcut))

        return features, head
    raise ValueError(where)


def split_mobilenet(where: str):
    net = mobilenet()

    def blocks(x):
        return net.blocks(net.stem(x))

    def head_after_pool(f):
        return net.head(net.global_pool(f).flatten(1))

    if where == "conv_last":
        return (lambda x: net.conv_last(blocks(x))), (lambda m, i: head_after_pool(m))
    if where == "blocks":  # 1x1 conv + BN + hardswish between the target and pooling: one pass applies
        return blocks, (lambda m, i: head_after_pool(net.conv_last(m)))
    if where == "blocks.2":  # a strided depthwise conv and squeeze-excite follow: general path only
        return (lambda x: net.blocks[:3](net.stem(x))), (lambda m, i: head_after_pool(net.conv_last(net.blocks[3](m))))
    raise ValueError(where)


CASES = {
    # name: (ov model name, target layer prefix or None, split, one pass expected)
    "resnet-default": ("resnet", None, lambda: split_resnet("layer3"), True),
    "resnet-layer2": ("resnet", "__module.layer2/", lambda: split_resnet("layer2"), False),
    "resnet-inside-block": ("resnet", "__module.layer3/aten::relu/Relu", lambda: split_resnet("layer3.relu"), False),
    "mobilenet-default": ("mobilenet", None, lambda: split_mobilenet("conv_last"), True),
    "mobilenet-blocks": ("mobilenet", "__module.blocks.3.project", lambda: split_mobilenet("blocks"), True),
    "mobilenet-blocks2": ("mobilenet", "__module.blocks.2/", lambda: split_mobilenet("blocks.2"), False),
}


def _target(model: ov.Model, prefix: str | None) -> str | None:
    if prefix is None:
        return None
    exact = [n for n in candidate_layers(model, None) if n == prefix]
    return exact[0] if exact else layer(model, prefix)


# ------------------------------------------------------------------------------------------ correctness


@pytest.mark.parametrize("kernel", ["hard", "gaussian"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_brute_force_reference(case: str, kernel: str) -> None:
    name, prefix, split, expect_one_pass = CASES[case]
    model = ov_model(name)
    target = _target(model, prefix)
    features, head = split()
    x = arch.example_input(resnet(), batch=2, seed=3)
    with torch.no_grad():
        reference = brute_force(features(x), head, kernel)
    assert (one_pass_problem(model, target) is None) == expect_one_pass
    for one_pass in ("auto", False):
        explained = insert_reciprocam(model, target_layer=target, one_pass=one_pass, kernel=kernel)
        assert xai_info(explained)["path"] == ("one-pass" if expect_one_pass and one_pass else "general")
        maps = saliency(explained, x.numpy())
        assert maps.shape == reference.shape and maps.dtype == np.float32
        assert np.abs(maps - reference).max() <= TOL, (one_pass, np.abs(maps - reference).max())


def test_identity_and_sigmoid_postprocess() -> None:
    features, head = split_resnet("layer3")
    x = arch.example_input(resnet(), batch=1, seed=4)
    with torch.no_grad():
        f = features(x)
        identity = brute_force(f, head, "hard", postprocess="identity")
        sigmoid = brute_force(f, lambda m, i: torch.sigmoid(head(m, i)), "hard", postprocess="identity")
    for postprocess, reference in (("identity", identity), ("sigmoid", sigmoid)):
        for one_pass in ("auto", False):
            maps = saliency(
                insert_reciprocam(ov_model("resnet"), postprocess=postprocess, one_pass=one_pass), x.numpy()
            )
            assert np.abs(maps - reference).max() <= TOL


@pytest.mark.parametrize("kernel", ["hard", "gaussian"])
@pytest.mark.parametrize("target", [None, DEMO_BLOCK15])
def test_demo_one_pass_equals_general(target: str | None, kernel: str) -> None:
    model, x = demo_model(), demo_input()
    one = insert_reciprocam(model, target_layer=target, one_pass=True, kernel=kernel)
    general = insert_reciprocam(model, target_layer=target, one_pass=False, kernel=kernel)
    assert xai_info(one)["path"] == "one-pass" and xai_info(general)["path"] == "general"
    maps_one, maps_general = saliency(one, x), saliency(general, x)
    assert maps_one.shape == (1, 1000, 7, 7)
    assert np.abs(maps_one - maps_general).max() <= TOL
    cat = maps_one[0, 285]
    assert cat.min() == 0.0 and cat.max() == pytest.approx(1.0)


def test_demo_earlier_layer_takes_general_path() -> None:
    model = demo_model()
    problem = one_pass_problem(model, DEMO_14x14)
    assert problem is not None and "GroupConvolution" in problem and "5x5" in problem
    explained = insert_reciprocam(model, target_layer=DEMO_14x14)  # one_pass="auto"
    assert xai_info(explained)["path"] == "general"
    with pytest.raises(GraphError, match="one_pass=True.*5x5 GroupConvolution"):
        insert_reciprocam(model, target_layer=DEMO_14x14, one_pass=True)
    maps = saliency(explained, demo_input())
    assert maps.shape == (1, 1000, 14, 14)
    assert np.isfinite(maps).all() and maps.min() >= 0.0 and maps.max() <= 1.0


def test_one_pass_true_names_the_reason() -> None:
    model = ov_model("resnet")
    with pytest.raises(GraphError, match="3x3 Convolution"):
        insert_reciprocam(model, target_layer=layer(model, "__module.layer2/"), one_pass=True)
    mobile = ov_model("mobilenet")
    assert one_pass_problem(mobile, layer(mobile, "__module.blocks.2/")) is not None


# ----------------------------------------------------------------------------------- target detection


def test_default_target_layers() -> None:
    assert find_target_layer(ov_model("resnet")).get_node().get_friendly_name() == "__module.layer3/aten::relu/Relu_1"
    mobile = find_target_layer(ov_model("mobilenet"))
    assert mobile.get_node().get_type_name() == "HSwish" and "conv_last" in mobile.get_node().get_friendly_name()
    target = resolve_target_layer(demo_model())
    assert (target.channels, target.height, target.width) == (1280, 7, 7)
    assert target.pooling is not None and target.pooling.node.get_type_name() == "ReduceMean"
    mean_pooled = arch.converted("resnet", pool="mean")  # x.mean((2, 3)): ReduceMean without keep_dims
    assert resolve_target_layer(mean_pooled).pooling.keep_dims is False


def test_target_layer_errors_list_candidates() -> None:
    model = ov_model("resnet")
    with pytest.raises(GraphError, match=r"no node with that name(.|\n)*layer3/aten::relu/Relu_1"):
        find_target_layer(model, "no/such/layer")
    with pytest.raises(GraphError, match="not a spatial 4-D feature map"):
        find_target_layer(model, "__module.fc/aten::linear/MatMul")


class _FlattenNet(torch.nn.Module):
    """Conv -> flatten -> linear: no global pooling."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, 2, 1)
        self.fc = torch.nn.Linear(4 * 8 * 8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def test_no_global_pooling() -> None:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = _FlattenNet().eval()
    model = ov.convert_model(net, example_input=torch.zeros(1, 3, 16, 16), input=[(-1, 3, 16, 16)])
    with pytest.raises(GraphError, match=r"not through global pooling(.|\n)*Relu"):
        insert_reciprocam(model)
    target = layer(model, "__module.conv")
    explained = insert_reciprocam(model, target_layer=target)  # the general path needs no pooling
    assert xai_info(explained)["path"] == "general"
    with pytest.raises(GraphError, match="no global pooling"):
        insert_reciprocam(model, target_layer=target, one_pass=True)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        reference = brute_force(torch.relu(net.conv(x)), lambda m, i: net.fc(m.flatten(1)), "hard")
    assert np.abs(saliency(explained, x.numpy()) - reference).max() <= TOL


# ----------------------------------------------------------------------------- graph editing contract


def test_original_outputs_unchanged_and_input_model_untouched() -> None:
    model = ov_model("mobilenet")
    ops_before = len(model.get_ordered_ops())
    x = arch.example_input(mobilenet(), batch=3).numpy()
    for config in (F32, {}):
        plain = infer(model, x, config)[0]
        for one_pass in ("auto", False):
            outputs = infer(insert_reciprocam(model, one_pass=one_pass), x, config)
            assert len(outputs) == 2
            np.testing.assert_array_equal(outputs[0], plain)
    assert len(model.get_ordered_ops()) == ops_before and len(model.outputs) == 1 and not has_xai(model)


def test_batches_are_independent() -> None:
    model = insert_reciprocam(ov_model("resnet"), kernel="gaussian")
    x = arch.example_input(resnet(), batch=3, seed=7).numpy()
    together = saliency(model, x)
    assert together.shape == (3, 10, 8, 8)
    for i in range(3):
        assert np.abs(saliency(model, x[i : i + 1])[0] - together[i]).max() <= 1e-5


@pytest.mark.parametrize("dynamic", [True, False], ids=["dynamic", "static"])
@pytest.mark.parametrize("fmt", ["ir", "onnx"])
def test_sources(tmp_path: Path, fmt: str, dynamic: bool) -> None:
    # x.view(x.size(0), -1): a static ONNX export hard-codes the batch in a Reshape to [1, -1]
    net = arch.resnet(flatten="view")
    if fmt == "ir":
        path = arch.to_ir(arch.converted("resnet", dynamic_batch=dynamic, flatten="view"), tmp_path / "model")
    else:
        path = arch.to_onnx(net, tmp_path / "model", dynamic_batch=dynamic)
    model = CORE.read_model(str(path))
    x = arch.example_input(net, batch=3 if dynamic else 1, seed=5)
    with torch.no_grad():
        plain = net(x).numpy()
    features, head = split_resnet("layer3")
    _, head2 = split_resnet("layer2")
    with torch.no_grad():
        reference = brute_force(features(x), head, "hard")
        reference2 = brute_force(net.layer2(net.layer1(net.stem(x))), head2, "hard")
    earlier = layer(model, "/layer2/" if fmt == "onnx" else "__module.layer2/")
    for target, expected in ((None, reference), (earlier, reference2)):
        for one_pass in ("auto", False):
            explained = insert_reciprocam(model, target_layer=target, one_pass=one_pass)
            logits, maps = infer(explained, x.numpy())
            assert np.abs(logits - plain).max() < 1e-4
            assert np.abs(maps - expected).max() <= TOL


def test_nhwc_input_model() -> None:
    net = arch.NHWCInput(resnet())
    model = arch.converted("resnet", wrapper="nhwc")
    assert model.inputs[0].get_partial_shape()[3] == 3
    target = resolve_target_layer(model)
    assert target.layout == "NCHW" and (target.height, target.width) == (8, 8)
    x = arch.example_input(net, batch=2, seed=1)
    features, head = split_resnet("layer3")
    with torch.no_grad():
        reference = brute_force(features(x.permute(0, 3, 1, 2)), head, "gaussian")
    for one_pass in ("auto", False):
        assert (
            np.abs(
                saliency(insert_reciprocam(model, kernel="gaussian", one_pass=one_pass), x.numpy()) - reference
            ).max()
            <= TOL
        )


def _nhwc_pooling(model: ov.Model) -> ov.Model:
    """Rewrite ReduceMean(F, [2, 3]) as ReduceMean(Transpose(F) to NHWC, [1, 2]), as TensorFlow graphs pool."""
    for node in model.get_ordered_ops():
        if node.get_type_name() == "ReduceMean":
            channels_last = ops.transpose(node.input_value(0), np.array([0, 2, 3, 1], np.int64))
            pooled = ops.reduce_mean(channels_last, np.array([1, 2], np.int64), node.get_attributes()["keep_dims"])
            for target in list(node.output(0).get_target_inputs()):
                target.replace_source_output(pooled.output(0))
    model.validate_nodes_and_infer_types()
    return model


def test_channels_last_feature_map() -> None:
    nchw = arch.converted("resnet", pool="mean")
    nhwc = _nhwc_pooling(arch.converted("resnet", pool="mean"))
    target = resolve_target_layer(nhwc)
    assert target.layout == "NHWC" and (target.channels, target.height, target.width) == (64, 8, 8)
    x = arch.example_input(resnet(), batch=2).numpy()
    expected = saliency(insert_reciprocam(nchw, kernel="gaussian"), x)
    for one_pass in ("auto", False):
        assert (
            np.abs(saliency(insert_reciprocam(nhwc, kernel="gaussian", one_pass=one_pass), x) - expected).max() <= TOL
        )


def test_model_ending_in_softmax_gets_no_second_softmax() -> None:
    plain = insert_reciprocam(ov_model("resnet"))  # logits + softmax postprocess
    with_softmax = insert_reciprocam(arch.converted("resnet", wrapper="softmax"))  # softmax in the graph
    assert xai_info(with_softmax)["postprocess"] == "identity"
    x = arch.example_input(resnet(), batch=2).numpy()
    assert np.abs(saliency(plain, x) - saliency(with_softmax, x)).max() <= 1e-5


def test_save_and_reload(tmp_path: Path) -> None:
    explained = insert_reciprocam(ov_model("mobilenet", dynamic=False), kernel="gaussian")
    ov.save_model(explained, str(tmp_path / "explained.xml"), compress_to_fp16=False)
    reloaded = CORE.read_model(str(tmp_path / "explained.xml"))
    assert has_xai(reloaded) and not has_xai(reloaded, "other")
    assert xai_info(reloaded) == xai_info(explained)
    x = arch.example_input(mobilenet(), batch=1).numpy()
    np.testing.assert_allclose(saliency(reloaded, x), saliency(explained, x), atol=1e-6)
    with pytest.raises(GraphError, match="already has an output named 'saliency_map'"):
        insert_reciprocam(reloaded)
    twice = insert_reciprocam(reloaded, output_name="saliency_map_2")
    assert has_xai(twice, "saliency_map") and has_xai(twice, "saliency_map_2")


def test_invalid_arguments() -> None:
    model = ov_model("resnet")
    with pytest.raises(MethodError, match="kernel"):
        insert_reciprocam(model, kernel="box")
    with pytest.raises(MethodError, match="postprocess"):
        insert_reciprocam(model, postprocess="log")
    with pytest.raises(MethodError, match="one_pass"):
        insert_reciprocam(model, one_pass="yes")
