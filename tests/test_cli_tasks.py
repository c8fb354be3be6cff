"""``saliencykit explain --task detection|segmentation``, run as a user runs it (a subprocess of the command)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import saliencykit as sk
from saliencykit.cli.explain import _check_task_options, parse_regions, parse_task_targets
from saliencykit.errors import OptionError, TargetError
from saliencykit.targets import Region

EXE = shutil.which("saliencykit") or str(Path(sys.executable).parent / "saliencykit")

try:  # the demo detector and segmenter are MediaPipe's, read out of the downloaded wheel
    sk.detection.mediapipe_model_path("pose_landmark_full")
    sk.detection.mediapipe_model_path("blazeface")
except sk.errors.ModelLoadError as exc:  # pragma: no cover - machines without the wheel
    pytest.skip(f"the mediapipe==0.10.14 wheel is missing: {exc}", allow_module_level=True)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def astronaut(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("photos") / "astronaut.png"
    cv2.imwrite(str(path), cv2.cvtColor(sk.demo.photos()["astronaut"], cv2.COLOR_RGB2BGR))
    return str(path)


@pytest.mark.slow
def test_segmentation_explains_a_region_and_outlines_it(tmp_path, astronaut):
    out = tmp_path / "maps"
    result = run("explain", "demo", astronaut, "--task", "segmentation", "--method", "aise", "--preset", "speed",
                 "--region", "150,60,300,200,person", "--raw", "-o", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in out.iterdir())  # astronaut.npz, astronaut_region0_person_0.xx_.jpg
    assert len(names) == 2 and names[0] == "astronaut.npz" and names[1].startswith("astronaut_region0_person_")
    picture = cv2.cvtColor(cv2.imread(str(out / names[1])), cv2.COLOR_BGR2RGB)
    # the region's box is outlined in black over white: its left edge is dark, its inside is not
    assert picture[100:180, 149:152].max(axis=-1).min() < 60 and picture[100:180, 200:210].max(axis=-1).min() > 60
    saved = np.load(out / names[0])
    assert saved["maps"].shape == (1, 256, 256) and list(saved["targets"]) == [3]  # 2 classes, "mask", region0


def test_detection_draws_the_boxes_of_the_demo_face_detector(tmp_path, astronaut):
    out = tmp_path / "boxes"
    result = run("explain", "demo", astronaut, "--task", "detection", "--targets", "0", "--region", "0,0,60,60",
                 "-o", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "det_class_probability_map" in result.stderr  # white-box inside the BlazeFace graph
    names = sorted(p.name for p in out.iterdir())
    assert (
        len(names) == 2
        and names[0].startswith("astronaut_box0_face_0.")
        and names[1].startswith("astronaut_userbox0_face_")
    )


def test_per_box_maps_from_the_command_line_each_peak_on_their_own_face(tmp_path):
    scene = sk.detection.demo.two_face_scene()
    photo = tmp_path / "two.png"
    cv2.imwrite(str(photo), cv2.cvtColor(scene.image, cv2.COLOR_RGB2BGR))
    out = tmp_path / "maps"
    result = run("explain", "demo", str(photo), "--task", "detection", "--method", "det_box_probability_map",
                 "--raw", "-o", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    saved = np.load(out / "two.npz")
    assert saved["maps"].shape[0] == 2
    peaks = [np.unravel_index(np.argmax(m), m.shape) for m in saved["maps"]]
    h, w = saved["maps"].shape[1:]
    sy, sx = h / scene.image.shape[0], w / scene.image.shape[1]
    inside = [
        any(x0 * sx <= px <= x1 * sx and y0 * sy <= py <= y1 * sy for px, py in [(p[1], p[0])])
        for p in peaks
        for (x0, y0, x1, y1) in scene.boxes
    ]
    assert sum(inside) == 2  # each map's peak lies in exactly one face ...
    assert not np.allclose(saved["maps"][0], saved["maps"][1])  # ... and the two maps differ
    refused = run("explain", "demo", str(photo), "--task", "detection", "--method", "reciprocam", "-o", str(out))
    assert (
        refused.returncode == 2 and "det_box_probability_map" in refused.stderr and "--task detection" in refused.stderr
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "pose"], "--task"),
        (["--task", "segmentation", "--region", "1,2,3"], "--region '1,2,3': write x0,y0,x1,y1"),
        (["--task", "segmentation", "--output", "Identity_9"], "output='Identity_9': the model has no such output"),
    ],
)
def test_task_usage_errors_are_one_line_and_exit_2(tmp_path, astronaut, args, message):
    result = run("explain", "demo", astronaut, "-o", str(tmp_path / "x"), *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.strip()]) <= 2


@pytest.mark.parametrize(
    ("task", "regions", "message"),
    [
        ("segmentation", ["a,b,c,d"], "must be numbers"),
        ("classification", ["0,0,10,10"], "--region is for --task detection or segmentation"),
    ],
)
def test_bad_regions_are_target_errors(task, regions, message):
    with pytest.raises(TargetError, match=message):
        parse_regions(task, regions)


def test_regions_become_the_task_targets():
    (region,) = parse_regions("segmentation", ["1,2,30,40,person"])
    assert isinstance(region, Region) and region.area == [1, 2, 30, 40] and region.target == "person"
    assert parse_regions("detection", ["1,2,30,40,0", "5,5,9,9"]) == [[1, 2, 30, 40, 0], [5, 5, 9, 9]]


@pytest.mark.parametrize(
    ("task", "options", "message"),
    [
        ("classification", ("blazeface", None, "probability"), "--postprocess is for --task detection"),
        ("detection", (None, "Identity_2", "probability"), "--output is for --task segmentation"),
        ("detection", (None, None, "logit"), "--score is for --task segmentation"),
    ],
)
def test_options_of_another_task_are_refused(task, options, message):
    with pytest.raises(OptionError, match=message):
        _check_task_options(task, *options)


def test_task_targets_are_parsed_per_task():
    assert parse_task_targets("segmentation", "person, 0") == ["person", 0]
    assert parse_task_targets("segmentation", None) == "all" and parse_task_targets("detection", "top:2") == "top:2"
    assert parse_task_targets("classification", None) == "top:1"
    with pytest.raises(TargetError, match="--targets face: for detection give all, top:K or box indices"):
        parse_task_targets("detection", "face")


def test_a_region_outside_the_image_is_a_usage_error(tmp_path, astronaut):
    result = run("explain", "demo", astronaut, "--task", "segmentation", "--region", "600,600,700,700", "-o",
                 str(tmp_path / "x"))  # fmt: skip
    assert result.returncode == 2 and "lies outside the image (512 x 512 pixels)" in result.stderr
    assert "Traceback" not in result.stderr
