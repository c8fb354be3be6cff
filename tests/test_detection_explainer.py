"""DetectionExplainer on the real BlazeFace detector: white-box and black-box maps per box, pointing game over the
astronaut photo and composites with her face elsewhere, targets, files, degenerate-map warnings."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

import saliencykit as sk
from saliencykit.detection import (
    DRISE,
    AISEDetection,
    DetClassProbabilityMap,
    DetectionExplainer,
    DetectionExplanation,
    blazeface,
    box_iou,
    mediapipe_model_path,
)
from saliencykit.detection.demo import face_scenes
from saliencykit.errors import MethodError, ModelLoadError, TargetError
from saliencykit.metrics import pointing_game

try:  # read out of the downloaded wheel (or an installed mediapipe folder); mediapipe is never imported
    mediapipe_model_path("blazeface")
except ModelLoadError as exc:
    pytest.skip(
        f"the mediapipe==0.10.14 wheel (which ships the BlazeFace TFLite detector) is missing: {exc}",
        allow_module_level=True,
    )

#: modest budgets keep the suite fast; the benchmark uses the defaults
METHODS = {
    "det_class_probability_map": lambda: DetClassProbabilityMap(),
    "drise": lambda: DRISE(num_masks=300, seed=0),
    "aise": lambda: AISEDetection(preset="speed"),
}


@pytest.fixture(scope="module")
def scenes():
    return face_scenes()


@pytest.fixture(scope="module")
def explainers():
    path = mediapipe_model_path("blazeface")
    return {name: DetectionExplainer(path, postprocess="blazeface", method=make()) for name, make in METHODS.items()}


def _face_index(explanation_or_dets, scene) -> int:
    dets = explanation_or_dets
    return int(np.argmax(box_iou(np.array([scene.box]), dets.boxes)[0]))


@pytest.mark.parametrize("name", list(METHODS))
def test_pointing_game_on_faces(explainers, scenes, name):
    """Each method's map for the face box peaks inside that box on (nearly) every input."""
    explainer = explainers[name]
    hits = []
    for scene in scenes:
        dets = explainer.detect(scene.image)
        k = _face_index(dets, scene)
        explanation = explainer(scene.image, targets=k)
        assert explanation.targets == [k]
        saliency = explanation.map(k, size=scene.image.shape[:2])
        result = pointing_game(saliency, boxes=[explanation.boxes[k]], tolerance=0)
        hits.append(result.hit)
    rate = float(np.mean(hits))
    print(f"\npointing game {name}: {rate:.0%} of {len(scenes)} inputs")
    assert len(scenes) >= 8
    assert rate >= 0.9, [s.name for s, h in zip(scenes, hits, strict=True) if not h]


def test_whitebox_chosen_automatically_and_one_inference(scenes):
    explainer = DetectionExplainer(mediapipe_model_path("blazeface"), postprocess="blazeface")
    assert explainer.whitebox and explainer.method.name == "det_class_probability_map"
    assert "SSD-style class head" in explainer.method_description
    explanations = explainer([s.image for s in scenes[:4]])
    assert [e.stats["model_calls"] for e in explanations] == [1, 1, 1, 1]
    first = explanations[0]
    assert isinstance(first, DetectionExplanation) and first.maps[0].shape == (16, 16)
    assert first.maps[0].min() >= 0.0 and first.maps[0].max() <= 1.0  # probabilities, not rescaled


def test_whitebox_explicit_layers_match_auto(explainers, scenes):
    explicit = DetectionExplainer(
        mediapipe_model_path("blazeface"),
        postprocess="blazeface",
        mode="whitebox",
        target_layer=["classificator_8", "classificator_16"],
    )
    auto = explainers["det_class_probability_map"](scenes[0].image)
    np.testing.assert_allclose(explicit(scenes[0].image).maps[0], auto.maps[0], atol=1e-6)


def test_palm_detector_explains_user_boxes_whitebox():
    explainer = DetectionExplainer(mediapipe_model_path("palm"), postprocess="palm")
    assert explainer.whitebox
    image = face_scenes(1)[0].image
    explanation = explainer(image, targets=[[0, 0, 256, 256]])  # one class: the class may be left out
    assert explanation.targets == [len(explanation.detections)] and explanation.maps[explanation.targets[0]].shape == (
        24,
        24,
    )


def test_drise_is_seeded_batched_and_reports_progress(scenes):
    explainer = DetectionExplainer(
        mediapipe_model_path("blazeface"), postprocess="blazeface", method=DRISE(num_masks=96, batch_size=48, seed=3)
    )
    seen = []
    first = explainer(scenes[1].image, targets=0, progress=lambda done, total: seen.append((done, total)))
    again = explainer(scenes[1].image, targets=0)
    np.testing.assert_array_equal(first.maps[0], again.maps[0])
    assert seen == [(48, 96), (96, 96)]
    assert first.stats["model_calls"] == 97 and first.stats["settings"]["num_masks"] == 96
    assert explainer.task_object._plain_runner.dynamic_batch  # masked images go through in batches
    other = DetectionExplainer(
        mediapipe_model_path("blazeface"), postprocess="blazeface", method=DRISE(num_masks=96, seed=4)
    )(scenes[1].image, targets=0)
    assert not np.array_equal(other.maps[0], first.maps[0])


def test_aise_is_deterministic_batched_and_reports_progress(scenes):
    explainer = DetectionExplainer(
        mediapipe_model_path("blazeface"),
        postprocess="blazeface",
        method=AISEDetection(num_iterations_per_kernel=8),
    )
    seen = []
    first = explainer(scenes[4].image, targets=0, progress=lambda done, total: seen.append((done, total)))
    again = explainer(scenes[4].image, targets=0)
    np.testing.assert_array_equal(first.maps[0], again.maps[0])
    assert seen[-1] == (24, 24) and len(seen) < 24  # 3 widths x 8 evaluations, scored 3 at a time
    assert first.stats["model_calls"] == 25


def test_drise_maps_do_not_depend_on_the_batch_size(scenes):
    path = mediapipe_model_path("blazeface")
    maps = [
        DetectionExplainer(path, postprocess="blazeface", method=DRISE(num_masks=64, batch_size=b))(
            scenes[3].image, targets=0
        ).maps[0]
        for b in (8, 64)
    ]
    np.testing.assert_allclose(maps[0], maps[1], atol=1e-5)


def test_all_boxes_from_one_set_of_masks(scenes):
    """D-RISE scores every target box from the same masked inferences."""
    explainer = DetectionExplainer(
        mediapipe_model_path("blazeface"), postprocess="blazeface", method=DRISE(num_masks=64)
    )
    scene = scenes[7]  # the motorcycle: the face and a weak false detection
    explanation = explainer(scene.image, targets="all")
    assert len(explanation.targets) == len(explanation.detections) >= 2
    assert explanation.stats["model_calls"] == 65


def test_two_faces_black_box_maps_are_per_box_white_box_per_class(explainers, scenes):
    """On a photo with two faces, D-RISE and AISE point at each box; the class map is one map for both."""
    image = np.concatenate([scenes[1].image[:, :192], scenes[2].image[:, 192:]], axis=1)
    for name in ("drise", "aise"):
        explanation = explainers[name](image)
        assert len(explanation.targets) == 2
        for k in explanation.targets:
            saliency = explanation.map(k, size=image.shape[:2])
            assert pointing_game(saliency, boxes=[explanation.boxes[k]], tolerance=0).hit, (name, k)
    shared = explainers["det_class_probability_map"](image)
    np.testing.assert_array_equal(shared.maps[0], shared.maps[1])


def test_user_box_targets_and_names(explainers, scenes, tmp_path):
    scene = scenes[2]
    explainer = explainers["drise"]
    x0, y0, x1, y1 = scene.box
    explanation = explainer(scene.image, targets=[0, [x0, y0, x1, y1, "face"]])
    m = len(explanation.detections)
    assert explanation.targets == [0, m]
    assert explanation.names == {0: "box0", m: "userbox0"}
    assert explanation.scores[m] > 0.5  # the detector's support for the given box: its IoU x score
    hit = pointing_game(explanation.map(m, size=scene.image.shape[:2]), boxes=[scene.box], tolerance=0)
    assert hit.hit
    written = explanation.save(tmp_path, prefix="scene_")
    assert [p.name for p in written] == [
        f"scene_box0_face_{explanation.scores[0]:.2f}.jpg",
        f"scene_userbox0_face_{explanation.scores[m]:.2f}.jpg",
    ]
    info = explanation.to_dict()
    assert info["boxes"][1]["name"] == "userbox0" and info["boxes"][1]["label"] == "face"


def test_overlay_draws_the_box(explainers, scenes):
    explanation = explainers["det_class_probability_map"](scenes[0].image)
    plain = sk.visualize.overlay(scenes[0].image, explanation.maps[0])
    drawn = explanation.overlay(0)
    x0, y0, x1, y1 = (int(round(v)) for v in explanation.boxes[0])
    assert drawn.shape == plain.shape
    assert not np.array_equal(drawn[y0 : y1 + 1, x0], plain[y0 : y1 + 1, x0])  # the box's left edge
    np.testing.assert_array_equal(drawn[-5:, -5:], plain[-5:, -5:])  # far from the box: unchanged
    no_image = explainers["det_class_probability_map"](scenes[0].image, keep_image=False)
    assert no_image.picture(0).shape == scenes[0].image.shape


def test_target_errors(explainers, scenes):
    explainer = explainers["det_class_probability_map"]
    with pytest.raises(TargetError, match="found 1 box"):
        explainer(scenes[0].image, targets=3)
    with pytest.raises(TargetError, match="nested"):
        explainer(scenes[0].image, targets=[10.5, 20.0, 100.0, 120.0, 0])
    with pytest.raises(TargetError, match="outside the image"):
        explainer(scenes[0].image, targets=[[600, 600, 700, 700, 0]])
    with pytest.raises(TargetError, match="top:K"):
        explainer(scenes[0].image, targets="best")
    assert explainer(scenes[0].image, targets="top:5").targets == [0]


def test_no_face_gives_an_empty_explanation_and_a_warning(explainers, caplog):
    chelsea = sk.demo.photos()["chelsea"]
    with caplog.at_level(logging.WARNING, logger="saliencykit"):
        explanation = explainers["drise"](chelsea)
    assert explanation.targets == [] and "found no box" in caplog.text


def _final_only(outputs):
    """A plain callable postprocess: final detections only (no dense decoding), with a too high threshold."""
    return blazeface(score_threshold=0.99)(outputs)


def test_constant_map_is_reported(scenes, caplog):
    explainer = DetectionExplainer(
        mediapipe_model_path("blazeface"),
        preprocess=sk.Preprocess(size=128, mean=127.5, std=127.5, layout="NHWC"),
        postprocess=_final_only,
        method=DRISE(num_masks=32),
        label_names=["face"],
    )
    with caplog.at_level(logging.WARNING, logger="saliencykit"):
        explanation = explainer(scenes[0].image, targets=[list(scenes[0].box) + [0]])  # never above 0.99
    key = explanation.targets[0]
    assert np.ptp(explanation.maps[key]) == 0
    assert "map for userbox0" in caplog.text and "is constant" in caplog.text and "score threshold" in caplog.text


def test_nan_outputs_are_reported(caplog):
    def broken(batch):
        n = len(batch)
        return [np.full((n, 896, 16), np.nan, np.float32), np.full((n, 896, 1), np.nan, np.float32)]

    explainer = DetectionExplainer(
        broken, preprocess=sk.Preprocess(size=128), postprocess="blazeface", method=DRISE(num_masks=16)
    )
    assert "callable" in explainer.reason or explainer.reason == "asked for"
    with caplog.at_level(logging.WARNING, logger="saliencykit"):
        explanation = explainer(face_scenes(1)[0].image, targets=[[100, 100, 200, 200]])
    assert "NaN" in caplog.text and np.all(np.isfinite(explanation.maps[explanation.targets[0]]))


def test_modes_and_method_errors(scenes):
    path = mediapipe_model_path("blazeface")
    assert DetectionExplainer(path, postprocess="blazeface", mode="blackbox").method.name == "drise"
    assert DetectionExplainer(path, postprocess="blazeface", method="aise").method.name == "aise"
    with pytest.raises(MethodError, match="black-box"):
        DetectionExplainer(path, postprocess="blazeface", mode="whitebox", method="drise")
    with pytest.raises(MethodError, match="postprocess"):
        DetectionExplainer(path)
    with pytest.raises(MethodError, match="postprocess"):
        DetectionExplainer(path, postprocess="softmax")
    with pytest.raises(MethodError, match="explains classifiers"):
        DetectionExplainer(path, postprocess="blazeface", method=sk.methods.RISE())
    with pytest.raises(MethodError, match="unknown"):
        DetectionExplainer(path, postprocess="blazeface", method="gradcam")


def test_default_preprocess_reads_the_nhwc_layout(scenes):
    explainer = DetectionExplainer(mediapipe_model_path("blazeface"), postprocess=blazeface())
    assert explainer.pipeline.preprocess.layout == "NHWC" and explainer.pipeline.preprocess.hw == (128, 128)
    # mean 0 / std 1 is not BlazeFace's [-1, 1]: detections differ, but the model runs
    explainer.detect(scenes[0].image)


def test_saved_pictures_keep_the_box_within_the_size_cap(explainers, scenes, tmp_path):
    explanation = explainers["det_class_probability_map"](scenes[0].image)
    target = explanation.targets[0]
    path = explanation.save(tmp_path, max_side=96)[0]
    saved = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB).astype(np.float32)
    assert max(saved.shape[:2]) == 96
    small = sk.visualize.fit(scenes[0].image, 96)
    with_box = explanation.overlay(target, image=small).astype(np.float32)
    plain = sk.visualize.overlay(small, explanation.maps[target]).astype(np.float32)
    assert np.abs(saved - with_box).mean() < np.abs(saved - plain).mean()  # the box is drawn, at the small size
