"""Preprocessing (numpy path == graph path), postprocessing, images, the demo model and its cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

import saliencykit as sk
from saliencykit.cache import cached_entry, entry_is_valid
from saliencykit.errors import ImageError, PreprocessError, TargetError
from saliencykit.preprocess import apply_postprocess, ends_in_softmax, resolve_postprocess
from saliencykit.targets import resolve_targets

# The demo model's real top-1 probabilities with its documented preprocessing (bilinear 224, [-1, 1]).
EXPECTED_TOP1 = {"chelsea": (285, 0.788), "coffee": (967, 0.918), "stereo_motorcycle_left": (665, 0.569)}


@pytest.mark.parametrize("name", sorted(EXPECTED_TOP1))
def test_demo_model_classifies_the_demo_photos(demo_pipeline, photos, name):
    index, probability = EXPECTED_TOP1[name]
    scores = demo_pipeline.predict([photos[name]])[0]
    assert int(scores.argmax()) == index
    assert scores[index] == pytest.approx(probability, abs=0.005)
    assert scores.sum() == pytest.approx(1.0, abs=1e-4)


def test_demo_labels_and_boxes():
    labels = sk.demo.labels()
    assert len(labels) == 1000
    assert (labels[285], labels[967], labels[665], labels[258]) == ("Egyptian cat", "espresso", "moped", "Samoyed")
    boxes = sk.demo.boxes()
    assert boxes["chelsea"]["objects"][0]["class"] == 285
    for name, info in boxes.items():
        assert tuple(info["size_hw"]) == sk.demo.photos()[name].shape[:2]


def _random_model(layout: str = "NCHW") -> ov.Model:
    shape = [-1, 3, -1, -1] if layout == "NCHW" else [-1, -1, -1, 3]
    param = ops.parameter(shape, np.float32, name="x")
    axes = [1, 2, 3]
    w = ops.constant(np.random.default_rng(1).normal(size=(1, 1, 1, 1)).astype(np.float32))
    return ov.Model([ops.reduce_sum(ops.multiply(param, w), ops.constant(np.array(axes)), True)], [param])


@pytest.mark.parametrize("channel_order", ["RGB", "BGR"])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_preprocess_in_the_graph_equals_numpy(channel_order, layout):
    # an identity model exposes exactly what the graph feeds it
    shape = [-1, 3, 8, 10] if layout == "NCHW" else [-1, 8, 10, 3]
    param = ops.parameter(shape, np.float32, name="x")
    identity = ov.Model([ops.multiply(param, ops.constant(np.float32(1.0)))], [param])
    p = sk.Preprocess(
        size=(8, 10), mean=(120.0, 110.0, 100.0), std=(60.0, 50.0, 40.0), channel_order=channel_order, layout=layout
    )
    images = np.random.default_rng(0).integers(0, 256, (2, 30, 40, 3), dtype=np.uint8)
    pixels = np.stack([p.resize_image(im) for im in images])
    graph = sk.ModelRunner(p.embed(identity))(pixels)
    numpy = np.concatenate([p(im) for im in images])
    np.testing.assert_allclose(graph, numpy, atol=1e-5)
    assert graph.shape == ((2, 3, 8, 10) if layout == "NCHW" else (2, 8, 10, 3))
    first = numpy[0, 0] if layout == "NCHW" else numpy[0, ..., 0]
    channel = 2 if channel_order == "BGR" else 0
    expected = (pixels[0, ..., channel] - (120.0, 110.0, 100.0)[channel]) / (60.0, 50.0, 40.0)[channel]
    np.testing.assert_allclose(first, expected, atol=1e-5)


def test_preprocess_size_from_the_model_and_bad_options(demo_model):
    assert sk.Preprocess().for_model(demo_model).size == (224, 224)
    with pytest.raises(PreprocessError, match="no fixed spatial size"):
        sk.Preprocess().for_model(_random_model())
    with pytest.raises(PreprocessError, match="resize='bogus'"):
        sk.Preprocess(resize="bogus")
    with pytest.raises(PreprocessError, match="one number or three"):
        sk.Preprocess(mean=(1, 2))
    with pytest.raises(PreprocessError, match="must not be zero"):
        sk.Preprocess(std=0)


def test_postprocess_detects_a_model_that_already_ends_in_softmax():
    param = ops.parameter([-1, 5], np.float32)
    soft = ov.Model([ops.reshape(ops.softmax(param, -1), ops.constant(np.array([-1, 5])), False)], [param])
    plain = ov.Model([ops.relu(param)], [param])
    assert ends_in_softmax(soft) and not ends_in_softmax(plain)
    assert resolve_postprocess(soft, "softmax") == "identity"
    assert resolve_postprocess(plain, "softmax") == "softmax"
    with pytest.raises(PreprocessError, match="postprocess='tanh'"):
        resolve_postprocess(plain, "tanh")
    logits = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_allclose(apply_postprocess(logits, "softmax").sum(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(apply_postprocess(logits, "sigmoid"), 1 / (1 + np.exp(-logits)), rtol=1e-6)
    np.testing.assert_allclose(apply_postprocess(logits, lambda x: x * 2), logits * 2)


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.full((10, 10), 7, np.uint8), 7),  # grey: repeated into three channels
        (np.full((10, 10, 1), 7, np.uint8), 7),
        (np.dstack([np.full((10, 10, 3), 7, np.uint8), np.zeros((10, 10, 1), np.uint8)]), 7),  # RGBA: alpha dropped
        (np.full((10, 10, 3), 7 / 255, np.float32), 7),  # floats in [0, 1]: scaled to 0..255
    ],
)
def test_unambiguous_image_arrays_are_converted(array, expected):
    image = sk.check_image(array, "photo.png")
    assert image.shape == (10, 10, 3) and image.dtype == np.uint8 and (image == expected).all()


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((10, 10, 3), np.uint16), "uint16"),
        (np.full((10, 10, 3), 200.0, np.float32), "np.round"),  # 0..255 floats: ambiguous, and never np.clip advice
        ([[1, 2, 3]], "photo.png"),
    ],
)
def test_ambiguous_image_arrays_are_refused_with_a_hint(array, message):
    with pytest.raises(ImageError, match=message) as info:
        sk.check_image(array, "photo.png")
    assert "np.clip" not in str(info.value)


def test_image_files(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "rgb.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    np.testing.assert_array_equal(sk.read_image(tmp_path / "rgb.png"), rgb)
    cv2.imwrite(str(tmp_path / "gray.png"), rgb[..., 0])
    cv2.imwrite(str(tmp_path / "rgba.png"), cv2.cvtColor(np.dstack([rgb, rgb[..., :1]]), cv2.COLOR_RGBA2BGRA))
    cv2.imwrite(str(tmp_path / "deep.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257)
    np.testing.assert_array_equal(sk.read_image(tmp_path / "gray.png"), np.repeat(rgb[..., :1], 3, axis=2))
    np.testing.assert_array_equal(sk.read_image(tmp_path / "rgba.png"), rgb)  # alpha dropped, colours kept
    np.testing.assert_array_equal(sk.read_image(tmp_path / "deep.png"), rgb)  # 16 bit -> 8 bit, rounded
    (tmp_path / "notes.jpg").write_text("this is not a picture")
    with pytest.raises(ImageError, match="notes.jpg"):
        sk.read_image(tmp_path / "notes.jpg")
    (tmp_path / "cut.png").write_bytes((tmp_path / "rgb.png").read_bytes()[:40])
    with pytest.raises(ImageError, match="cut.png"):
        sk.read_image(tmp_path / "cut.png")
    with pytest.raises(ImageError, match="no such file"):
        sk.read_image(tmp_path / "missing.jpg")


def test_targets():
    scores = np.array([0.1, 0.5, 0.3, 0.1])
    names = ["cat", "dog", "bird", "fish"]
    assert resolve_targets("top:2", scores, names) == [1, 2]
    assert resolve_targets("all", scores, names) == [0, 1, 2, 3]
    assert resolve_targets(-1, scores, names) == [0, 1, 2, 3]
    assert resolve_targets(["dog", 3, "dog"], scores, names) == [1, 3]
    assert resolve_targets("Bird", scores, names) == [2]
    with pytest.raises(TargetError, match="Close matches: 'dog'"):
        resolve_targets("dgo", scores, names)
    with pytest.raises(TargetError, match=r"out of range.*0\.\.3"):
        resolve_targets(7, scores, names)
    with pytest.raises(TargetError, match="top:K"):
        resolve_targets("top:x", scores, names)


def test_cache_entry_is_rebuilt_when_corrupt_and_respects_the_override(tmp_path, monkeypatch):
    monkeypatch.setenv("SALIENCYKIT_CACHE", str(tmp_path / "cache"))
    calls = []

    def build(folder):
        calls.append(folder)
        (folder / "a.bin").write_bytes(b"x" * 100)

    entry = cached_entry("thing", build)
    assert entry == tmp_path / "cache" / "thing" and entry_is_valid(entry)
    assert cached_entry("thing", build) == entry and len(calls) == 1
    (entry / "a.bin").write_bytes(b"x" * 50)  # a partial file
    assert not entry_is_valid(entry)
    cached_entry("thing", build)
    assert len(calls) == 2 and entry_is_valid(entry)

    def broken(folder):
        (folder / "a.bin").write_bytes(b"half")
        raise KeyboardInterrupt

    (entry / "manifest.json").unlink()
    with pytest.raises(KeyboardInterrupt):
        cached_entry("thing", broken)
    assert not any(p.name.startswith(".thing.") and p.is_dir() for p in (tmp_path / "cache").iterdir())


@pytest.mark.slow
def test_concurrent_first_calls_build_the_demo_model_once(tmp_path):
    env = {**os.environ, "SALIENCYKIT_CACHE": str(tmp_path)}
    code = "import saliencykit as sk; print(sk.demo.model_path())"
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE) for _ in range(2)]
    paths = {p.communicate(timeout=300)[0].decode().strip() for p in procs}
    assert all(p.returncode == 0 for p in procs) and len(paths) == 1
    entry = tmp_path / sk.demo.MODEL_ID
    assert entry_is_valid(entry)
    assert set(json.loads((entry / "manifest.json").read_text())["files"]) == {"model.xml", "model.bin"}
    assert sk.load_model(entry / "model.xml").outputs[0].get_partial_shape()[1].get_length() == 1000


def test_auto_layout_is_nchw_without_a_model_and_read_from_the_model_otherwise():
    image = np.zeros((20, 30, 3), np.uint8)
    assert sk.Preprocess(size=16).layout == "auto"
    assert sk.Preprocess(size=16)(image).shape == (1, 3, 16, 16)  # numpy path, no model to read: NCHW
    assert sk.Preprocess(size=16, layout="nhwc")(image).shape == (1, 16, 16, 3)
    nhwc = ov.Model([ops.relu(p := ops.parameter([-1, 8, 10, 3], np.float32, name="x"))], [p])
    nchw = ov.Model([ops.relu(q := ops.parameter([-1, 3, 8, 10], np.float32, name="x"))], [q])
    assert sk.Preprocess().for_model(nhwc).layout == "NHWC" and sk.Preprocess().for_model(nhwc).size == (8, 10)
    assert sk.Preprocess().for_model(nchw).layout == "NCHW" and sk.Preprocess().for_model(nchw).size == (8, 10)
