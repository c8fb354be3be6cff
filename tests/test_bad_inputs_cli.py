"""A catalogue of bad inputs through the real command line: each case asserts the exit code, that the message
names the problem, and that no traceback reaches the user.

The commands run in-process through Typer's ``CliRunner`` with the real demo model and photos, and with tiny
OpenVINO models built here (an NHWC classifier, a model whose output is a picture, a model that scores NaN).
Options are checked before the model is loaded, so most cases cost milliseconds.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from saliencykit.cli import app
from saliencykit.cli.explain import parse_targets
from saliencykit.errors import TargetError

EXE = shutil.which("saliencykit") or str(Path(sys.executable).parent / "saliencykit")


def _save(model: ov.Model, path: Path) -> str:
    ov.save_model(model, str(path))
    return str(path)


def _pooled_classifier(shape: list[int], axes: list[int], tail=None, extra=()) -> ov.Model:
    """Mean over the spatial axes, then a fixed 3 -> 10 linear layer: a classifier of 10 classes."""
    image = ops.parameter(shape, np.float32, name="image")
    pooled = ops.reduce_mean(image, ops.constant(np.array(axes, np.int64)), keep_dims=False)
    weights = np.linspace(-1, 1, 30, dtype=np.float32).reshape(3, 10) / 255
    logits = ops.matmul(pooled, ops.constant(weights), False, False)
    if tail is not None:
        logits = tail(logits)
    return ov.Model([logits], [image, *extra], "tiny")


@pytest.fixture(scope="session")
def files(tmp_path_factory, photos) -> dict[str, str]:
    """Every file the catalogue needs, made once."""
    root = tmp_path_factory.mktemp("bad-inputs")
    cat = root / "cat.jpg"
    cv2.imwrite(str(cat), cv2.cvtColor(photos["chelsea"], cv2.COLOR_RGB2BGR))
    (root / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (root / "[x].jpg").write_bytes(b"\xff\xd8 not really a jpeg either")
    (root / "notes.txt").write_text("not an image\n")
    (root / "empty").mkdir()
    (root / "photos").mkdir()
    shutil.copy(cat, root / "photos" / "cat.jpg")
    (root / "texts").mkdir()
    (root / "texts" / "readme.txt").write_text("no images here\n")
    (root / "binary-labels.txt").write_bytes(bytes(range(256)) * 4)
    (root / "a-file").write_text("I am a file, not a folder\n")
    (root / "garbage.onnx").write_bytes(np.random.default_rng(0).bytes(2000))
    (root / "summary-folder.csv").mkdir()
    nhwc = _pooled_classifier([1, 32, 32, 3], [1, 2])
    nan = _pooled_classifier([1, 3, 16, 16], [2, 3], lambda x: ops.log(ops.subtract(x, ops.constant(np.float32(1e3)))))
    dynamic = _pooled_classifier([1, 3, -1, -1], [2, 3])
    image = ops.parameter([1, 3, 64, 64], np.float32, name="image")
    picture = ov.Model([ops.relu(image)], [image], "not-a-classifier")
    scale = ops.parameter([1, 1], np.float32, name="scale")
    two = _pooled_classifier([1, 3, 16, 16], [2, 3], lambda x: ops.multiply(x, scale), extra=[scale])
    return {
        "root": str(root),
        "cat": str(cat),
        "broken": str(root / "broken.jpg"),
        "markup": str(root / "[x].jpg"),
        "notes": str(root / "notes.txt"),
        "empty": str(root / "empty"),
        "texts": str(root / "texts"),
        "photos": str(root / "photos"),
        "binary_labels": str(root / "binary-labels.txt"),
        "file": str(root / "a-file"),
        "garbage": str(root / "garbage.onnx"),
        "csv_folder": str(root / "summary-folder.csv"),
        "nhwc": _save(nhwc, root / "nhwc.xml"),
        "nan": _save(nan, root / "nan.xml"),
        "picture": _save(picture, root / "picture.xml"),
        "dynamic": _save(dynamic, root / "dynamic.xml"),
        "two_inputs": _save(two, root / "two-inputs.xml"),
    }


@dataclass
class Case:
    args: list[str]
    code: int
    words: list[str]


def _case(*args: str, code: int = 2, words: tuple[str, ...] = ()) -> Case:
    return Case(list(args), code, list(words))


# {name} is replaced by files[name]; {out} by a fresh output folder per case
CASES: dict[str, Case] = {
    # predict
    "predict-top-k-zero": _case("predict", "demo", "{cat}", "-k", "0", words=("--top-k 0",)),
    "predict-top-k-negative": _case("predict", "demo", "{cat}", "-k", "-3", words=("--top-k -3",)),
    "predict-top-k-more-than-classes": _case("predict", "demo", "{cat}", "-k", "1001", words=("1000 classes",)),
    "predict-missing-image": _case("predict", "demo", "{root}/nope.jpg", words=("nope.jpg", "no such")),
    "predict-empty-folder": _case("predict", "demo", "{empty}", words=("empty", "no images")),
    "predict-folder-of-non-images": _case("predict", "demo", "{texts}", words=("texts", "no images")),
    "predict-missing-model": _case("predict", "{root}/nope.xml", "{cat}", words=("nope.xml", "no such model")),
    "predict-random-bytes-model": _case("predict", "{garbage}", "{cat}", words=("garbage.onnx", "not a model")),
    "predict-broken-image": _case("predict", "demo", "{cat}", "{broken}", code=1, words=("broken.jpg",)),
    "predict-text-file-as-image": _case("predict", "demo", "{notes}", code=1, words=("notes.txt",)),
    "predict-markup-in-file-name": _case("predict", "demo", "{markup}", code=1, words=("[x].jpg",)),
    "predict-markup-in-missing-name": _case("predict", "demo", "{root}/[bold]y[/bold].jpg", words=("[bold]y[/bold]",)),
    "predict-max-pixels-zero": _case("predict", "demo", "{cat}", "--max-pixels", "0", words=("--max-pixels",)),
    "mean-not-a-number": _case("predict", "{nhwc}", "{cat}", "--mean", "abc", words=("--mean", "abc")),
    "mean-two-values": _case("predict", "{nhwc}", "{cat}", "--mean", "1,2", words=("--mean", "three")),
    "mean-infinite": _case("predict", "{nhwc}", "{cat}", "--mean", "inf", words=("--mean", "finite")),
    "std-zero": _case("predict", "{nhwc}", "{cat}", "--std", "0", words=("--std", "above zero")),
    "std-two-values": _case("predict", "{nhwc}", "{cat}", "--std", "1,2", words=("--std", "three")),
    "size-huge": _case("predict", "{nhwc}", "{cat}", "--size", "100000", words=("--size 100000",)),
    "size-zero": _case("predict", "{nhwc}", "{cat}", "--size", "0", words=("--size 0",)),
    "size-negative": _case("predict", "{nhwc}", "{cat}", "--size", "-5", words=("--size -5",)),
    "layout-unknown": _case("predict", "{nhwc}", "{cat}", "--layout", "NCWH", words=("--layout", "NHWC")),
    "resize-unknown": _case("predict", "{nhwc}", "{cat}", "--resize", "bilinear", words=("--resize", "linear")),
    "dynamic-size-model-without-size": _case("predict", "{dynamic}", "{cat}", words=("fixed", "--size")),
    "two-input-model-without-input-name": _case("predict", "{two_inputs}", "{cat}", words=("2 inputs", "--input-name")),
    "input-name-unknown": _case(
        "predict", "{two_inputs}", "{cat}", "--input-name", "pixels", words=("pixels", "image", "scale")
    ),
    "labels-binary-file": _case("predict", "demo", "{cat}", "--labels", "{binary_labels}", words=("--labels",)),
    "labels-missing-file": _case("predict", "demo", "{cat}", "--labels", "{root}/nope.txt", words=("nope.txt",)),
    # explain
    "explain-target-out-of-range": _case("explain", "demo", "{cat}", "-t", "1000", "-o", "{out}", words=("1000",)),
    "explain-target-unknown-name": _case(
        "explain", "demo", "{cat}", "-t", "Egyptian kat", "-o", "{out}", words=("Egyptian kat", "Egyptian cat")
    ),
    "explain-target-top-zero": _case("explain", "demo", "{cat}", "-t", "top:0", "-o", "{out}", words=("top:K",)),
    "explain-target-top-too-many": _case(
        "explain", "demo", "{cat}", "-t", "top:1001", "-o", "{out}", words=("top:1001", "1000")
    ),
    "explain-target-negative": _case("explain", "demo", "{cat}", "-t", "-3", "-o", "{out}", words=("-3", "start at 0")),
    "explain-targets-empty": _case("explain", "demo", "{cat}", "-t", ",", "-o", "{out}", words=("--targets",)),
    "explain-method-unknown": _case(
        "explain", "demo", "{cat}", "--method", "gradcam", "-o", "{out}", words=("gradcam", "reciprocam")
    ),
    "explain-mode-unknown": _case("explain", "demo", "{cat}", "--mode", "grey", "-o", "{out}", words=("--mode",)),
    "explain-preset-unknown": _case("explain", "demo", "{cat}", "--preset", "fast", "-o", "{out}", words=("speed",)),
    "explain-seed-negative": _case("explain", "demo", "{cat}", "--seed", "-1", "-o", "{out}", words=("--seed -1",)),
    "explain-seed-for-white-box": _case(
        "explain", "demo", "{cat}", "--method", "reciprocam", "--seed", "3", "-o", "{out}", words=("black-box",)
    ),
    "explain-out-is-a-file": _case("explain", "demo", "{cat}", "-o", "{file}", words=("cannot write to --out",)),
    "explain-out-under-a-file": _case(
        "explain", "demo", "{cat}", "-o", "{file}/maps", words=("cannot write to --out", "a-file")
    ),
    "explain-out-not-creatable": _case(
        "explain", "demo", "{cat}", "-o", "/proc/saliencykit-maps", words=("cannot write to --out",)
    ),
    "explain-out-inside-the-image-folder": _case(
        "explain", "demo", "{photos}", "-o", "{photos}/maps", words=("inside the image folder",)
    ),
    "explain-out-is-the-image-folder": _case("explain", "demo", "{photos}", "-o", "{photos}", words=("--out",)),
    "explain-missing-image": _case("explain", "demo", "{root}/nope.jpg", "-o", "{out}", words=("nope.jpg",)),
    # evaluate
    "evaluate-steps-zero": _case("evaluate", "demo", "{cat}", "--steps", "0", words=("--steps 0",)),
    "evaluate-steps-a-million": _case("evaluate", "demo", "{cat}", "--steps", "1000000", words=("at most 1024",)),
    "evaluate-threshold-out-of-range": _case("evaluate", "demo", "{cat}", "--threshold", "3", words=("--threshold",)),
    "evaluate-score-unknown": _case("evaluate", "demo", "{cat}", "--score", "lgt", words=("--score", "logit")),
    "evaluate-substrate-unknown": _case("evaluate", "demo", "{cat}", "--substrate", "abc", words=("--substrate",)),
    "evaluate-stages-zero": _case("evaluate", "demo", "{cat}", "--stages", "0,1", words=("--stages",)),
    "evaluate-methods-unknown": _case("evaluate", "demo", "{cat}", "--methods", "foo", words=("--methods foo",)),
    "evaluate-metrics-unknown": _case("evaluate", "demo", "{cat}", "--metrics", "bar", words=("--metrics bar",)),
    "evaluate-rise-masks-zero": _case("evaluate", "demo", "{cat}", "--rise-masks", "0", words=("--rise-masks",)),
    "evaluate-tolerance-negative": _case("evaluate", "demo", "{cat}", "--tolerance", "-1", words=("--tolerance",)),
    "evaluate-seed-negative": _case("evaluate", "demo", "{cat}", "--seed", "-2", words=("--seed",)),
    "evaluate-csv-in-missing-folder": _case(
        "evaluate", "demo", "{cat}", "--csv", "{root}/nope/s.csv", words=("--csv", "does not exist")
    ),
    "evaluate-csv-is-a-folder": _case("evaluate", "demo", "{cat}", "--csv", "{csv_folder}", words=("--csv", "folder")),
    "evaluate-boxes-missing": _case("evaluate", "demo", "{cat}", "--boxes", "{root}/nope.json", words=("nope.json",)),
    "evaluate-missing-image": _case("evaluate", "demo", "{root}/nope.jpg", words=("nope.jpg",)),
}


def _invoke(args: list[str]):
    result = CliRunner().invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name, files, tmp_path):
    case = CASES[name]
    args = [a.format(out=tmp_path / "maps", **files) for a in case.args]
    result = _invoke(args)
    assert result.exit_code == case.code, result.output
    for word in case.words:
        assert word in result.output, (word, result.output)
    if case.code == 2:  # a usage or setup error is one line
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, result.output


def test_a_usage_error_found_by_the_model_is_reported_once(files, tmp_path):
    result = _invoke(
        ["explain", "demo", files["cat"], files["cat"], files["broken"], "-t", "1000", "-o", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert result.output.count("out of range") == 1 and not list(tmp_path.iterdir())


def test_a_wrong_option_is_found_before_images_are_read(files, tmp_path):
    """--top-k is refused although the image list has a broken file: no image is read first."""
    result = _invoke(["predict", "demo", files["broken"], "-k", "0"])
    assert result.exit_code == 2 and "broken.jpg" not in result.output


def test_an_nhwc_model_with_its_layout_named(files):
    result = _invoke(["predict", files["nhwc"], files["cat"], "--layout", "NHWC", "-k", "2"])
    assert result.exit_code == 0, result.output
    assert "cat.jpg" in result.output


def test_a_dynamic_size_model_takes_size_from_the_command_line(files):
    result = _invoke(["predict", files["dynamic"], files["cat"], "--size", "24", "-k", "3"])
    assert result.exit_code == 0, result.output
    assert "cat.jpg" in result.output and "top-3" in result.output


def test_an_nhwc_model_without_layout_is_read_from_its_input_shape(files):
    """Needs Preprocess(layout="auto") (the preprocessing branch)."""
    result = _invoke(["predict", files["nhwc"], files["cat"], "-k", "2"])
    assert result.exit_code == 0, result.output
    assert "cat.jpg" in result.output


def test_a_model_whose_output_is_a_picture_is_not_explained_as_a_classifier(files, tmp_path):
    """Needs ModelOutputError from the pipeline branch: [1,3,64,64] is not class scores."""
    for command in (["predict"], ["explain", "-o", str(tmp_path)]):
        result = _invoke([command[0], files["picture"], files["cat"], *command[1:]])
        assert result.exit_code == 2, result.output
        assert "output" in result.output.lower() and "class 2406" not in result.output


def test_nan_scores_fail_the_image_with_the_reason(files, tmp_path):
    """Needs ModelOutputError for NaN/Inf scores from the pipeline branch."""
    for command in (["predict"], ["explain", "-o", str(tmp_path)]):
        result = _invoke([command[0], files["nan"], files["cat"], *command[1:]])
        assert result.exit_code == 1, result.output
        assert "skipped" in result.output and "nan" in result.output.lower()
    assert not list(tmp_path.glob("*nan*.jpg"))


def test_an_image_over_max_pixels_fails_with_the_option_named(files):
    """Needs read_image(max_pixels=) from the image-reading branch."""
    result = _invoke(["predict", "demo", files["cat"], "--max-pixels", "100"])
    assert result.exit_code == 1, result.output
    assert "cat.jpg" in result.output and "--max-pixels" in result.output


def test_a_named_target_layer_that_does_not_exist_is_an_error(files, tmp_path):
    """Needs the explainer branch: a missing named layer is an error, not a silent fallback to RISE."""
    result = _invoke(["explain", "demo", files["cat"], "--target-layer", "no_such_layer", "-o", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "no_such_layer" in result.output and "rise" not in result.output.lower()


def test_random_bytes_as_a_model_print_only_our_message(files):
    """A real process: the message is ours and on one line, exit code 2."""
    result = subprocess.run([EXE, "predict", files["garbage"], files["cat"]], capture_output=True, text=True)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error:") and "garbage.onnx" in lines[-1] and "Traceback" not in result.stderr


def test_random_bytes_as_a_model_print_nothing_else(files):
    result = subprocess.run([EXE, "predict", files["garbage"], files["cat"]], capture_output=True, text=True)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@given(st.text(max_size=40))
def test_target_parsing_gives_targets_or_says_what_is_wrong(text):
    try:
        parsed = parse_targets(text)
    except TargetError as exc:
        assert "--targets" in str(exc)
        return
    if isinstance(parsed, str):
        assert parsed == "all" or (parsed.startswith("top:") and int(parsed[4:]) >= 1)
    else:
        assert parsed, text
        for item in parsed:
            assert (isinstance(item, int) and item >= 0) or (isinstance(item, str) and item == item.strip() and item)


@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=20))
def test_target_indices_are_read_back_as_given(indices):
    assert parse_targets(" , ".join(str(i) for i in indices)) == indices


def test_a_class_name_that_holds_commas_is_one_target(tmp_path, photo_files):
    labels = tmp_path / "labels.txt"
    names = [f"class {i}" for i in range(1000)]
    names[285] = "Egyptian cat, a cat"
    labels.write_text("\n".join(names) + "\n")
    result = CliRunner().invoke(
        app, ["explain", "demo", photo_files["chelsea"], "--labels", str(labels), "-t", "Egyptian cat, a cat",
              "--out", str(tmp_path / "maps")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [p.name.split("_0.")[0] for p in (tmp_path / "maps").iterdir()] == ["chelsea_Egyptian_cat_a_cat"]


def test_predict_prints_no_empty_table_when_every_image_failed(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"not a picture")
    result = CliRunner().invoke(app, ["predict", "demo", str(tmp_path / "broken.jpg")])
    assert result.exit_code == 1
    assert "broken.jpg" in result.output and "predictions" not in result.output
