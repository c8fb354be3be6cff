"""The Explainer and the Explanation on the real demo model, end to end."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

import saliencykit as sk
from saliencykit.errors import GraphError, MethodError, TargetError

BOXED = ("chelsea", "coffee", "stereo_motorcycle_left")


def _inside(point_yx, box, tolerance=0):
    y, x = point_yx
    x0, y0, x1, y1 = box
    return x0 - tolerance <= x <= x1 + tolerance and y0 - tolerance <= y <= y1 + tolerance


def test_auto_mode_picks_reciprocam_for_the_demo_cnn_and_says_why(caplog):
    with caplog.at_level(logging.INFO, logger="saliencykit"):
        explainer = sk.demo.explainer()
    assert explainer.method.name == "reciprocam"
    assert "spatial feature map" in explainer.method_description
    assert any("reciprocam" in r.getMessage() and r.levelno == logging.INFO for r in caplog.records)


@pytest.mark.parametrize("name", BOXED)
def test_top1_map_peaks_inside_the_object_box(demo_explainer, photos, name):
    image = photos[name]
    explanation = demo_explainer(image, targets="top:1")
    target = explanation.targets[0]
    box_info = sk.demo.boxes()[name]["objects"][0]
    assert target == box_info["class"]
    saliency = explanation.map(target, size=image.shape[:2])
    assert saliency.shape == image.shape[:2] and saliency.dtype == np.float32
    peak = np.unravel_index(np.argmax(saliency), saliency.shape)
    assert _inside(peak, box_info["box"]), (name, peak, box_info["box"])
    assert explanation.maps[target].shape == (7, 7)
    assert explanation.maps[target].min() >= 0.0 and explanation.maps[target].max() <= 1.0 + 1e-6
    assert "reciprocam" in explanation.method


def test_scores_and_targets_follow_the_model(demo_explainer, demo_pipeline, photos):
    image = photos["stereo_motorcycle_left"]
    probabilities = demo_pipeline.predict([image])[0]
    explanation = demo_explainer(image, targets=["moped", 670, "Egyptian cat"])
    assert explanation.targets == [665, 670, 285]
    for t in explanation.targets:
        assert explanation.scores[t] == pytest.approx(float(probabilities[t]), abs=1e-5)
    # different classes get different maps
    assert not np.allclose(explanation.maps[665], explanation.maps[285], atol=1e-3)
    with pytest.raises(TargetError, match="Close matches: 'moped'"):
        demo_explainer(image, targets="mopde")
    with pytest.raises(TargetError, match=r"0\.\.999"):
        demo_explainer(image, targets=1000)


def test_a_list_of_images_gives_the_same_maps_as_one_at_a_time(demo_explainer, photos):
    images = list(photos.values())
    together = demo_explainer(images, targets="top:2")
    assert isinstance(together, list) and len(together) == len(images)
    for image, batched in zip(images, together):
        alone = demo_explainer(image, targets="top:2")
        assert alone.targets == batched.targets
        for t in alone.targets:
            np.testing.assert_allclose(batched.maps[t], alone.maps[t], atol=1e-5)


def test_explanation_files(demo_explainer, photos, tmp_path):
    explanation = demo_explainer(photos["chelsea"], targets="top:2")
    written = explanation.save(tmp_path, prefix="chelsea_", postfix="_")
    names = sorted(p.name for p in written)
    second = explanation.targets[1]
    second_label = explanation.label(second).replace(" ", "_")
    expected = [
        f"chelsea_Egyptian_cat_{explanation.scores[285]:.2f}.jpg",
        f"chelsea_{second_label}_{explanation.scores[second]:.2f}.jpg",
    ]
    assert names == sorted(expected)
    picture = cv2.imread(str(written[0]))
    assert picture.shape == photos["chelsea"].shape
    raw = np.load(explanation.save_raw(tmp_path / "chelsea"))
    np.testing.assert_array_equal(raw["targets"], explanation.targets)
    np.testing.assert_allclose(raw["maps"][0], explanation.maps[explanation.targets[0]])
    assert raw["predictions"].shape == (1000,)
    overlay = explanation.overlay(285, colormap="jet", alpha=0.5)
    assert overlay.shape == photos["chelsea"].shape and overlay.dtype == np.uint8
    png = explanation._repr_png_()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(tmp_path.glob(".*")) == []  # no temporary files left behind


def test_label_names_are_sanitised_in_file_names(demo_explainer, photos, tmp_path):
    labels = list(sk.demo.labels())
    labels[285] = "../../<script>alert(1)</script>"
    explainer = sk.demo.explainer(label_names=labels)
    written = explainer(photos["chelsea"], targets=285).save(tmp_path)
    assert written[0].parent == tmp_path
    assert written[0].name.startswith("script_alert_1_script")


def test_activation_map_is_class_agnostic(photos):
    explainer = sk.demo.explainer(method="activation_map")
    explanation = explainer(photos["coffee"], targets="top:2")
    a, b = explanation.targets
    np.testing.assert_array_equal(explanation.maps[a], explanation.maps[b])
    assert explanation.maps[a].shape == (7, 7)


def test_insert_xai_survives_save_and_reload(demo_model, tmp_path, photos):
    model = sk.insert_xai(demo_model)
    assert sk.has_xai(model) and not sk.has_xai(demo_model)
    ov.save_model(model, str(tmp_path / "xai.xml"), compress_to_fp16=False)
    reloaded = sk.load_model(tmp_path / "xai.xml")
    assert sk.has_xai(reloaded)
    f32 = {"INFERENCE_PRECISION_HINT": "f32"}
    compiled = ov.Core().compile_model(reloaded, "CPU", f32)
    x = sk.demo.preprocess(photos["chelsea"])
    result = compiled(x)
    assert result["saliency_map"].shape == (1, 1000, 7, 7)
    plain = ov.Core().compile_model(demo_model, "CPU", f32)(x)[0]
    np.testing.assert_array_equal(result[0], plain)


def _mlp_model() -> ov.Model:
    """A model with no spatial feature map: white-box methods cannot apply."""
    param = ops.parameter([-1, 3, 16, 16], np.float32, name="x")
    flat = ops.reshape(param, ops.constant(np.array([-1, 768], np.int64)), False)
    w = ops.constant(np.random.default_rng(0).normal(size=(768, 4)).astype(np.float32) * 0.05)
    return ov.Model([ops.matmul(flat, w, False, False)], [param])


def test_auto_falls_back_to_blackbox_with_a_warning(caplog, photos):
    with caplog.at_level(logging.WARNING, logger="saliencykit"):
        explainer = sk.Explainer(_mlp_model(), preprocess=sk.Preprocess(size=16, std=255.0))
    assert not explainer.whitebox
    assert any("black-box" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    explanation = explainer(photos["coffee"], targets=0)
    assert explanation.maps[0].shape == (16, 16) and np.isfinite(explanation.maps[0]).all()
    assert explanation.stats["model_calls"] > 100
    with pytest.raises(GraphError, match="no white-box method fits"):
        sk.Explainer(_mlp_model(), preprocess=sk.Preprocess(size=16), mode="whitebox")


def test_bad_modes_and_methods():
    with pytest.raises(MethodError, match="mode='fast'"):
        sk.demo.explainer(mode="fast")
    with pytest.raises(MethodError, match="unknown"):
        sk.demo.explainer(method="gradcam++")
    with pytest.raises(MethodError, match="white-box but mode='blackbox'"):
        sk.demo.explainer(method="reciprocam", mode="blackbox")


def test_targets_chosen_per_image_by_a_callable(demo_explainer, photos):
    images = [photos["chelsea"], photos["coffee"], photos["rocket"]]
    wanted = {0: [285], 1: [967, 285], 2: "top:1"}
    seen = []

    def choose(scores, index):
        seen.append((index, int(scores.argmax())))
        return wanted[index]

    explanations = demo_explainer(images, targets=choose)
    assert [e.targets for e in explanations] == [[285], [967, 285], [540]]
    assert seen == [(0, 285), (1, 967), (2, 540)]
    alone = demo_explainer(photos["coffee"], targets=[967, 285])
    np.testing.assert_allclose(explanations[1].maps[285], alone.maps[285], atol=1e-5)


def test_blackbox_methods_by_name(photos):
    explainer = sk.demo.explainer(method="aise")
    assert explainer.method.name == "aise" and not explainer.whitebox
