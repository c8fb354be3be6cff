"""load_model and ModelRunner: every source gives the same logits; bad files give clear errors."""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

import saliencykit as sk
from saliencykit.errors import ModelInputError, ModelLoadError


def _chelsea_input(photos):
    return sk.demo.preprocess(photos["chelsea"])


def test_ir_onnx_and_torch_sources_give_the_same_logits(tmp_path, demo_torch_module, photos):
    import torch

    x = _chelsea_input(photos)
    onnx_path = tmp_path / "lite0.onnx"
    torch.onnx.export(demo_torch_module, torch.zeros(1, 3, 224, 224), str(onnx_path), dynamo=False)
    ir = sk.ModelRunner(sk.load_model(sk.demo.model_path()))(x)
    onnx = sk.ModelRunner(sk.load_model(onnx_path))(x)
    from_torch = sk.ModelRunner(sk.load_model(demo_torch_module, input_shape=(1, 3, 224, 224)))(x)
    with torch.no_grad():
        reference = demo_torch_module(torch.from_numpy(x)).numpy()
    assert ir.argmax() == 285
    np.testing.assert_allclose(ir, reference, atol=1e-4)
    np.testing.assert_allclose(onnx, ir, atol=1e-4)
    np.testing.assert_allclose(from_torch, ir, atol=1e-4)


def test_static_batch_onnx_is_made_dynamic_and_batch_sizes_agree(tmp_path, demo_torch_module, photos):
    import torch

    onnx_path = tmp_path / "static.onnx"
    torch.onnx.export(demo_torch_module, torch.zeros(1, 3, 224, 224), str(onnx_path), dynamo=False)
    runner = sk.ModelRunner(sk.load_model(onnx_path), chunk_size=4)
    assert runner.dynamic_batch
    images = [sk.demo.preprocess(im) for im in photos.values()]
    batch16 = np.concatenate([images[i % len(images)] for i in range(16)])
    one = np.concatenate([runner(b[None]) for b in batch16])
    three = np.concatenate([runner(batch16[i : i + 3]) for i in range(0, 16, 3)])
    sixteen = runner(batch16)  # 4 chunks through the asynchronous queue
    np.testing.assert_allclose(three, one, atol=1e-4)
    np.testing.assert_allclose(sixteen, one, atol=1e-4)
    assert len({int(r.argmax()) for r in sixteen[:5]}) == 5


def test_a_model_with_a_hard_coded_batch_still_gives_per_sample_results():
    param = ops.parameter([1, 3, 4, 4], np.float32, name="x")
    flat = ops.reshape(param, ops.constant(np.array([1, 48], np.int64)), False)
    weights = ops.constant(np.arange(48 * 2, dtype=np.float32).reshape(48, 2) / 100)
    model = ov.Model([ops.matmul(flat, weights, False, False)], [param])
    runner = sk.ModelRunner(model)
    batch = np.random.default_rng(0).random((5, 3, 4, 4), dtype=np.float32)
    expected = batch.reshape(5, 48) @ (np.arange(96, dtype=np.float32).reshape(48, 2) / 100)
    np.testing.assert_allclose(runner(batch), expected, rtol=1e-5)
    np.testing.assert_allclose(runner(batch[:2]), expected[:2], rtol=1e-5)
    assert model.inputs[0].get_partial_shape().is_static  # the caller's model is left as it was


def test_fixed_batch_pads_the_last_chunk_and_agrees_with_the_dynamic_batch(demo_model, photos):
    fixed = sk.ModelRunner(demo_model, chunk_size=4, fixed_batch=True)
    dynamic = sk.ModelRunner(demo_model, chunk_size=4)
    assert fixed.fixed_batch == 4 and dynamic.fixed_batch is None
    images = [sk.demo.preprocess(im) for im in photos.values()]
    batch = np.concatenate([images[i % len(images)] for i in range(7)])
    expected = dynamic(batch)
    for n in (1, 4, 7):  # one padded request, one full request, two requests through the queue
        out = fixed(batch[:n])
        assert out.shape == (n, 1000)
        np.testing.assert_allclose(out, expected[:n], atol=1e-4)


def test_fixed_batch_falls_back_when_the_batch_does_not_reach_the_output():
    param = ops.parameter([1, 3], np.float32, name="x")  # sums over the batch: the output batch stays 1
    model = ov.Model([ops.reduce_sum(ops.multiply(param, np.float32(2)), np.array([0]), True)], [param])
    runner = sk.ModelRunner(model, chunk_size=4, fixed_batch=True)
    assert runner.fixed_batch is None and not runner.dynamic_batch  # one sample per request instead
    batch = np.random.default_rng(0).random((5, 3), dtype=np.float32)
    np.testing.assert_allclose(runner(batch), 2 * batch, rtol=1e-6)


def test_wrong_input_size_for_a_fixed_model_is_a_clear_error(demo_model):
    runner = sk.ModelRunner(demo_model)
    with pytest.raises(ModelInputError, match=r"fixed shape.*\(1, 3, 100, 100\).*Resize"):
        runner(np.zeros((1, 3, 100, 100), np.float32))
    with pytest.raises(ModelInputError, match="4 dimensions"):
        runner(np.zeros((3, 224, 224), np.float32))


def test_several_inputs_need_a_name():
    a = ops.parameter([1, 3], np.float32, name="image")
    b = ops.parameter([1, 3], np.float32, name="scale")
    model = ov.Model([ops.multiply(a, b)], [a, b])
    with pytest.raises(ModelInputError, match="2 inputs.*image.*scale.*input_name"):
        sk.ModelRunner(model)
    with pytest.raises(ModelInputError, match="constant_inputs"):
        sk.ModelRunner(model, input_name="image")
    runner = sk.ModelRunner(model, input_name="image", constant_inputs={"scale": np.full((1, 3), 2, np.float32)})
    np.testing.assert_allclose(runner(np.ones((4, 3), np.float32)), np.full((4, 3), 2.0))
    once = runner.infer(np.ones((4, 3), np.float32), inputs={"scale": np.full((1, 3), 5, np.float32)})[0]
    np.testing.assert_allclose(once, np.full((4, 3), 5.0))  # for this call only
    np.testing.assert_allclose(runner(np.ones((4, 3), np.float32)), np.full((4, 3), 2.0))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.xml", None, "no such model file"),
        ("model.pt", b"\x00" * 10, "unsupported model format '.pt'"),
        ("noext", b"\x00" * 10, "unsupported model format"),
        ("random.onnx", bytes(np.random.default_rng(0).integers(0, 255, 4000, dtype=np.uint8)), "truncated, corrupt"),
        ("random.tflite", b"not a flatbuffer at all", "truncated, corrupt"),
    ],
)
def test_bad_model_files_raise_clear_errors(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelLoadError, match=message) as info:
        sk.load_model(path)
    assert name in str(info.value)


def test_xml_without_bin_and_truncated_ir(tmp_path):
    xml = sk.demo.model_path()
    lonely = tmp_path / "lonely.xml"
    lonely.write_bytes(xml.read_bytes())
    with pytest.raises(ModelLoadError, match=r"lonely\.bin is missing"):
        sk.load_model(lonely)
    truncated = tmp_path / "truncated.xml"
    truncated.write_bytes(xml.read_bytes()[:5000])
    (tmp_path / "truncated.bin").write_bytes(xml.with_suffix(".bin").read_bytes())
    with pytest.raises(ModelLoadError, match="truncated, corrupt or not a model"):
        sk.load_model(truncated)


def test_torch_module_needs_an_input_shape(demo_torch_module):
    with pytest.raises(ModelLoadError, match="example_input= .* or input_shape="):
        sk.load_model(demo_torch_module)


def test_unsupported_object_is_rejected():
    with pytest.raises(ModelLoadError, match="cannot load an object of type dict"):
        sk.load_model({"not": "a model"})
