"""The graph toolkit: one batch helper (saliencykit.graph.batch), reading apart from editing, and the run-time info
every insertion records (ViT included)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
from vit_architectures import TinyCNN, TinyViT, example_images, to_ir

import saliencykit
from saliencykit.errors import GraphError, ModelInputError, PreprocessError
from saliencykit.graph import query
from saliencykit.graph.activation_map import insert_activation_map
from saliencykit.graph.batch import free_batch, make_batch_dynamic, set_batch
from saliencykit.graph.edit import add_named_output, check_output_name, xai_info
from saliencykit.graph.reciprocam import insert_reciprocam
from saliencykit.graph.vit import find_vit_target, insert_vit_activation_map, insert_vit_reciprocam

F32 = {"INFERENCE_PRECISION_HINT": "f32"}
GRAPH = Path(saliencykit.__file__).parent / "graph"


def _dense(batch: int | None = 2) -> ov.Model:
    """x (batch, 3) -> relu(x) * 2: every output row follows its input row."""
    param = ops.parameter([-1 if batch is None else batch, 3], np.float32, name="x")
    return ov.Model([ops.multiply(ops.relu(param), ops.constant(np.float32(2)))], [param], "dense")


def _hard_coded(batch: int = 1) -> ov.Model:
    """(batch, 3, 4, 4) -> Reshape to the constant [batch, 24, 2] -> Sigmoid: a detector head that spells its
    batch (as TFLite exports do), which OpenVINO's own reshape cannot change."""
    param = ops.parameter([batch, 3, 4, 4], np.float32, name="x")
    anchors = ops.reshape(param, ops.constant(np.array([batch, 24, 2], np.int64)), False)
    return ov.Model([ops.sigmoid(anchors)], [param], "hard_coded")


def _expected(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x.reshape(len(x), 24, 2)))


def _summed() -> ov.Model:
    """(1, 3) -> sum over the batch: shape inference accepts any batch, but the output's batch stays 1."""
    param = ops.parameter([1, 3], np.float32, name="x")
    return ov.Model([ops.reduce_sum(param, ops.constant(np.array([0], np.int64)), True)], [param], "summed")


def _batch_of(shape: ov.PartialShape) -> int | None:
    return shape[0].get_length() if shape[0].is_static else None


# ------------------------------------------------------------------------------------------------- batch


def test_static_batch_becomes_dynamic_and_still_computes_the_same():
    model = _dense(2)
    same, dynamic = make_batch_dynamic(model)
    assert same is model and dynamic
    assert _batch_of(model.inputs[0].get_partial_shape()) is None
    assert _batch_of(model.outputs[0].get_partial_shape()) is None
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(ov.compile_model(model, "CPU", F32)(x)[0], 2 * np.maximum(x, 0), rtol=1e-6)


def test_an_already_dynamic_batch_is_left_as_it_is():
    model = _dense(None)
    assert set_batch(model, None, None)
    assert _batch_of(model.inputs[0].get_partial_shape()) is None


def test_fixed_batch_reaches_input_and_outputs():
    model = _dense(None)
    assert set_batch(model, "x", 4)
    assert _batch_of(model.inputs[0].get_partial_shape()) == 4
    assert _batch_of(model.outputs[0].get_partial_shape()) == 4


def test_a_batch_the_graph_hard_codes_is_refused_and_the_model_left_unchanged():
    model = _hard_coded()
    assert not set_batch(model, None, None)  # shape inference fails on Reshape [1, 24, 2]
    assert not set_batch(model, None, 4)
    assert _batch_of(model.inputs[0].get_partial_shape()) == 1


def test_a_batch_that_does_not_reach_the_output_is_refused_and_restored():
    model = _summed()
    assert not set_batch(model, None, 4)
    assert not make_batch_dynamic(model)[1]
    assert _batch_of(model.inputs[0].get_partial_shape()) == 1
    assert _batch_of(model.outputs[0].get_partial_shape()) == 1


def test_free_batch_frees_a_hard_coded_batch_of_one_and_gives_the_same_numbers():
    model = _hard_coded()
    freed = free_batch(model)
    assert freed is not model and _batch_of(model.inputs[0].get_partial_shape()) == 1  # the caller's model stays
    assert _batch_of(freed.inputs[0].get_partial_shape()) is None
    assert _batch_of(freed.outputs[0].get_partial_shape()) is None
    x = np.random.default_rng(1).standard_normal((5, 3, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(ov.compile_model(freed, "CPU", F32)(x)[0], _expected(x), rtol=1e-5)
    assert saliencykit.ModelRunner(freed).dynamic_batch


@pytest.mark.parametrize("model", [_dense(None), _dense(2), _hard_coded(2), _summed()], ids=str)
def test_free_batch_returns_models_it_cannot_or_need_not_free_unchanged(model):
    assert free_batch(model) is model


def test_modelrunner_uses_the_batch_helper_for_a_hard_coded_batch():
    runner = saliencykit.ModelRunner(_hard_coded(), chunk_size=4, fixed_batch=True)
    assert runner.fixed_batch is None and not runner.dynamic_batch
    x = np.random.default_rng(2).standard_normal((3, 3, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(runner(x), _expected(x), rtol=1e-5)  # one sample per request


def _two_inputs() -> ov.Model:
    a = ops.parameter([1, 3], np.float32, name="a")
    b = ops.parameter([1, 3], np.float32, name="b")
    a.output(0).set_names({"a"})
    b.output(0).set_names({"b"})
    return ov.Model([ops.add(a, b)], [a, b], "two")


def test_bad_input_names_are_clear_errors():
    with pytest.raises(ModelInputError, match=r"2 inputs \(a, b\); name the image input with input_name="):
        set_batch(_two_inputs(), None, None)
    with pytest.raises(ModelInputError, match="no input named 'pixels'; its inputs are: a, b"):
        make_batch_dynamic(_two_inputs(), "pixels")
    with pytest.raises(ModelInputError, match="no input named 'pixels'"):
        free_batch(_two_inputs(), "pixels")


# ----------------------------------------------------------------------------------------- query / edit


GRAPH_MODULES = sorted(f"graph.{p.stem}" for p in GRAPH.glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("name", ["graph", *GRAPH_MODULES, "model", "pipeline"])
@pytest.mark.slow
def test_every_graph_module_imports_alone_in_a_fresh_interpreter(name):
    done = subprocess.run(
        [sys.executable, "-c", f"import saliencykit.{name} as m; print(m.__name__)"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == f"saliencykit.{name}"


def _signature(model: ov.Model) -> list[tuple[str, str, str]]:
    return [
        (n.get_friendly_name(), n.get_type_name(), ",".join(str(o.get_partial_shape()) for o in n.outputs()))
        for n in model.get_ordered_ops()
    ]


def test_queries_read_without_editing(demo_model):
    before = _signature(demo_model)
    target = query.resolve_target_layer(demo_model)
    assert query.find_node(demo_model, target.name).get_friendly_name() == target.name
    assert target.name in query.candidate_layers(demo_model)
    assert query.num_classes(target.logits) == 1000
    assert query.output_index(demo_model, target.logits) == 0
    assert query.subgraph(demo_model, target.output, target.logits)[-1].get_friendly_name() == (
        target.logits.get_node().get_friendly_name()
    )
    assert _signature(demo_model) == before and len(demo_model.outputs) == 1
    with pytest.raises(GraphError, match="Did you mean"):
        query.find_node(demo_model, target.name + "x")


def test_editing_helpers_refuse_a_taken_output_name(demo_model):
    work = demo_model.clone()
    add_named_output(work, query.find_target_layer(work), "feature")
    assert query.has_output(work, "feature") and not query.has_output(demo_model, "feature")
    with pytest.raises(GraphError, match="already has an output named 'feature'"):
        check_output_name(work, "feature")
    with pytest.raises(GraphError, match="output_name='': give a non-empty string"):
        check_output_name(work, "")


# ----------------------------------------------------------------------------------------------- xai_info


@pytest.fixture(scope="module")
def vit() -> ov.Model:
    return to_ir(TinyViT(head="token"), dynamic_batch=True)


@pytest.fixture(scope="module")
def cnn() -> ov.Model:
    return to_ir(TinyCNN(), dynamic_batch=True)


def test_vit_reciprocam_records_its_run_time_info_like_the_cnn_insertions(vit, cnn, tmp_path):
    explained = insert_vit_reciprocam(vit, use_gaussian=True)
    info = xai_info(explained)
    assert info == {
        "method": "vit_reciprocam",
        "kernel": "gaussian",
        "target_layer": find_vit_target(vit).norm_name,
        "postprocess": "softmax",
    }
    assert xai_info(insert_vit_reciprocam(vit, postprocess="identity"))["kernel"] == "hard"
    cnn_keys = set(xai_info(insert_reciprocam(cnn)))
    assert set(info) == cnn_keys - {"path"}  # the CNN's one-pass/general path has no ViT counterpart
    assert xai_info(vit) == {}  # the given model is not touched
    ov.save_model(explained, str(tmp_path / "vit.xml"), compress_to_fp16=False)
    assert xai_info(ov.Core().read_model(str(tmp_path / "vit.xml"))) == info


def test_vit_activation_map_records_the_same_keys_as_the_cnn_one(vit, cnn):
    explained = insert_vit_activation_map(vit, block_index=0)
    info = xai_info(explained)
    assert info == {"method": "activation_map", "target_layer": find_vit_target(vit, block_index=0).norm_name}
    assert set(info) == set(xai_info(insert_activation_map(cnn)))
    maps = ov.compile_model(explained, "CPU", F32)(example_images(2))["saliency_map"]
    assert maps.shape[:2] == (2, 1) and maps.min() == 0.0 and np.isclose(maps.max(), 1.0)


def test_a_size_the_graph_cannot_take_is_a_clear_preprocess_error():
    """A dynamic-size model that spells 192 class scores (3 x 8 x 8 pixels) cannot take 9 x 9 images."""
    param = ops.parameter([1, 3, -1, -1], np.float32, name="x")
    anchors = ops.reshape(param, ops.constant(np.array([1, 192], np.int64)), False)
    model = ov.Model([ops.sigmoid(anchors)], [param], "fixed_head")
    with pytest.raises(
        PreprocessError, match=r"cannot take size=\(9, 9\) \(.+\); give another Preprocess\(size=\.\.\.\)"
    ):
        saliencykit.Pipeline(model, saliencykit.Preprocess(size=9, layout="NCHW"))
    assert model.inputs[0].get_partial_shape()[2].is_dynamic  # the caller's model is not reshaped
    assert saliencykit.Pipeline(model, saliencykit.Preprocess(size=8, layout="NCHW")).ov_model is not model
