"""Tasks and their targets: what differs between classification and detection, and the one engine on top."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import saliencykit as sk
from saliencykit.detection import DRISE, AISEDetection, DetectionBatch
from saliencykit.errors import MethodError
from saliencykit.methods import AISE, RISE, registry
from saliencykit.targets import ClassTarget, score_targets
from saliencykit.tasks import TASKS, get_task
from saliencykit.tasks.classification import ClassificationTask
from saliencykit.tasks.detection import BoxTarget

SIZE = 64
BOX = np.array([0.25, 0.25, 0.75, 0.75], np.float32)


def _toy_detect(batch: np.ndarray) -> DetectionBatch:
    """One candidate box, fixed at BOX, whose score is the brightness inside it: it depends on those pixels only."""
    n = len(batch)
    inside = batch[:, SIZE // 4 : 3 * SIZE // 4, SIZE // 4 : 3 * SIZE // 4].mean(axis=(1, 2, 3)) / 255.0
    return DetectionBatch(
        boxes=np.broadcast_to(BOX, (n, 1, 4)).copy(),
        scores=inside.astype(np.float32)[:, None],
        classes=np.zeros((n, 1), np.int64),
    )


def _pixels() -> np.ndarray:
    return np.full((SIZE, SIZE, 3), 200.0, np.float32)


def _inside_minus_outside(saliency: np.ndarray) -> float:
    inside = np.zeros(saliency.shape, bool)
    inside[SIZE // 4 : 3 * SIZE // 4, SIZE // 4 : 3 * SIZE // 4] = True
    return float(saliency[inside].mean() - saliency[~inside].mean())


def test_drise_is_rise_with_box_targets():
    targets = [BoxTarget(0, BOX, 0)]
    drise = DRISE(num_masks=64, seed=2).explain(_toy_detect, _pixels(), BOX[None], np.array([0]))
    rise = RISE(
        num_masks=64, num_cells=16, seed=2, sampler="random", interpolation="linear", substrates=("mean",), output="raw"
    ).explain(_toy_detect, _pixels(), targets)
    np.testing.assert_array_equal(drise, rise)
    assert _inside_minus_outside(drise[0]) > 0  # the box's own pixels matter, the rest does not


def test_aise_for_detection_searches_around_the_box():
    maps = AISEDetection(preset="speed").explain(_toy_detect, _pixels(), [BoxTarget(0, BOX, 0)])
    assert maps.shape == (1, SIZE, SIZE) and _inside_minus_outside(maps[0]) > 0
    # the same search machinery as classification's AISE: the detection class only changes widths and region
    assert isinstance(AISEDetection(), AISE) and AISEDetection().settings()["divisors"] == [7.0, 4.0, 1.0]


def test_box_target_geometry_and_scores():
    target = BoxTarget(0, np.array([0.4, 0.4, 0.6, 0.6], np.float32), 0)
    low, high = target.search_region(0.5)
    np.testing.assert_allclose(low, [0.3, 0.3], atol=1e-6)
    np.testing.assert_allclose(high, [0.7, 0.7], atol=1e-6)
    corner = BoxTarget(1, np.array([0.0, 0.0, 0.2, 0.1], np.float32), 0)
    low, high = corner.search_region(0.5)
    assert low.tolist() == [0.0, 0.0] and high[0] == pytest.approx(0.15) and corner.shorter_side == pytest.approx(0.1)
    found = _toy_detect(np.stack([_pixels(), np.zeros_like(_pixels())]))
    scores = score_targets([BoxTarget(0, BOX, 0), BoxTarget(1, BOX, 1)], found, 2)
    np.testing.assert_allclose(scores, [[200 / 255, 0.0], [0.0, 0.0]], atol=1e-6)  # class 1 matches nothing


def test_class_targets_score_their_column():
    outputs = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]], np.float32)
    np.testing.assert_allclose(score_targets([2, ClassTarget(0)], outputs, 2), [[0.2, 0.1], [0.2, 0.5]], atol=1e-7)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: score_targets([ClassTarget(0)], np.zeros((3, 4, 4)), 3), "predict returned scores of shape"),
        (lambda: score_targets([0], np.zeros((2, 5)), 3), r"shape \(2, 5\) for a batch of 3"),
        (lambda: score_targets([BoxTarget(0, BOX, 0)], _toy_detect(np.zeros((2, SIZE, SIZE, 3))), 3), "returned 2"),
        (lambda: get_task("pose"), "task='pose': use one of classification, detection, segmentation, scalar"),
        (lambda: get_task("classification", class_output=1), "class_output: not an option for task='classification'"),
        (lambda: get_task("detection", colour=1), "colour: not an option for task='detection'; .*class_output"),
    ],
)
def test_bad_task_and_target_inputs(call, message):
    with pytest.raises(MethodError, match=message):
        call()


@pytest.fixture(scope="module")
def demo_model():
    return sk.demo.model()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"method": DRISE()}, "DRISE explains detectors; for classifiers use method= one of: reciprocam"),
        ({"method": "det_class_probability_map"}, "does not explain classification models"),
        ({"class_output": 1}, "not an option for task='classification'"),
    ],
)
def test_a_classifier_refuses_what_belongs_to_detection(demo_model, kwargs, message):
    with pytest.raises(MethodError, match=message):
        sk.Explainer(demo_model, sk.demo.preprocess, **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"method": "reciprocam"}, "does not explain detection models; for detection use one of: det_class"),
        ({"method": AISE()}, "AISE explains classifiers"),
        ({"method": "drise", "target_layer": "conv"}, "is for white-box methods; method 'drise' is black-box"),
        ({"method": "rise", "mode": "whitebox"}, "is black-box but mode='whitebox'"),
    ],
)
def test_a_detector_refuses_what_belongs_to_classification(kwargs, message):
    path = sk.detection.mediapipe_model_path("blazeface")
    with pytest.raises(MethodError, match=message):
        sk.Explainer(path, postprocess="blazeface", task="detection", **kwargs)


def test_a_detector_falls_back_to_drise_on_a_callable():
    explainer = sk.Explainer(
        lambda batch: [np.zeros((len(batch), 1, 16)), np.zeros((len(batch), 1, 1))],
        sk.Preprocess(size=32),
        postprocess=lambda outputs: [(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int))] * len(outputs[0]),
        task="detection",
    )
    assert isinstance(explainer.method, DRISE) and explainer.reason == "the model is a Python callable"


def test_with_model_rebuilds_the_same_explainer(demo_model):
    explainer = sk.Explainer(demo_model, sk.demo.preprocess, method="reciprocam", label_names=sk.demo.labels())
    again = explainer.with_model(demo_model)
    assert type(again.method) is type(explainer.method) and again.label_names == explainer.label_names
    image = sk.demo.photos()["chelsea"]
    np.testing.assert_array_equal(explainer(image).maps[285], again(image).maps[285])
    detector = sk.detection.DetectionExplainer(sk.detection.mediapipe_model_path("blazeface"), postprocess="blazeface")
    rebuilt = detector.with_model(sk.detection.mediapipe_model_path("blazeface"))
    assert rebuilt.task == "detection" and rebuilt.task_object.postprocess is detector.postprocess
    assert rebuilt.method.name == "det_class_probability_map" and rebuilt.pipeline.batch_size == 4


class MultiLabelTask(ClassificationTask):
    """A task added the documented way: one class here, one line in TASKS, its name in the methods' registry lines."""

    name = "multilabel"
    noun = "multi-label classifiers"

    def pipeline(self, model, preprocess, postprocess, settings):
        return super().pipeline(model, preprocess, "sigmoid" if postprocess is None else postprocess, settings)


@pytest.fixture
def multilabel():
    specs = [registry.lookup(name) for name in ("reciprocam", "vit_reciprocam", "rise")]
    TASKS["multilabel"] = f"{__name__}:MultiLabelTask"
    for spec in specs:
        registry.register(replace(spec, tasks=(*spec.tasks, "multilabel")))
    yield
    del TASKS["multilabel"]
    for spec in specs:
        registry.register(spec)


def test_a_new_task_is_one_class_and_one_registry_line(multilabel, demo_model):
    explainer = sk.Explainer(demo_model, sk.demo.preprocess, task="multilabel")
    assert explainer.method.name == "reciprocam" and explainer.pipeline.postprocess == "sigmoid"
    same = sk.Explainer(demo_model, sk.demo.preprocess, postprocess="sigmoid")
    image = sk.demo.photos()["chelsea"]
    ours, theirs = explainer(image, targets=[285, 281]), same(image, targets=[285, 281])
    for target in (285, 281):
        np.testing.assert_array_equal(ours.maps[target], theirs.maps[target])
    assert registry.help_text("multilabel") == "reciprocam, vit_reciprocam (white-box); rise (black-box)."
    with pytest.raises(MethodError, match="aise' does not explain multilabel models; for multilabel use one of: "):
        sk.Explainer(demo_model, sk.demo.preprocess, task="multilabel", method="aise")
