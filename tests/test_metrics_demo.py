"""Metrics on the real demo model (EfficientNet-Lite0) and photos, and `saliencykit evaluate` as a user runs it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import saliencykit as sk
from saliencykit import metrics as M

EXE = shutil.which("saliencykit") or str(Path(sys.executable).parent / "saliencykit")


@pytest.fixture(scope="module")
def cat_and_coffee(photos):
    return [photos["chelsea"], photos["coffee"]]


@pytest.fixture(scope="module")
def top1_maps(demo_explainer, cat_and_coffee):
    explanations = demo_explainer(cat_and_coffee)
    return [(e.targets[0], e.map(e.targets[0])) for e in explanations]


def test_reciprocam_beats_its_reversed_map_and_an_edge_detector(demo_explainer, cat_and_coffee, top1_maps):
    for image, (target, saliency) in zip(cat_and_coffee, top1_maps):
        ours = M.insertion_deletion_auc(demo_explainer, image, saliency, target)
        reversed_ = M.insertion_deletion_auc(demo_explainer, image, 1.0 - saliency, target)
        edges = M.insertion_deletion_auc(demo_explainer, image, M.sobel_map(image), target)
        assert ours.difference > 0.1
        assert ours.insertion > reversed_.insertion and ours.deletion < reversed_.deletion
        assert ours.difference > edges.difference
        assert ours.protocol["resolution"] == [224, 224] and ours.protocol["score"] == "softmax"
        # the curves end on the model's score of the full image, start on the substrate's
        full = demo_explainer.predict([image])[0, target]
        assert ours.insertion_curve[-1] == pytest.approx(full, abs=1e-4)
        assert ours.deletion_curve[0] == pytest.approx(full, abs=1e-4)


def test_adcc_on_the_demo_model(demo_explainer, cat_and_coffee, top1_maps):
    for image, (target, saliency) in zip(cat_and_coffee, top1_maps):
        r = M.adcc(demo_explainer, image, saliency, target)
        assert 0.5 < r.adcc <= 1 and r.coherency > 0.9
        assert r.adcc == pytest.approx(M.adcc_formula(r.average_drop, r.coherency, r.complexity))
        edges = M.adcc(demo_explainer, image, M.sobel_map(image), target, explain=M.sobel_map)
        assert r.adcc > edges.adcc


def test_pointing_game_on_the_demo_boxes(demo_explainer, photos):
    boxes = sk.demo.boxes()
    for name in ("chelsea", "coffee"):
        obj = boxes[name]["objects"][0]
        explanation = demo_explainer(photos[name], targets=[obj["class"]])
        r = M.pointing_game(explanation.map(obj["class"]), boxes=[obj["box"]], image_size=photos[name].shape[:2])
        assert r.hit and r.energy > 0.5


@pytest.mark.slow
def test_sanity_check_passes_reciprocam_and_fails_an_edge_detector(demo_explainer, cat_and_coffee):
    names = M.layer_names(demo_explainer.pipeline.ov_model)
    assert len(names) > 40 and "fc" in names[0]  # the classifier is randomised first
    stages = [1, 8, len(names)]
    ours = M.model_randomization(demo_explainer, cat_and_coffee, stages=stages)
    assert ours.passed and ours.random_logit_passed
    assert ours.stages[0].mean_spearman < 0.8  # already the classifier alone changes the maps
    assert ours.final_spearman < 0.5 and ours.final_ssim < 0.6
    edges = M.model_randomization(demo_explainer, cat_and_coffee, explain=M.sobel_factory, stages=stages)
    assert not edges.passed and edges.random_logit_passed is False
    assert all(s.mean_spearman == pytest.approx(1.0) and s.mean_ssim == pytest.approx(1.0) for s in edges.stages)
    json.dumps(ours.to_dict(), allow_nan=False)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_evaluate_command_prints_json_and_writes_csv(photo_files, tmp_path):
    csv_file = tmp_path / "summary.csv"
    result = run(
        "evaluate",
        "demo",
        photo_files["chelsea"],
        photo_files["coffee"],
        "--methods",
        "reciprocam,sobel",
        "--stages",
        "1,50",
        "--json",
        "--csv",
        str(csv_file),
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)  # stdout is pure JSON: progress and tables went to stderr
    assert data["methods"] == ["reciprocam", "sobel (control)"]
    assert data["images"] == ["chelsea.jpg", "coffee.jpg"]
    summary = data["summary"]
    ours, edges = summary["reciprocam"], summary["sobel (control)"]
    assert ours["insertion"]["n"] == 2 and ours["pointing"]["n"] == 2  # demo boxes are the default
    assert ours["ins_del"]["mean"] > edges["ins_del"]["mean"]
    assert data["randomization"]["reciprocam"]["passed"] is True
    assert data["randomization"]["sobel (control)"]["passed"] is False
    assert data["protocol"]["insertion-deletion"]["steps"] == 30
    assert data["protocol"]["insertion-deletion"]["substrate"].startswith("blur")
    assert data["protocol"]["randomization"]["stages"] == [1, 50]
    assert "randomisation check" in result.stderr and "evaluating" in result.stderr
    assert csv_file.read_text().startswith("method,column,metric,better,mean,std,n")


def test_evaluate_command_reports_bad_arguments(photo_files, tmp_path):
    result = run("evaluate", "demo", photo_files["chelsea"], "--metrics", "accuracy")
    assert result.returncode == 2 and "use any of" in result.stderr and "Traceback" not in result.stderr
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    result = run(
        "evaluate",
        "demo",
        photo_files["chelsea"],
        str(bad),
        "--metrics",
        "insertion-deletion",
        "--steps",
        "4",
        "--json",
    )
    assert result.returncode == 1 and "broken.jpg" in result.stderr
    assert json.loads(result.stdout)["images"] == ["chelsea.jpg"]


def test_metrics_accept_an_explainer_a_pipeline_or_a_callable(demo_pipeline, demo_explainer, photos, top1_maps):
    image = photos["chelsea"]
    target, saliency = top1_maps[0]
    a = M.insertion_deletion_auc(demo_explainer, image, saliency, target, steps=8)
    b = M.insertion_deletion_auc(demo_pipeline, image, saliency, target, steps=8)
    pixels = demo_pipeline.pixels(image)
    c = M.insertion_deletion_auc(demo_pipeline.predict_pixels, pixels, saliency, target, steps=8)
    assert a.insertion == pytest.approx(b.insertion, abs=1e-5) == pytest.approx(c.insertion, abs=1e-5)
    logit = M.insertion_deletion_auc(demo_pipeline, image, saliency, target, steps=8, score="logit")
    assert logit.protocol["score"] == "logit" and logit.insertion > 1.0  # logits are not bounded to [0, 1]
    assert np.isfinite(logit.deletion)
