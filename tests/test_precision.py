"""Inference precision as a choice: ``precision=`` reaches every compiled model, bf16 maps stay close to f32,
bad values are refused everywhere (API and every CLI command), and an audit cannot be resumed at another one.

Also the single-sample path of ``ModelRunner``: one image on a dynamic-batch model runs on a static batch-1
compilation with the same results as inside a batch.
"""

from __future__ import annotations

import shutil

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
from typer.testing import CliRunner

import saliencykit as sk
from saliencykit.audit import SettingsMismatch, audit
from saliencykit.audit.ray_executor import ExplainerSpec
from saliencykit.cli import app
from saliencykit.errors import OptionError
from saliencykit.model import PRECISIONS, ModelRunner, core
from saliencykit.pipeline import Pipeline

BAD = ["fp32", "F32", "int8", "", 32, None]
CAPABILITIES = set(core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def _expected(precision: str) -> ov.Type:
    """What the CPU plugin reports for a requested precision: where the processor lacks f16 it runs bf16 when it
    has that, and f32 where it has neither."""
    chain = {"f32": ["f32"], "bf16": ["bf16"], "f16": ["f16", "bf16"]}[precision]
    names = {"f16": "FP16", "bf16": "BF16"}
    usable = [p for p in chain if p == "f32" or names[p] in CAPABILITIES]
    return getattr(ov.Type, usable[0] if usable else "f32")


def _hint(compiled: ov.CompiledModel) -> ov.Type:
    return compiled.get_property("INFERENCE_PRECISION_HINT")


@pytest.fixture(scope="module")
def bf16_explainer():
    return sk.demo.explainer(precision="bf16")


@pytest.mark.parametrize("precision", PRECISIONS)
def test_precision_reaches_the_compiled_models(precision, demo_model, photos):
    explainer = sk.demo.explainer(precision=precision)
    assert explainer.pipeline.precision == precision
    assert _hint(explainer._runner.compiled) == _expected(precision)  # the explain graph
    pipeline = explainer.pipeline
    pipeline.predict([photos["chelsea"], photos["coffee"]])  # the plain graph, batch-1 and dynamic-batch
    assert _hint(pipeline._plain_runner.compiled) == _expected(precision)
    assert _hint(pipeline._plain_runner._batched[0]) == _expected(precision)
    score = pipeline.blend_scorer(pipeline.pixels(photos["chelsea"]), pipeline.fill)  # black-box in-graph blend
    assert score is not None and _hint(pipeline._blend_runner.compiled) == _expected(precision)
    assert explainer.options()["precision"] == precision  # with_model() and Ray workers rebuild with it


def test_the_default_is_f32_and_ray_workers_rebuild_at_the_drivers_precision(bf16_explainer):
    assert _hint(sk.demo.explainer()._runner.compiled) == ov.Type.f32
    worker = ExplainerSpec.of(bf16_explainer).build()
    assert worker.pipeline.precision == "bf16"
    assert _hint(worker._runner.compiled) == _expected("bf16")
    assert bf16_explainer.with_model(sk.demo.model()).pipeline.precision == "bf16"


def test_bf16_maps_agree_with_f32_on_a_demo_photo(demo_explainer, bf16_explainer, photos):
    """Measured on the 5 demo photos and 100 ImageNet photos (README, "Precision"): maps (min-max scaled to
    [0, 1]) differ by at most 0.07 with r >= 0.997, and top-1 agrees. Here: one photo, with a margin."""
    image = photos["chelsea"]
    f32 = demo_explainer(image, targets="top:1")
    bf16 = bf16_explainer(image, targets=[f32.targets[0]])
    assert int(np.argmax(bf16.predictions)) == int(np.argmax(f32.predictions))
    assert np.abs(bf16.predictions - f32.predictions).max() < 0.05
    a, b = f32.map(f32.targets[0]), bf16.map(bf16.targets[0])
    assert np.abs(a - b).max() < 0.1
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99
    if _expected("bf16") == ov.Type.bf16:
        assert np.abs(a - b).max() > 0  # bf16 really ran: the maps are not bit-identical


@pytest.mark.parametrize("bad", BAD)
def test_bad_precision_is_refused_by_every_api(bad, demo_model, tmp_path):
    words = r"precision=.*'f32', 'bf16', 'f16'.*--precision"
    with pytest.raises(OptionError, match=words):
        ModelRunner(demo_model, precision=bad)
    with pytest.raises(OptionError, match=words):
        Pipeline(demo_model, sk.demo.preprocess, precision=bad)
    with pytest.raises(OptionError, match=words):
        sk.Explainer(demo_model, sk.demo.preprocess, precision=bad)
    with pytest.raises(OptionError, match=words):
        sk.Explainer(sk.demo.model(), task="detection", postprocess="blazeface", precision=bad)
    with pytest.raises(OptionError, match=words):  # before the dataset or the model is looked at
        audit("demo", tmp_path / "no-such-data", tmp_path / "out", precision=bad)


@pytest.mark.parametrize("command", ["predict", "explain", "evaluate", "audit"])
def test_bad_precision_is_refused_by_every_command(command, photo_files, tmp_path):
    cat = photo_files["chelsea"]
    args = {
        "predict": ["predict", "demo", cat],
        "explain": ["explain", "demo", cat, "-o", str(tmp_path / "maps")],
        "evaluate": ["evaluate", "demo", cat, "--metrics", "deletion"],
        "audit": ["audit", "demo", str(tmp_path), "-o", str(tmp_path / "audit")],
    }[command]
    result = CliRunner().invoke(app, [*args, "--precision", "fp64"])
    assert result.exit_code == 2, result.output
    assert "--precision" in result.output and "bf16" in result.output and "fp64" in result.output
    assert "Traceback" not in result.output


def test_cli_runs_at_the_precision_asked(photo_files):
    result = CliRunner().invoke(app, ["predict", "demo", photo_files["chelsea"], "--precision", "bf16", "-k", "1"])
    assert result.exit_code == 0, result.output
    assert "tabby" in result.output.lower() or "cat" in result.output.lower()


def test_an_audit_started_at_f32_refuses_to_resume_at_bf16(tmp_path, photo_files):
    data = tmp_path / "data" / "tabby"
    data.mkdir(parents=True)
    shutil.copy(photo_files["chelsea"], data / "cat.jpg")
    first = audit("demo", tmp_path / "data", tmp_path / "out", report=False)
    assert first.summary["settings"]["precision"] == "f32"
    with pytest.raises(SettingsMismatch, match=r"precision: f32 -> bf16"):
        audit("demo", tmp_path / "data", tmp_path / "out", precision="bf16", report=False)
    again = audit("demo", tmp_path / "data", tmp_path / "out", report=False)  # the same precision resumes
    assert again.processed == 0


def _dynamic_classifier() -> ov.Model:
    """A tiny NHWC classifier with a dynamic batch: mean over space, then 3 -> 4 linear."""
    image = ops.parameter([-1, 16, 16, 3], np.float32, name="image")
    pooled = ops.reduce_mean(image, np.array([1, 2]), keep_dims=False)
    weights = np.arange(12, dtype=np.float32).reshape(3, 4) / 10
    return ov.Model([ops.matmul(pooled, ops.constant(weights), False, False)], [image])


def test_one_sample_runs_on_a_static_compilation_with_the_batch_results():
    runner = ModelRunner(_dynamic_classifier())
    batch = np.random.default_rng(0).random((3, 16, 16, 3), dtype=np.float32)
    alone = np.concatenate([runner(batch[i : i + 1]) for i in range(3)])
    assert runner.compiled.inputs[0].get_partial_shape() == ov.PartialShape([1, 16, 16, 3])
    assert runner._batched is None  # no batch yet: the dynamic-batch compilation is not made
    together = runner(batch)
    np.testing.assert_allclose(alone, together, rtol=1e-6, atol=1e-6)
    assert runner._batched is not None and runner._batched[0].inputs[0].get_partial_shape()[0].is_dynamic
    many = ModelRunner(_dynamic_classifier(), performance="throughput")  # for batches: one dynamic compilation
    assert many.compiled.inputs[0].get_partial_shape()[0].is_dynamic and many._batched[0] is many.compiled
    big = np.random.default_rng(1).random((40, 16, 16, 3), dtype=np.float32)  # several chunks, asynchronously
    np.testing.assert_allclose(runner(big)[:3], runner(big[:3]), rtol=1e-6, atol=1e-6)
