"""The command line, run as a user runs it: a real subprocess of the installed `saliencykit` command."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

import saliencykit as sk
from saliencykit.files import unique_stems

EXE = shutil.which("saliencykit") or str(Path(sys.executable).parent / "saliencykit")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_version():
    result = run("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"saliencykit {sk.__version__}"


@pytest.mark.slow
def test_predict_prints_the_top_classes_with_names(photo_files, demo_pipeline):
    result = run("predict", "demo", photo_files["chelsea"], photo_files["coffee"], "--top-k", "3")
    assert result.returncode == 0, result.stderr
    assert "Egyptian cat" in result.stdout and "espresso" in result.stdout
    expected = demo_pipeline.predict([sk.read_image(photo_files["chelsea"])])[0]
    assert f"{expected[285]:.4f}" in result.stdout


@pytest.mark.slow
def test_predict_reports_bad_images_and_fails(tmp_path, photo_files):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    result = run("predict", "demo", photo_files["chelsea"], str(bad))
    assert result.returncode == 1
    assert "broken.jpg" in result.stderr and "not a readable image" in result.stderr
    assert "Egyptian cat" in result.stdout


def test_predict_with_a_missing_model_is_a_clear_error(tmp_path, photo_files):
    result = run("predict", str(tmp_path / "nope.xml"), photo_files["chelsea"])
    assert result.returncode == 2
    assert "no such model file" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_explain_writes_overlays_named_by_label_and_score(tmp_path, photo_files, demo_explainer):
    out = tmp_path / "maps"
    result = run(
        "explain", "demo", photo_files["chelsea"], photo_files["coffee"], "--targets", "top:2", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert "reciprocam" in result.stderr
    expected = set()
    for name in ("chelsea", "coffee"):
        explanation = demo_explainer(sk.read_image(photo_files[name]), targets="top:2")
        expected |= {p.name for p in [out / explanation.file_name(t, f"{name}_", "_") for t in explanation.targets]}
    assert {p.name for p in out.iterdir()} == expected
    assert "chelsea_Egyptian_cat_0.7" in " ".join(sorted(expected)) or "chelsea_Egyptian_cat_0.8" in " ".join(expected)


@pytest.mark.slow
def test_blackbox_explain_shows_a_bar_of_model_calls(tmp_path, photo_files):
    out = tmp_path / "maps"
    result = run("explain", "demo", photo_files["chelsea"], "--mode", "blackbox", "--method", "rise", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "rise" in result.stderr
    assert "model calls" in result.stderr and "256/256" in result.stderr  # RISE()'s masks, counted as they go
    assert len(list(out.glob("chelsea_Egyptian_cat_*.jpg"))) == 1


@pytest.mark.slow
def test_explain_takes_openvino_xai_presets_and_refuses_them_for_white_box(tmp_path, photo_files):
    result = run("explain", "demo", photo_files["coffee"], "--preset", "fast", "--out", str(tmp_path / "a"))
    assert result.returncode == 2 and "--preset 'fast'" in result.stderr and "speed" in result.stderr
    assert "Traceback" not in result.stderr
    result = run("explain", "demo", photo_files["coffee"], "--method", "reciprocam", "--preset", "speed")
    assert result.returncode == 2 and "black-box methods" in result.stderr
    result = run(
        "explain", "demo", photo_files["coffee"], "--method", "aise", "--preset", "speed", "--out", str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    assert "aise" in result.stderr and "120/120" in result.stderr  # 20 evaluations x 3 widths x kept/deleted
    assert len(list(tmp_path.glob("coffee_espresso_*.jpg"))) == 1


@pytest.mark.slow
def test_explain_never_overwrites_its_own_files(tmp_path, photos):
    """a/photo.jpg + b/photo.jpg, and cat.jpg + cat.png: four inputs, four sets of outputs (the audit's naming)."""
    for name, key in (
        ("a/photo.jpg", "chelsea"),
        ("b/photo.jpg", "coffee"),
        ("cat.jpg", "coffee"),
        ("cat.png", "chelsea"),
    ):
        path = tmp_path / "in" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), cv2.cvtColor(photos[key], cv2.COLOR_RGB2BGR))
    inputs = [str(tmp_path / "in" / n) for n in ("a/photo.jpg", "b/photo.jpg", "cat.jpg", "cat.png")]
    out = tmp_path / "maps"
    result = run("explain", "demo", *inputs, "--raw", "--out", str(out))
    assert result.returncode == 0, result.stderr
    stems = unique_stems(inputs)
    overlays = sorted(p.name for p in out.glob("*.jpg"))
    assert len(overlays) == 4 and len(list(out.glob("*.npz"))) == 4
    for path in inputs:
        assert len([n for n in overlays if n.startswith(stems[path] + "_")]) == 1
        assert (out / f"{stems[path]}.npz").is_file()
    assert sum("espresso" in n for n in overlays) == 2 and sum("Egyptian_cat" in n for n in overlays) == 2
    assert "wrote 8 file(s) for 4 of 4 image(s)" in result.stdout


@pytest.mark.slow
def test_explain_names_an_image_given_twice_once(tmp_path, photo_files):
    out = tmp_path / "maps"
    result = run("explain", "demo", photo_files["chelsea"], photo_files["chelsea"], "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert [p.name.startswith("chelsea_") for p in out.iterdir()] == [True]
    assert "wrote 1 file(s) for 1 of 1 image(s)" in result.stdout


@pytest.mark.slow
def test_ctrl_c_stops_explain_with_exit_code_130(tmp_path, photo_files):
    out = tmp_path / "maps"
    args = [EXE, "explain", "demo", *photo_files.values(), "--method", "rise", "--out", str(out)]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)  # the model is loaded and the first image is being explained
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert len(list(out.glob("*.jpg"))) < len(photo_files)


# -- a method registered by a user shows up in every command that takes a method ----------------------------------
def test_a_registered_method_is_listed_and_accepted_by_every_command(tmp_path):
    from typer.testing import CliRunner

    from saliencykit.cli import build_app
    from saliencykit.methods import registry

    spec = registry.MethodSpec(
        "tiny_occlusion", "blackbox", ("classification",), lambda task, **options: object(), "a test's method"
    )
    runner = CliRunner()
    before = runner.invoke(build_app(), ["explain", "--help"], env={"COLUMNS": "300"})
    registry.register(spec)
    try:
        app = build_app()  # built after the registration, as `saliencykit` builds it on every run
        for command in ("explain", "audit", "evaluate"):
            shown = runner.invoke(app, [command, "--help"], env={"COLUMNS": "300"})
            assert shown.exit_code == 0 and "tiny_occlusion" in shown.output, (command, shown.output)
        # accepted by name (any spelling): the run gets past --method and stops at the missing image
        refused = runner.invoke(app, ["explain", "demo", str(tmp_path / "none.jpg"), "--method", "Tiny-Occlusion"])
        assert refused.exit_code == 2 and "none.jpg: no such image" in refused.output
        assert "--method" not in refused.output
    finally:
        registry.unregister("tiny_occlusion")
    assert "tiny_occlusion" not in before.output
    after = runner.invoke(build_app(), ["explain", "demo", "x.jpg", "--method", "tiny_occlusion"])
    assert after.exit_code == 2 and "--method 'tiny_occlusion' is not one of: reciprocam" in after.output
