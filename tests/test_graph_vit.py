"""ViT-ReciproCAM and the token activation map inside the OpenVINO graph (saliencykit.graph.vit).

The in-graph maps are checked against a brute-force torch reference (tokens masked explicitly, the rest of the
network run in torch) on a small seeded ViT exported to IR and ONNX, with static and dynamic batch.
"""

from __future__ import annotations

import numpy as np
import openvino as ov
import pytest
import torch
from vit_architectures import (
    GRID,
    TinyCNN,
    TinyViT,
    example_images,
    reference_vit_activation_map,
    reference_vit_reciprocam,
    to_ir,
    to_onnx,
)
from vit_architectures import token_masks as reference_masks

from saliencykit.errors import GraphError
from saliencykit.graph.vit import (
    find_vit_target,
    insert_vit_activation_map,
    insert_vit_reciprocam,
    list_vit_blocks,
    token_masks,
)

pytestmark = pytest.mark.slow  # left out of `make test-fast` (the inner loop); `make test` runs it

TOL = 1e-4
F32 = {"INFERENCE_PRECISION_HINT": "f32"}  # this CPU would otherwise run in bf16


@pytest.fixture(scope="module")
def core() -> ov.Core:
    return ov.Core()


@pytest.fixture(scope="module")
def vits() -> dict[str, TinyViT]:
    return {"token": TinyViT(head="token"), "gap": TinyViT(head="gap")}


@pytest.fixture(scope="module")
def exported(tmp_path_factory, vits):
    """Models by (head, source, batch): source 'ir' or 'onnx', batch 'static' (1) or 'dynamic'."""
    folder = tmp_path_factory.mktemp("vit")
    cache: dict = {}

    def get(head: str, source: str, batch: str) -> ov.Model:
        key = (head, source, batch)
        if key not in cache:
            dynamic = batch == "dynamic"
            stem = folder / f"{head}_{source}_{batch}"
            if source == "ir":
                cache[key] = to_ir(vits[head], stem.with_suffix(".xml"), dynamic_batch=dynamic)
            else:
                cache[key] = to_onnx(vits[head], stem.with_suffix(".onnx"), dynamic_batch=dynamic)
        return cache[key]

    return get


def _compile(core: ov.Core, model: ov.Model) -> ov.CompiledModel:
    return core.compile_model(model, "CPU", F32)


def _outputs(compiled: ov.CompiledModel, images: np.ndarray) -> dict[str, np.ndarray]:
    outputs = compiled(images)
    return {(o.get_any_name() if o.get_names() else str(i)): outputs[o] for i, o in enumerate(compiled.outputs)}


def _run(core: ov.Core, model: ov.Model, images: np.ndarray) -> dict[str, np.ndarray]:
    return _outputs(_compile(core, model), images)


def _first_output(core: ov.Core, model: ov.Model, images: np.ndarray) -> np.ndarray:
    return _compile(core, model)(images)[0]


@pytest.mark.parametrize("head", ["token", "gap"])
@pytest.mark.parametrize("source", ["ir", "onnx"])
@pytest.mark.parametrize("batch", ["static", "dynamic"])
def test_matches_brute_force_reference(core, vits, exported, head, source, batch):
    model = exported(head, source, batch)
    explained = insert_vit_reciprocam(model)
    original, inserted = _compile(core, model), _compile(core, explained)
    for size in [1] if batch == "static" else [1, 3]:
        images = example_images(size, seed=size)
        outputs = inserted(images)
        maps = outputs[inserted.outputs[-1]]
        assert maps.shape == (size, 10, GRID, GRID) and maps.dtype == np.float32
        expected = reference_vit_reciprocam(vits[head], images)
        assert np.abs(maps - expected).max() <= TOL
        # the original output is untouched, bit for bit
        np.testing.assert_array_equal(outputs[inserted.outputs[0]], original(images)[0])
    assert len(model.outputs) == 1  # the given model is not modified


def test_maps_are_not_trivial(vits):
    """The reference maps of the test model vary clearly across positions (a meaningful 1e-4 comparison)."""
    raw = reference_vit_reciprocam(vits["token"], example_images(1), normalise=False)
    assert (raw.max(axis=(2, 3)) - raw.min(axis=(2, 3))).min() > 1e-2


@pytest.mark.parametrize(
    ("block_index", "use_gaussian", "postprocess"),
    [(0, False, "softmax"), (-2, True, "softmax"), (1, True, "sigmoid"), (-1, False, "identity")],
)
def test_blocks_kernels_and_postprocess(core, vits, exported, block_index, use_gaussian, postprocess):
    images = example_images(1, seed=7)
    for head in ("token", "gap"):
        explained = insert_vit_reciprocam(
            exported(head, "ir", "dynamic"),
            block_index=block_index,
            use_gaussian=use_gaussian,
            postprocess=postprocess,
        )
        maps = _run(core, explained, images)["saliency_map"]
        expected = reference_vit_reciprocam(
            vits[head], images, block_index=block_index, use_gaussian=use_gaussian, postprocess=postprocess
        )
        assert np.abs(maps - expected).max() <= TOL


def test_decomposed_layernorm_onnx_opset14(core, vits, tmp_path):
    """Older ONNX opsets spell LayerNorm as ReduceMean/Sub/Pow/Sqrt/Div; its Sub output has two consumers."""
    model = to_onnx(vits["token"], tmp_path / "vit14.onnx", dynamic_batch=False, opset=14)
    assert not any(n.get_type_name() == "MVN" for n in model.get_ordered_ops())
    target = find_vit_target(model)
    assert (target.num_blocks, target.block, target.num_prefix, target.grid) == (4, 3, 1, (GRID, GRID))
    images = example_images(1, seed=3)
    maps = _run(core, insert_vit_reciprocam(model, use_gaussian=True), images)["saliency_map"]
    assert np.abs(maps - reference_vit_reciprocam(vits["token"], images, use_gaussian=True)).max() <= TOL


def test_norm_with_several_consumers_is_detected(exported):
    """The case openvino-xai 1.1 rejects ('Number of normalization outputs > 1!'): ShapeOf users of the norm."""
    model = exported("token", "onnx", "dynamic")
    target = find_vit_target(model)
    norm = next(n for n in model.get_ordered_ops() if n.get_friendly_name() == target.norm_name)
    assert len(norm.output(0).get_target_inputs()) > 1
    assert target.norm_name == "/blocks.3/norm1/LayerNormalization"


def test_detection_layout(exported):
    token = find_vit_target(exported("token", "ir", "static"))
    gap = find_vit_target(exported("gap", "ir", "static"))
    assert (token.num_tokens, token.num_prefix, token.grid, token.dim) == (197, 1, (GRID, GRID), 64)
    assert (gap.num_tokens, gap.num_prefix, gap.grid, gap.dim) == (196, 0, (GRID, GRID), 64)
    assert token.num_blocks == gap.num_blocks == 4
    names = list_vit_blocks(exported("token", "ir", "static"))
    assert len(names) == 4 and all(f"blocks.{i}.norm1" in n for i, n in enumerate(names))


def test_target_layer_override(core, vits, exported):
    model = exported("token", "ir", "dynamic")
    names = list_vit_blocks(model)
    assert find_vit_target(model, target_layer=names[1]).block == 1
    # any node of that norm works, e.g. its MVN
    mvn = next(
        n for n in model.get_ordered_ops() if n.get_type_name() == "MVN" and "blocks.1.norm1" in n.get_friendly_name()
    )
    assert find_vit_target(model, target_layer=mvn.get_friendly_name()).norm_name == names[1]
    images = example_images(1, seed=5)
    maps = _run(core, insert_vit_reciprocam(model, target_layer=names[1]), images)["saliency_map"]
    assert np.abs(maps - reference_vit_reciprocam(vits["token"], images, block_index=1)).max() <= TOL


def test_bad_target_layer_and_block_index(exported):
    model = exported("token", "ir", "dynamic")
    with pytest.raises(GraphError, match="not a node of this model.*blocks.3.norm1"):
        insert_vit_reciprocam(model, target_layer="no such node")
    final_norm = next(
        n for n in model.get_ordered_ops() if n.get_type_name() == "MVN" and "__module.norm/" in n.get_friendly_name()
    )
    with pytest.raises(GraphError, match="without a residual Add"):
        insert_vit_reciprocam(model, target_layer=final_norm.get_friendly_name())
    with pytest.raises(GraphError, match="4 transformer blocks"):
        insert_vit_reciprocam(model, block_index=4)


def test_cnn_is_rejected_with_a_clear_error():
    model = to_ir(TinyCNN())
    with pytest.raises(GraphError, match="no transformer block found.*LayerNorm") as info:
        insert_vit_reciprocam(model)
    assert "CNN method" in str(info.value)
    with pytest.raises(GraphError, match="no transformer block found"):
        insert_vit_activation_map(model)


def test_save_and_reload_keeps_the_output(core, exported, tmp_path):
    model = exported("token", "onnx", "static")
    explained = insert_vit_reciprocam(model, use_gaussian=True)
    ov.save_model(explained, str(tmp_path / "explained.xml"), compress_to_fp16=False)
    reloaded = core.read_model(str(tmp_path / "explained.xml"))
    assert [o.get_any_name() for o in reloaded.outputs] == ["logits", "saliency_map"]
    images = example_images(1, seed=11)
    before, after = _run(core, explained, images), _run(core, reloaded, images)
    np.testing.assert_allclose(after["saliency_map"], before["saliency_map"], atol=1e-6)
    np.testing.assert_array_equal(after["logits"], _first_output(core, model, images))


def test_model_ending_in_softmax(core, vits):
    """A model that already outputs probabilities is used as it is (no second softmax)."""
    model = to_ir(torch.nn.Sequential(vits["gap"], torch.nn.Softmax(dim=-1)))
    images = example_images(1, seed=2)
    maps = _run(core, insert_vit_reciprocam(model), images)["saliency_map"]
    assert np.abs(maps - reference_vit_reciprocam(vits["gap"], images)).max() <= TOL


def test_output_name(core, exported):
    model = exported("gap", "ir", "dynamic")
    explained = insert_vit_reciprocam(model, output_name="vit_map")
    assert "vit_map" in explained.outputs[-1].get_names()
    with pytest.raises(GraphError, match="already has an output named 'vit_map'"):
        insert_vit_reciprocam(explained, output_name="vit_map")


@pytest.mark.parametrize("head", ["token", "gap"])
@pytest.mark.parametrize("batch", ["static", "dynamic"])
def test_activation_map_on_the_token_grid(core, vits, exported, head, batch):
    model = exported(head, "ir", batch)
    explained = insert_vit_activation_map(model)
    size = 1 if batch == "static" else 3
    images = example_images(size, seed=4)
    maps = _run(core, explained, images)["saliency_map"]
    assert maps.shape == (size, 1, GRID, GRID)
    assert np.abs(maps - reference_vit_activation_map(vits[head], images)).max() <= TOL
    assert maps.min() == 0.0 and abs(maps.max() - 1.0) < 1e-6
    np.testing.assert_array_equal(_first_output(core, explained, images), _first_output(core, model, images))
    block0 = insert_vit_activation_map(model, block_index=0)
    expected0 = reference_vit_activation_map(vits[head], images, block_index=0)
    assert np.abs(_run(core, block0, images)["saliency_map"] - expected0).max() <= TOL


@pytest.mark.parametrize("use_gaussian", [False, True])
@pytest.mark.parametrize("prefix", [0, 1, 2])
def test_token_masks_match_the_reference(prefix, use_gaussian):
    np.testing.assert_array_equal(
        token_masks((GRID, GRID), prefix, use_gaussian), reference_masks(GRID, prefix, use_gaussian)
    )


def test_fp16_compressed_ir(core, vits, tmp_path):
    """``openvino.save_model``'s default stores weights in float16 (Convert nodes before every weight)."""
    model = to_ir(vits["token"], tmp_path / "fp16.xml", dynamic_batch=False, compress_to_fp16=True)
    assert any(n.get_type_name() == "Convert" for n in model.get_ordered_ops())
    images = example_images(1, seed=9)
    maps = _run(core, insert_vit_reciprocam(model), images)["saliency_map"]
    assert maps.shape == (1, 10, GRID, GRID)
    assert np.abs(maps - reference_vit_reciprocam(vits["token"], images)).max() < 0.1
