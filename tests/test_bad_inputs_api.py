"""Bad inputs through the Python API: each gets our own exception type and a message that names the problem.

Real graphs (the demo model, small OpenVINO graphs built here) and real inference; no mocks. The cases that gave
silently wrong answers before (a non-classifier explained as 12 288 "classes", overlays of repeated class names
overwriting each other) are checked for the right behaviour, not only for an error.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openvino.preprocess import PrePostProcessor

import saliencykit as sk
from saliencykit.errors import (
    GraphError,
    ImageError,
    MethodError,
    ModelInputError,
    ModelLoadError,
    ModelOutputError,
    OutputError,
    PreprocessError,
    SaliencyKitError,
    TargetError,
)
from saliencykit.explanation import Explanation
from saliencykit.pipeline import Pipeline
from saliencykit.targets import resolve_targets

PRE = sk.Preprocess(size=16)


def _graph(output_shape_of: str, input_shape=(-1, 3, 16, 16)) -> ov.Model:
    """Small real graphs: "map" keeps the (N, 3, 16, 16) image (a per-pixel output), "boxes" gives (N, 64, 4),
    "classes" gives (N, 10) scores, "nan" gives (N, 10) scores that are NaN for bright images."""
    x = ops.parameter(list(input_shape), np.float32, name="x")
    if output_shape_of == "map":
        out = ops.multiply(x, ops.constant(np.float32(2.0)))
    elif output_shape_of == "boxes":
        out = ops.reshape(x, ops.constant(np.array([0, 192, 4])), True)
    else:
        mean = ops.reduce_mean(x, ops.constant(np.array([2, 3])), False)  # (N, 3)
        logits = ops.matmul(mean, ops.constant(np.linspace(-1, 1, 30, dtype=np.float32).reshape(3, 10)), False, False)
        if output_shape_of == "nan":  # sqrt(100 - mean) is NaN once the image is brighter than 100
            brightness = ops.reduce_mean(x, ops.constant(np.array([1, 2, 3])), True)  # (N, 1, 1, 1)
            brightness = ops.reshape(brightness, ops.constant(np.array([-1, 1])), False)
            logits = ops.add(logits, ops.sqrt(ops.subtract(ops.constant(np.float32(100.0)), brightness)))
        out = logits
    return ov.Model([out], [x])


def _nhwc_demo(demo_model: ov.Model) -> ov.Model:
    """The demo model taking (N, 224, 224, 3) input: a real NHWC classifier."""
    ppp = PrePostProcessor(demo_model.clone())
    ppp.input().tensor().set_layout(ov.Layout("NHWC"))
    ppp.input().model().set_layout(ov.Layout("NCHW"))
    return ppp.build()


def _explanation(n: int = 1000, image: np.ndarray | None = None) -> Explanation:
    targets = list(range(n))
    return Explanation(
        targets=targets,
        maps={t: np.eye(4, dtype=np.float32) for t in targets},
        scores={t: 0.5 for t in targets},
        label_names=sk.demo.labels()[:n],
        predictions=np.full(n, 0.5, np.float32),
        image=image,
        image_size=None if image is None else image.shape[:2],
    )


# ------------------------------------------------------------------------------ silently wrong before


def test_a_per_pixel_output_is_refused_not_read_as_12288_classes():
    graph = _graph("map", (1, 3, 64, 64))
    with pytest.raises(ModelOutputError, match=r"\[1,3,64,64\].*not class scores.*segmentation"):
        Pipeline(graph, sk.Preprocess(size=64))
    start = time.perf_counter()
    with pytest.raises(ModelOutputError, match="not class scores"):  # no fall back to RISE either
        sk.Explainer(graph, sk.Preprocess(size=64))
    assert time.perf_counter() - start < 5


def test_repeated_class_names_get_distinct_file_names(tmp_path):
    names = [_explanation().file_name(t) for t in range(1000)]
    assert len(set(names)) == 1000
    labels = sk.demo.labels()
    cranes = [i for i, n in enumerate(labels) if n == "crane"]
    assert len(cranes) == 2
    explanation = _explanation(image=np.zeros((20, 20, 3), np.uint8))
    explanation.targets = cranes
    written = explanation.save(tmp_path)
    assert len({p.name for p in written}) == 2 and len(list(tmp_path.iterdir())) == 2
    assert {p.name for p in written} == {f"crane_{i}0.50.jpg" for i in cranes}
    assert _explanation().file_name(285) == "Egyptian_cat0.50.jpg"  # a unique label keeps its plain name


# ------------------------------------------------------------------------------ model outputs


def test_a_detector_like_output_points_to_task_detection():
    with pytest.raises(ModelOutputError, match=r"\[\?,192,4\].*task='detection'"):
        Pipeline(_graph("boxes"), PRE)


def test_a_callable_returning_per_pixel_maps_is_refused_with_both_shapes():
    explainer = sk.Explainer(lambda batch: batch[..., 0], PRE)
    with pytest.raises(ModelOutputError, match=r"predict callable returned shape \(1, 16, 16\).*Expected \(N, C\)"):
        explainer(np.zeros((16, 16, 3), np.uint8))


def test_a_callable_returning_the_wrong_batch_is_refused():
    pipeline = Pipeline(lambda batch: np.zeros((1, 10)), PRE)
    with pytest.raises(ModelOutputError, match="first axis is 1 for a batch of 3"):
        pipeline.predict_pixels(np.zeros((3, 16, 16, 3), np.float32))


def test_a_callable_returning_none_is_refused():
    with pytest.raises(ModelOutputError, match="not class scores"):
        Pipeline(lambda batch: None, PRE).predict([np.zeros((16, 16, 3), np.uint8)])


def test_nan_scores_from_a_real_graph_name_the_image():
    pipeline = Pipeline(_graph("nan"), PRE)
    dark, bright = np.zeros((16, 16, 3), np.uint8), np.full((16, 16, 3), 200, np.uint8)
    assert np.isfinite(pipeline.predict([dark])).all()
    with pytest.raises(ModelOutputError, match=r"NaN or infinite scores for image 1\b.*mean=/std=") as info:
        pipeline.predict([dark, bright])
    assert info.value.indices == [1]


def test_infinite_scores_from_a_callable_are_refused():
    explainer = sk.Explainer(lambda b: np.full((len(b), 3), np.inf), PRE, postprocess="identity")
    with pytest.raises(ModelOutputError, match="NaN or infinite scores for image 0"):
        explainer(np.zeros((16, 16, 3), np.uint8))


# ------------------------------------------------------------------------------ label names


@pytest.mark.parametrize(
    "count, words", [(5, "classes 5 to 9 would have no name"), (12, "lines 11 to 12 name no class")]
)
def test_label_count_must_match_the_model(count, words):
    with pytest.raises(TargetError, match=rf"--labels\): {count} class names for a model with 10 classes.*{words}"):
        Pipeline(_graph("classes"), PRE, label_names=[f"c{i}" for i in range(count)])


def test_label_count_of_the_demo_model(demo_model):
    with pytest.raises(TargetError, match="999 class names for a model with 1000 classes"):
        sk.Explainer(demo_model, sk.demo.preprocess, label_names=sk.demo.labels()[:999])


def test_label_count_of_a_callable_is_checked_on_its_scores():
    pipeline = Pipeline(lambda b: np.zeros((len(b), 4)), PRE, label_names=["a", "b", "c"])
    with pytest.raises(TargetError, match="3 class names for a model with 4 classes"):
        pipeline.predict([np.zeros((16, 16, 3), np.uint8)])


# ------------------------------------------------------------------------------ methods and layers


def test_a_named_target_layer_that_does_not_exist_is_an_error_with_candidates(demo_model):
    start = time.perf_counter()
    with pytest.raises(GraphError, match=r"no node with that name.*Did you mean: '__module._blocks.15._bn1"):
        sk.Explainer(demo_model, sk.demo.preprocess, target_layer="__module._blocks.15._bn1/aten::batch_norm")
    assert time.perf_counter() - start < 5  # not a black-box fallback


def test_an_unknown_method_lists_the_methods(demo_model):
    with pytest.raises(MethodError, match="unknown; available methods: reciprocam.*rise"):
        sk.Explainer(demo_model, sk.demo.preprocess, method="gradcam")


def test_a_target_layer_with_a_black_box_method_is_refused(demo_model):
    with pytest.raises(MethodError, match="black-box"):
        sk.Explainer(demo_model, sk.demo.preprocess, method="rise", target_layer="Multiply_14240")


def test_white_box_on_a_callable_is_refused():
    with pytest.raises(MethodError, match="need a model graph"):
        sk.Explainer(lambda b: np.zeros((len(b), 3)), PRE, target_layer="conv")


@pytest.mark.parametrize("kwargs, message", [({"mode": "fast"}, "mode='fast'"), ({"task": "seg"}, "task='seg'")])
def test_unknown_mode_and_task(demo_model, kwargs, message):
    with pytest.raises(MethodError, match=message):
        sk.Explainer(demo_model, sk.demo.preprocess, **kwargs)


# ------------------------------------------------------------------------------ preprocessing


@pytest.mark.parametrize(
    "size, message",
    [(100000, "between 8 and 8192"), (0, "between 8 and 8192"), ((224, -1), "between 8"), ("abc", "give an int")],
)
def test_bad_sizes_are_refused_before_any_allocation(size, message):
    with pytest.raises(PreprocessError, match=message):
        sk.Preprocess(size=size)


def test_size_with_three_numbers():
    with pytest.raises(PreprocessError, match=r"\(height, width\).*--size"):
        sk.Preprocess(size=(1, 2, 3))


def test_auto_layout_reads_an_nhwc_model(demo_model, photos):
    nhwc = _nhwc_demo(demo_model)
    pipeline = Pipeline(nhwc, sk.Preprocess(mean=127.5, std=127.5))
    assert pipeline.preprocess.layout == "NHWC" and pipeline.preprocess.size == (224, 224)
    assert int(pipeline.predict([photos["chelsea"]])[0].argmax()) == 285


def test_an_explicit_layout_that_contradicts_the_model(demo_model):
    with pytest.raises(PreprocessError, match=r"layout='NCHW' does not fit.*layout='NHWC' \(CLI: --layout NHWC\)"):
        Pipeline(_nhwc_demo(demo_model), sk.Preprocess(mean=127.5, std=127.5, layout="NCHW"))


def test_an_ambiguous_layout_asks_for_layout():
    with pytest.raises(PreprocessError, match=r"ambiguous.*layout='NCHW'.*--layout"):
        Pipeline(_graph("classes", (-1, 3, 16, 3)), sk.Preprocess(size=16))


def test_an_unknown_layout():
    with pytest.raises(PreprocessError, match="layout='NWHC'"):
        sk.Preprocess(layout="NWHC")


def test_a_dynamic_size_model_is_reshaped_to_size_and_explained_white_box(demo_model, photos):
    dynamic = demo_model.clone()
    dynamic.reshape({dynamic.inputs[0]: ov.PartialShape([-1, 3, -1, -1])})
    explainer = sk.Explainer(dynamic, sk.Preprocess(size=224, mean=127.5, std=127.5))
    assert explainer.whitebox and explainer.method.name == "reciprocam"
    assert dynamic.inputs[0].get_partial_shape().is_dynamic  # the caller's model is left as it was
    assert explainer(photos["chelsea"]).targets == [285]


def test_a_dynamic_size_model_without_size_names_size(demo_model):
    dynamic = demo_model.clone()
    dynamic.reshape({dynamic.inputs[0]: ov.PartialShape([-1, 3, -1, -1])})
    with pytest.raises(PreprocessError, match=r"no fixed spatial size.*size=.*--size"):
        Pipeline(dynamic, sk.Preprocess(mean=127.5, std=127.5))


def test_two_inputs_without_input_name_names_both_options():
    a = ops.parameter([-1, 3, 16, 16], np.float32, name="a")
    b = ops.parameter([-1, 3, 16, 16], np.float32, name="b")
    graph = ov.Model([ops.reduce_mean(ops.add(a, b), ops.constant(np.array([2, 3])), False)], [a, b])
    with pytest.raises(ModelInputError, match=r"2 inputs.*input_name= \(CLI: --input-name\)"):
        Pipeline(graph, PRE)
    with pytest.raises(ModelInputError, match="no input named 'c'.*--input-name"):
        Pipeline(graph, PRE, input_name="c")


# ------------------------------------------------------------------------------ model files


@pytest.mark.parametrize("suffix", [".onnx", ".tflite", ".xml"])
def test_random_bytes_as_a_model_print_only_our_message(tmp_path, suffix):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    path.with_suffix(".bin").write_bytes(b"\0" * 16)
    code = (
        "import saliencykit as sk\n"
        "try:\n"
        f"    sk.load_model({str(path)!r})\n"
        "except sk.errors.ModelLoadError as exc:\n"
        "    print('OURS', exc)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "OURS" in run.stdout and "truncated, corrupt or not a model" in run.stdout
    assert run.stderr == "", run.stderr  # no absl / "Error parsing text-format tensorflow.GraphDef" lines


def test_a_model_read_still_reports_normal_errors_afterwards(tmp_path, demo_model):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="bad.onnx"):
        sk.load_model(bad)
    assert sk.load_model(sk.demo.model()).outputs[0].get_partial_shape()[1] == 1000  # stderr restored, core works


# ------------------------------------------------------------------------------ targets


@pytest.mark.parametrize(
    "targets, message",
    [
        (285.5, "not a whole number"),
        (float("nan"), "not a whole number"),
        (True, "is a bool"),
        ([1, False], "is a bool"),
        ("top:0", "at least 1"),
        ("top:x", "integer K"),
        ("top:1001", "between 1 and 1000"),
        (-3, "out of range"),
        ([], "empty"),
        (1000, "out of range"),
        ([1.5], "not a whole number"),
        (object(), "give class indices"),
        ("no such class", "not a class name"),
    ],
)
def test_bad_targets(targets, message):
    with pytest.raises(TargetError, match=message):
        resolve_targets(targets, np.zeros(1000), sk.demo.labels())


def test_integral_targets_are_accepted():
    scores = np.zeros(1000)
    assert resolve_targets(285.0, scores, None) == [285]
    assert resolve_targets(np.int64(285), scores, None) == [285]
    assert resolve_targets([np.float32(7.0), 7, "Egyptian cat"], scores, sk.demo.labels()) == [7, 285]
    assert resolve_targets(-1, np.zeros(3), None) == [0, 1, 2]


def test_bad_targets_are_refused_before_inference(demo_explainer, photos):
    with pytest.raises(TargetError, match="negative"):
        demo_explainer(photos["chelsea"], targets=[3, -2])
    with pytest.raises(TargetError, match="at least 1"):
        demo_explainer(photos["chelsea"], targets="top:0")


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.integers(-5, 20),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
        st.text(max_size=8),
        st.sampled_from(["all", "top:1", "top:3", "top:0", "top:99", "top:", "cat", "dog"]),
        st.lists(st.one_of(st.integers(-5, 20), st.floats(-2, 12), st.text(max_size=4), st.booleans()), max_size=6),
        st.none(),
    ),
    st.integers(1, 12),
)
def test_resolve_targets_property(targets, num_classes):
    labels = ["cat", "dog", "crane"] + [f"class {i}" for i in range(3, num_classes)]
    labels = labels[:num_classes]
    try:
        out = resolve_targets(targets, np.linspace(0, 1, num_classes), labels)
    except TargetError as exc:
        assert str(exc)
        return
    assert out and len(out) == len(set(out))
    assert all(isinstance(i, int) and 0 <= i < num_classes for i in out)


# ------------------------------------------------------------------------------ maps, explanations, images


@pytest.mark.parametrize("size", [(0, 0), (-5, 5), (10**6, 10**6), ("a", "b"), (3,), (2.5, 4)])
def test_bad_map_sizes(size):
    with pytest.raises(TargetError, match=r"map\(0\): size="):
        _explanation(3).map(0, size=size)


def test_map_size_is_honoured():
    assert _explanation(3).map(0, size=(30, 40)).shape == (30, 40)


def test_save_into_a_file_is_refused(tmp_path):
    target = tmp_path / "taken.jpg"
    target.write_bytes(b"x")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        _explanation(2).save(target)
    assert target.read_bytes() == b"x"


def test_save_caps_the_overlay_size(tmp_path):
    explanation = _explanation(1, image=np.zeros((6000, 300, 3), np.uint8))
    (path,) = explanation.save(tmp_path / "default")
    assert cv2.imread(str(path)).shape[:2] == (4096, 205)
    (path,) = explanation.save(tmp_path / "small", max_side=600)
    assert cv2.imread(str(path)).shape[:2] == (600, 30)
    with pytest.raises(ValueError, match="max_side=-1"):
        explanation.save(tmp_path, max_side=-1)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_save_on_a_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="cannot be written"):
            _explanation(1, image=np.zeros((8, 8, 3), np.uint8)).save(folder)
    finally:
        folder.chmod(0o755)


@pytest.mark.parametrize("image", [[], "photo.jpg", np.zeros((2, 16, 16, 5), np.uint8)])
def test_bad_images_to_the_explainer(image):
    explainer = sk.Explainer(lambda b: np.zeros((len(b), 3)), PRE)
    with pytest.raises(ImageError, match="image"):
        explainer(image)


def test_every_error_here_is_ours():
    assert all(issubclass(e, SaliencyKitError) for e in (ModelOutputError, OutputError))


# ------------------------------------------------------------------------------ MediaPipe model files


def _wheel(folder, files: dict[str, bytes]):
    import zipfile

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(f"mediapipe/{name}", data)
    return path


def test_mediapipe_files_are_read_out_of_the_wheel(tmp_path, monkeypatch):
    from saliencykit.detection import mediapipe_model_path

    monkeypatch.setenv("SALIENCYKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SALIENCYKIT_WHEELS", str(tmp_path / "wheels"))
    _wheel(tmp_path / "wheels", {"modules/pose_landmark/pose_landmark_full.tflite": b"pose bytes"})
    path = mediapipe_model_path("pose_landmark_full")
    assert path.read_bytes() == b"pose bytes" and str(path).startswith(str(tmp_path / "cache"))
    (tmp_path / "wheels").joinpath("mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.whl").unlink()
    assert mediapipe_model_path("pose_landmark_full") == path  # cached: the wheel is not needed any more
    with pytest.raises(ModelLoadError, match=r"modules/no_such.tflite: not available.*make install.*pip download"):
        mediapipe_model_path("modules/no_such.tflite")


def test_a_file_missing_from_the_wheel_says_so(tmp_path, monkeypatch):
    from saliencykit.detection import mediapipe_model_path

    monkeypatch.setenv("SALIENCYKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SALIENCYKIT_WHEELS", str(tmp_path / "wheels"))
    _wheel(tmp_path / "wheels", {"modules/a.tflite": b"a"})
    with pytest.raises(ModelLoadError, match="has no such file; paths are relative to its mediapipe/ folder"):
        mediapipe_model_path("modules/b.tflite")


# ------------------------------------------------------------------------------ drawing and preprocessing values


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: sk.visualize.colorize(np.eye(3, dtype=np.float32), "rainbow-ish"), "colormap 'rainbow-ish'"),
        (lambda: sk.visualize.overlay(np.zeros((4, 4, 3), np.uint8), np.eye(4), alpha=2), "alpha=2"),
        (lambda: sk.visualize.overlay(np.zeros((4, 4, 3), np.uint8), np.eye(4), alpha=-0.1), "between 0"),
        (lambda: sk.visualize.overlay(np.zeros((4, 4, 3), np.uint16), np.eye(4)), "overlay image"),
        (lambda: sk.Preprocess(size=224, mean="abc"), "mean='abc'.*--mean"),
        (lambda: sk.Preprocess(size=224, std=float("nan")), "finite"),
        (lambda: sk.Preprocess(size=224, mean=(1, 2)), "one number or three"),
    ],
    ids=["unknown-colormap", "alpha-above-1", "alpha-below-0", "overlay-on-16-bit", "mean-text", "std-nan", "mean-2"],
)
def test_bad_drawing_and_preprocessing_values(call, message):
    with pytest.raises(SaliencyKitError, match=message):
        call()


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"device": "GPU"}, ModelLoadError, "device 'GPU' is not available.*CPU"),
        ({"batch_size": 0}, PreprocessError, "batch_size=0"),
        ({"batch_size": 2.5}, PreprocessError, "batch_size=2.5"),
        ({"label_names": "Egyptian cat"}, TargetError, "list of class names.*read_labels"),
        ({"method": "rise", "mode": "whitebox"}, MethodError, "black-box"),
    ],
    ids=["unavailable-device", "batch-size-0", "batch-size-float", "label-names-as-one-string", "rise-in-whitebox"],
)
def test_bad_explainer_settings(demo_model, kwargs, error, message):
    with pytest.raises(error, match=message):
        sk.Explainer(demo_model, sk.demo.preprocess, **kwargs)


def test_a_black_box_method_cannot_be_inserted_into_a_graph(demo_model):
    with pytest.raises(MethodError, match="'rise' is black-box"):
        sk.insert_xai(demo_model, method="rise")


@pytest.mark.parametrize("part", [{"prefix": "../../evil_"}, {"postfix": "/x_"}, {"prefix": ".."}])
def test_file_name_parts_cannot_leave_the_output_folder(demo_explainer, photos, tmp_path, part):
    explanation = demo_explainer(photos["chelsea"])
    with pytest.raises(OutputError, match="path separator"):
        explanation.save(tmp_path / "maps", **part)
    assert not any(tmp_path.parent.glob("evil_*")) and not (tmp_path / "maps").exists()
