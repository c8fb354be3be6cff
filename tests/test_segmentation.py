"""Segmentation and custom-scorer explanations on MediaPipe's real pose model (pose_landmark_full.tflite).

The model segments people (``Identity_2``, logits) and flags pose presence (``Identity_1``); the photos are the
astronaut and composites of her pasted onto other demo photos, each with her mask.
"""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

import saliencykit as sk
from saliencykit.errors import MethodError, ModelOutputError, TargetError
from saliencykit.methods import registry
from saliencykit.metrics import region_insertion_deletion, region_metrics, top_energy_share
from saliencykit.segmentation import Region, SegmentationExplanation
from saliencykit.segmentation import demo as seg_demo

try:  # read out of the downloaded wheel; mediapipe is never imported
    sk.detection.mediapipe_model_path("pose_landmark_full")
except sk.errors.ModelLoadError as exc:  # pragma: no cover - machines without the wheel
    pytest.skip(f"the mediapipe==0.10.14 wheel (which ships the pose model) is missing: {exc}", allow_module_level=True)


def _rise(task: str = "segmentation", masks: int = 128):
    # the soft output (smoothed) that the figures in these tests were measured with
    return registry.lookup("rise").create(task, num_masks=masks, num_cells=8, seed=0, output="soft", combine="sum")


@pytest.fixture(scope="module")
def pose_model() -> ov.Model:
    return seg_demo.pose_model()


@pytest.fixture(scope="module")
def explainer():
    return seg_demo.pose_explainer(method=_rise())


@pytest.fixture(scope="module")
def scenes():
    return {s.name: s for s in seg_demo.person_scenes()}


def _raw(pose_model, image) -> np.ndarray:
    """The person logits (256, 256) of ``image`` from a plain OpenVINO inference (no saliencykit in the way)."""
    x = seg_demo.POSE_PREPROCESS.resize_image(image)[None] / 255.0
    compiled = ov.Core().compile_model(pose_model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})  # as saliencykit
    return compiled(x.astype(np.float32))[compiled.output("Identity_2")][0, ..., 0]


# -- the figures: where the maps point -----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
def test_person_map_peaks_inside_the_person_and_holds_its_top_energy(explainer, scenes, name):
    scene = scenes[name]
    explanation = explainer(scene.image, targets="person")
    assert isinstance(explanation, SegmentationExplanation) and explanation.targets == [1]
    assert explanation.scores[1] > 0.9  # mean person probability over the predicted person
    # the predicted region is the person (the composites' masks are where she was pasted)
    region = explanation.region(1)
    assert (region & scene.mask).sum() / region.sum() > 0.7  # 0.78 .. 0.99 measured: the model adds a little
    result = region_metrics(explanation, 1, tolerance=0)
    assert result.hit, result.point
    x, y = result.point
    assert scene.mask[y, x]  # the peak is on her, not only in the predicted region
    assert result.top_energy > 0.65  # 0.84 .. 0.92 measured; the person covers 22 .. 42 % of the photo
    assert top_energy_share(explanation.map(1, scene.mask.shape), scene.mask) > 0.65


@pytest.mark.slow
@pytest.mark.parametrize("name", ["astronaut", "coffee"])
def test_background_region_map_does_not_peak_on_the_person(scenes, name):
    scene = scenes[name]
    h, w = scene.mask.shape
    xs = np.nonzero(scene.mask)[1]
    box = [0, 0, w / 4, h / 4] if xs.mean() > w / 2 else [3 * w / 4, 0, w, h / 4]  # the corner away from her
    assert not scene.mask[: h // 4, :].any() or scene.mask[: h // 4, int(box[0]) : int(box[2])].mean() < 0.05
    # the background probability saturates at 1.0 there: the logit still moves when the image is masked
    explanation = seg_demo.pose_explainer(method=_rise(), score="logit")(scene.image, targets=Region(box))
    key = explanation.targets[0]
    assert explanation.label(key) == "background" and explanation.score_kind == "logit"
    saliency = explanation.map(key, (h, w))
    peak = np.unravel_index(np.argmax(saliency), saliency.shape)
    assert not scene.mask[peak], peak
    # a sixteenth of the photo holds about half of the top-20 % energy (0.48, 0.49 measured)
    assert top_energy_share(saliency, explanation.region(key)) > 0.25
    assert top_energy_share(saliency, scene.mask) < 0.3


@pytest.mark.slow
def test_pose_presence_scorer_map_peaks_on_the_person(scenes):
    explainer = seg_demo.presence_explainer(method=_rise("scalar"))
    scene = scenes["astronaut"]
    explanation = explainer(scene.image)
    assert explanation.targets == [0] and explanation.label(0) == "pose presence"
    assert explanation.scores[0] > 0.8
    saliency = explanation.map(0, scene.mask.shape)
    assert scene.mask[np.unravel_index(np.argmax(saliency), saliency.shape)]
    assert explainer.predict([sk.demo.photos()["chelsea"]])[0][0] < 0.05  # a cat: no pose


# -- targets and scores, checked against a plain OpenVINO inference ------------------------------------------------


def test_region_scores_are_mean_probabilities_over_the_region(explainer, pose_model, scenes):
    image = scenes["astronaut"].image
    logits = _raw(pose_model, image)
    p = 1 / (1 + np.exp(-np.clip(logits, -60, 60)))
    prediction = explainer.predict([image])[0]
    diff = np.abs(prediction.probabilities[1] - p)  # the same model; f32 kernels may differ in the last bits
    assert diff.mean() < 1e-4 and diff.max() < 0.02, (diff.mean(), diff.max())
    task = explainer.task_object
    h, w = image.shape[:2]
    request = ["person", "background", "mask", Region([0, 0, w // 2, h // 2], "person")]
    targets = task.targets(request, prediction, (h, w))
    assert [t.key for t in targets] == [1, 0, 2, 3]
    assert [t.name for t in targets] == ["class1", "class0", "mask", "region0"]
    person = p > 0.5
    assert targets[0].score == pytest.approx(p[person].mean(), abs=1e-3)
    assert targets[1].score == pytest.approx((1 - p)[~person].mean(), abs=1e-3)
    assert targets[2].score == pytest.approx(targets[0].score, abs=1e-6)  # one foreground class: mask = person
    assert targets[3].score == pytest.approx(p[:128, :128].mean(), abs=1e-3)  # a box of the 512 photo's quarter
    assert targets[0].region.shape == (h, w) and abs(targets[0].region.mean() - person.mean()) < 0.01
    # the score a black-box method sees for the unperturbed image is the same number
    scores = type(targets[0]).score_batch(targets, task.perturbed(task.pipeline_.pixels(image)[None]), 1)
    assert np.allclose(scores[0], [t.score for t in targets], atol=1e-4)


def test_logit_scores_average_the_raw_logit(pose_model, scenes):
    image = scenes["astronaut"].image
    explainer = seg_demo.pose_explainer(method=_rise(), score="logit")
    logits = _raw(pose_model, image)
    prediction = explainer.predict([image])[0]
    target = explainer.task_object.targets("person", prediction, image.shape[:2])[0]
    assert target.score == pytest.approx(logits[logits > 0].mean(), rel=1e-3)


def test_a_mask_array_is_a_region_and_all_skips_the_background(explainer, scenes):
    scene = scenes["coffee"]
    prediction = explainer.predict([scene.image])[0]
    task = explainer.task_object
    assert [t.key for t in task.targets("all", prediction, scene.mask.shape)] == [1]
    (target,) = task.targets(scene.mask, prediction, scene.mask.shape)
    assert target.cls == 1 and target.name == "region0" and target.score > 0.85  # class chosen: the most likely


def test_aise_explains_a_region_through_the_task_scorer(scenes):
    aise = registry.lookup("aise").create("segmentation", preset="speed", num_iterations_per_kernel=6)
    explainer = seg_demo.pose_explainer(method=aise)
    explanation = explainer(scenes["astronaut"].image, targets="person")
    saliency = explanation.map(1)
    assert saliency.shape == (256, 256) and np.isfinite(saliency).all() and saliency.max() > saliency.min()
    assert explanation.stats["model_calls"] == 1 + 3 * 6 * 2  # the image, then 3 widths x 6 points x kept/deleted


# -- what an explanation carries, draws and saves -----------------------------------------------------------------


@pytest.fixture(scope="module")
def quick(scenes):
    explainer = seg_demo.pose_explainer(method=_rise(masks=16))
    return explainer, explainer(scenes["astronaut"].image, targets=["person", Region([0, 0, 100, 100])])


def test_overlays_outline_the_region_and_files_name_it(quick, tmp_path):
    _, explanation = quick
    plain = sk.visualize.overlay(explanation.image, explanation.maps[1])
    outlined = explanation.overlay(1)
    changed = np.any(outlined != plain, axis=-1)
    region = explanation.region(1)
    edge = region ^ np.roll(region, 3, axis=0)  # near the region's border
    assert changed.any() and changed[edge].mean() > changed[~edge].mean() * 5
    written = explanation.save(tmp_path, prefix="astro_")
    names = sorted(p.name for p in written)
    assert names[0].startswith("astro_class1_person_0.9") and names[1].startswith("astro_region0_background_")
    meta = explanation.to_dict()
    assert [r["name"] for r in meta["regions"]] == ["class1", "region0"] and meta["score_kind"] == "probability"
    assert 0.3 < meta["regions"][0]["area_fraction"] < 0.5


def test_insertion_deletion_tracks_the_region_score(quick, scenes):
    explainer, explanation = quick
    result = region_insertion_deletion(explainer, scenes["astronaut"].image, explanation, 1, steps=4)
    assert result.insertion_curve[-1] == pytest.approx(explanation.scores[1], abs=1e-3)  # the whole image
    assert result.deletion_curve[0] == pytest.approx(explanation.scores[1], abs=1e-3)
    assert result.deletion_curve[-1] < 0.5  # nothing of her left: the mean person probability falls


# -- bad inputs: our errors, naming the problem --------------------------------------------------------------------


def test_a_python_callable_segmenter_and_a_rebuilt_explainer_work(explainer, scenes):
    def bright(batch):  # a per-pixel "is it bright" logit map, channels last
        return batch.mean(axis=-1, keepdims=True) / 8.0 - 16.0

    image = np.zeros((64, 64, 3), np.uint8)
    image[16:48, 8:24] = 255
    callable_explainer = sk.Explainer(bright, sk.Preprocess(size=64), task="segmentation", method=_rise(masks=32))
    explanation = callable_explainer(image)
    assert (
        explanation.targets == [1]
        and explanation.region(1)[16:48, 8:24].all()
        and explanation.region(1).mean() == 0.125
    )
    saliency = explanation.map(1)
    assert saliency[16:48, 8:24].mean() > saliency.mean()  # masking the bright bar lowers its own score
    rebuilt = explainer.with_model(seg_demo.pose_model())  # what model randomisation does
    assert rebuilt.task_object.rebuild_options()["output"] == "Identity_2"
    assert rebuilt.predict([scenes["astronaut"].image])[0].mask(1).mean() > 0.3


def test_a_missing_output_name_lists_the_outputs(pose_model):
    with pytest.raises(ModelOutputError, match=r"output='Identity_9'.*'Identity_2' \[1, 256, 256, 1\]"):
        sk.Explainer(pose_model, seg_demo.POSE_PREPROCESS, task="segmentation", output="Identity_9")


def test_an_output_that_is_not_a_map_is_refused(pose_model):
    with pytest.raises(ModelOutputError, match="'Identity_1' has shape \\[1, 1\\], which is not a per-pixel map"):
        sk.Explainer(pose_model, seg_demo.POSE_PREPROCESS, task="segmentation", output="Identity_1")


def test_the_map_output_is_found_by_size_or_refused_when_none_fits(pose_model):
    found = sk.Explainer(pose_model, seg_demo.POSE_PREPROCESS, task="segmentation")  # Identity_2 is the one
    assert found.task_object._reading[0] == 2
    heatmaps = sk.Explainer(pose_model, seg_demo.POSE_PREPROCESS, task="segmentation", output_stride=4)
    assert heatmaps.task_object._reading[0] == 3  # Identity_3: 64 x 64 x 39
    with pytest.raises(ModelOutputError, match="no output of the model is a per-pixel map of 85 x 85.*Identity_2"):
        sk.Explainer(pose_model, seg_demo.POSE_PREPROCESS, task="segmentation", output_stride=3)


def test_ambiguous_map_outputs_must_be_named():
    x = ops.parameter([1, 3, 32, 32], np.float32, name="image")
    model = ov.Model([ops.sigmoid(x), ops.relu(x)], [x], "two_maps")
    model.outputs[0].get_tensor().set_names({"mask_a"})
    model.outputs[1].get_tensor().set_names({"mask_b"})
    with pytest.raises(ModelOutputError, match="several outputs could be the per-pixel map \\('mask_a', 'mask_b'\\)"):
        sk.Explainer(model, sk.Preprocess(size=32), task="segmentation")
    chosen = sk.Explainer(model, sk.Preprocess(size=32), task="segmentation", output="mask_b", method=_rise(masks=4))
    assert chosen.task_object._reading[0] == 1


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (Region(np.zeros((10, 10), bool)), "a mask of shape \\(10, 10\\), but the image is \\(512, 512\\)"),
        (Region(np.zeros((512, 512), bool)), "is empty: it covers no pixel"),
        (Region([600, 600, 700, 700]), "lies outside the image \\(512 x 512 pixels\\)"),
        (Region([50, 50, 10, 10]), "expected finite x0 < x1 and y0 < y1"),
        (Region([0, 0, 10]), "a box is \\[x0, y0, x1, y1\\]"),
        (Region(np.full((512, 512), 2.0)), "within \\[0, 1\\]"),
        (Region([0, 0, 10, 10], "cat"), "cat"),
        (7, "out of range: this model's map has classes 0..1"),
        (1.5, "target 1.5 \\(float\\)"),
        ([], "targets is empty"),
    ],
)
def test_bad_region_targets_are_our_errors(explainer, scenes, target, message):
    image = scenes["astronaut"].image
    with pytest.raises(TargetError, match=message):
        explainer(image, targets=target)


def test_a_class_predicted_nowhere_asks_for_a_region():
    # the pose model finds some "person" in any picture, even a blank one: a one-channel model that never does
    x = ops.parameter([1, 3, 32, 32], np.float32, name="image")
    logits = ops.subtract(ops.multiply(ops.reduce_mean(x, [1], True), np.float32(0)), np.float32(10))
    model = ov.Model([logits], [x])
    explainer = sk.Explainer(
        model, sk.Preprocess(size=32), task="segmentation", label_names=["thing"], method=_rise(masks=4)
    )
    image = np.full((64, 64, 3), 128, np.uint8)
    with pytest.raises(TargetError, match="'thing' is predicted nowhere in this image; .*sk.Region"):
        explainer(image, targets="thing")
    with pytest.raises(TargetError, match="targets='mask': the model predicts only the background here"):
        explainer(image, targets="mask")
    assert explainer(image).targets == []  # "all": nothing but the background, nothing explained


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"score": "mean"}, "score='mean': use 'probability'"),
        ({"activation": "relu"}, "activation='relu'"),
        ({"output_stride": 0}, "output_stride=0"),
        ({"postprocess": "softmax"}, "postprocess= is not used by task='segmentation'"),
        ({"colour": 1}, "colour: not an option for task='segmentation'"),
        ({"method": "reciprocam"}, "method 'reciprocam' does not explain segmentation"),
    ],
)
def test_bad_segmentation_options_are_our_errors(pose_model, options, message):
    with pytest.raises(MethodError, match=message):
        sk.Explainer(pose_model, seg_demo.POSE_PREPROCESS, task="segmentation", **options)


def _scalar(pose_model, scorer, **options):
    return sk.Explainer(pose_model, seg_demo.POSE_PREPROCESS, task="scalar", scorer=scorer, method=_rise("scalar", 4),
                        **options)  # fmt: skip


@pytest.mark.parametrize(
    ("scorer", "message"),
    [
        (lambda outputs: outputs[2], "returned shape \\(1, 256, 256, 1\\) for a batch of 1 images; return \\(1,\\)"),
        (lambda outputs: np.full(len(outputs[0]), np.nan), "NaN or infinite scores for batch image\\(s\\) 0"),
        (lambda outputs: outputs[9], "raised IndexError"),
        (lambda outputs: "high", "not numbers"),
    ],
)
def test_a_scorer_that_misbehaves_is_named(pose_model, scenes, scorer, message):
    with pytest.raises(ModelOutputError, match=message):
        _scalar(pose_model, scorer)(scenes["astronaut"].image)


def test_scalar_task_needs_a_scorer_and_one_name_per_score(pose_model, scenes):
    with pytest.raises(MethodError, match="task='scalar' needs scorer="):
        sk.Explainer(pose_model, seg_demo.POSE_PREPROCESS, task="scalar")
    two = _scalar(pose_model, lambda o: np.concatenate([o[1], o[0][:, :1]], axis=1), label_names=["presence"])
    with pytest.raises(TargetError, match="label_names has 1 names but scorer <lambda> returns 2"):
        two(scenes["astronaut"].image)


def test_a_landmark_coordinate_is_a_target_by_name(pose_model, scenes):
    nose = _scalar(pose_model, lambda o: o[0][:, 0:2], label_names=["nose x", "nose y"])
    explanation = nose(scenes["astronaut"].image, targets="nose y")
    assert explanation.targets == [1] and 0 < explanation.scores[1] < 256  # pixels of the 256 x 256 input
    assert explanation.map(1).shape == (256, 256)
