"""Per-box white-box maps on the real BlazeFace detector: on a photo with two faces, each detected face's map comes
from its own anchors, stays on its own face and differs from the other face's; the per-class map is kept and is the
per-box map with every anchor; bad inputs get clear errors."""

from __future__ import annotations

import numpy as np
import openvino as ov
import pytest

import saliencykit as sk
from saliencykit.detection import (
    DetClassProbabilityMap,
    DetectionExplainer,
    SSDPostprocess,
    blazeface,
    box_iou,
    mediapipe_model_path,
    palm_detection,
)
from saliencykit.detection.demo import face_scenes, two_face_scene
from saliencykit.errors import GraphError, MethodError, ModelLoadError, TargetError
from saliencykit.graph.detection import (
    find_detection_head,
    insert_det_anchor_probabilities,
    insert_det_class_probability_map,
)
from saliencykit.methods import registry
from saliencykit.model import core

try:  # read out of the downloaded wheel (or an installed mediapipe folder); mediapipe is never imported
    mediapipe_model_path("blazeface")
except ModelLoadError as exc:
    pytest.skip(
        f"the mediapipe==0.10.14 wheel (which ships the BlazeFace TFLite detector) is missing: {exc}",
        allow_module_level=True,
    )

FACE_PRE = sk.Preprocess(size=128, mean=127.5, std=127.5, layout="NHWC")


@pytest.fixture(scope="module")
def path():
    return mediapipe_model_path("blazeface")


@pytest.fixture(scope="module")
def face_model(path) -> ov.Model:
    return sk.load_model(path)


@pytest.fixture(scope="module")
def scene():
    return two_face_scene()


@pytest.fixture(scope="module")
def per_box(path):
    return DetectionExplainer(path, postprocess="blazeface", method=DetClassProbabilityMap(per_box=True))


@pytest.fixture(scope="module")
def explained(per_box, scene):
    return per_box(scene.image, targets="all")


def _run(model: ov.Model, x: np.ndarray) -> list[np.ndarray]:
    compiled = core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return [np.asarray(v) for v in compiled(x).values()]


def _share(saliency: np.ndarray, box) -> float:
    """The share of the map's energy inside ``box`` (pixels)."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    return float(saliency[y0:y1, x0:x1].sum() / saliency.sum())


def _pasted(explanation, scene) -> list[int]:
    """For each pasted face, the key of the detected box on it."""
    keys = list(explanation.targets)
    boxes = np.array([explanation.boxes[k] for k in keys])
    return [keys[int(np.argmax(box_iou(np.array([b]), boxes)[0]))] for b in scene.boxes]


# ------------------------------------------------------------------------------------------- the two faces


def test_both_faces_are_detected(explained, scene):
    assert len(explained.detections) == 2 and explained.targets == [0, 1]
    keys = _pasted(explained, scene)
    assert sorted(keys) == [0, 1]
    for key, pasted in zip(keys, scene.boxes, strict=True):
        assert box_iou(np.array([explained.boxes[key]]), np.array([pasted]))[0, 0] > 0.7


def test_each_box_map_peaks_inside_its_own_face(explained, scene):
    size = scene.image.shape[:2]
    for key in explained.targets:
        saliency = explained.map(key, size=size)
        y, x = np.unravel_index(np.argmax(saliency), saliency.shape)
        x0, y0, x1, y1 = explained.boxes[key]
        assert x0 <= x <= x1 and y0 <= y <= y1, (key, (x, y), explained.boxes[key])
        other = explained.boxes[1 - key]
        assert not (other[0] <= x <= other[2] and other[1] <= y <= other[3])


def test_each_box_map_keeps_its_energy_in_its_own_box(explained, scene):
    size = scene.image.shape[:2]
    for key in explained.targets:
        saliency = explained.map(key, size=size)
        own, other = _share(saliency, explained.boxes[key]), _share(saliency, explained.boxes[1 - key])
        assert own > 0.8, (key, own)  # measured about 0.9
        assert other < 0.02, (key, other)  # measured 0


def test_the_two_box_maps_differ_where_the_class_map_is_shared(path, explained, scene):
    a, b = (explained.maps[k].ravel() for k in explained.targets)
    assert np.corrcoef(a, b)[0, 1] < 0.2  # measured about -0.06
    per_class = DetectionExplainer(path, postprocess="blazeface")(scene.image, targets="all")
    assert per_class.method.startswith("det_class_probability_map")
    np.testing.assert_array_equal(per_class.maps[0], per_class.maps[1])  # one map per class: the same for both
    # each box's map is its share of the class map: never above it (max over fewer anchors)
    for key in explained.targets:
        assert np.all(explained.maps[key] <= per_class.maps[key] + 1e-6)
    np.testing.assert_allclose(np.maximum(explained.maps[0], explained.maps[1]).max(), per_class.maps[0].max())


def test_detections_are_the_same_with_per_box_maps(path, explained, scene):
    plain = DetectionExplainer(path, postprocess="blazeface", mode="blackbox").detect(scene.image)
    np.testing.assert_allclose(explained.detections.boxes, plain.boxes, atol=1e-3)
    np.testing.assert_allclose(explained.detections.scores, plain.scores, atol=1e-5)


def test_a_stricter_overlap_takes_fewer_anchors(path, explained, scene):
    strict = DetectionExplainer(
        path, postprocess="blazeface", method=DetClassProbabilityMap(per_box=True, box_iou=0.7)
    )(scene.image)
    assert strict.method.startswith("det_class_probability_map")
    for key in explained.targets:
        assert np.all(strict.maps[key] <= explained.maps[key] + 1e-7)
        assert np.count_nonzero(strict.maps[key]) < np.count_nonzero(explained.maps[key])


def test_a_user_box_on_a_face_gets_that_faces_anchors(per_box, explained, scene):
    x0, y0, x1, y1 = scene.boxes[0]
    result = per_box(scene.image, targets=[[x0, y0, x1, y1, "face"]])
    (key,) = result.targets
    assert result.names[key] == "userbox0"
    on_it = _pasted(explained, scene)[0]
    assert np.corrcoef(result.maps[key].ravel(), explained.maps[on_it].ravel())[0, 1] > 0.9


def test_images_in_one_call_each_use_their_own_outputs(per_box, explained, scene):
    single = face_scenes(1)[0]
    alone = per_box(single.image, targets=0)
    both = per_box([single.image, scene.image], targets="all")
    np.testing.assert_allclose(both[0].maps[0], alone.maps[0], atol=1e-6)
    for key in explained.targets:
        np.testing.assert_allclose(both[1].maps[key], explained.maps[key], atol=1e-6)


def test_per_box_maps_are_saved_one_file_per_box(explained, tmp_path):
    written = explained.save(tmp_path)
    assert sorted(p.name.split("_")[0] for p in written) == ["box0", "box1"]


def test_the_registry_option_turns_per_box_on(path, explained, scene):
    method = registry.lookup("det_class_probability_map").create("detection", per_box=True)
    result = DetectionExplainer(path, postprocess="blazeface", method=method)(scene.image)
    for key in explained.targets:
        np.testing.assert_array_equal(result.maps[key], explained.maps[key])


# ------------------------------------------------------------------------------------------------ the graph


def test_anchor_output_holds_the_class_outputs_probabilities(face_model, scene):
    x = FACE_PRE(scene.image)
    graph, layout = insert_det_anchor_probabilities(face_model)
    assert len(face_model.outputs) == 2 and len(graph.outputs) == 3
    plain, with_probs = _run(face_model, x), _run(graph, x)
    for a, b in zip(plain, with_probs[:2], strict=True):
        np.testing.assert_array_equal(a, b)
    assert layout.num_anchors == 896 and layout.grids == ((16, 16, 2), (8, 8, 6)) and layout.size == (16, 16)
    probs = with_probs[2]
    assert probs.shape == (1, 1, 896) and probs.dtype == np.float32
    # anchor a of the class output (the postprocess's order) is where the layout says
    expected = 1.0 / (1.0 + np.exp(-plain[1][0, :, 0].astype(np.float64)))
    np.testing.assert_allclose(probs[0, 0, layout.positions[:, 0]], expected, atol=1e-6)
    cells = find_detection_head(face_model).anchor_cells
    assert cells is not None and cells.shape == (896, 1, 4)
    # MediaPipe's order: the 16 x 16 grid's 2 anchors per cell, row-major, then the 8 x 8 grid's 6
    assert cells[:3, 0].tolist() == [[0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]]
    assert cells[512, 0].tolist() == [1, 0, 0, 0] and cells[-1, 0].tolist() == [1, 5, 7, 7]


@pytest.mark.parametrize("reduce", ["max", "mean"])
def test_every_anchor_gives_back_the_per_class_map(face_model, scene, reduce):
    x = FACE_PRE(scene.image)
    graph, layout = insert_det_anchor_probabilities(face_model)
    probs = _run(graph, x)[2][0]
    per_class = _run(insert_det_class_probability_map(face_model, reduce_anchors=reduce, combine_scales=reduce), x)
    rebuilt = layout.box_map(probs, np.arange(layout.num_anchors), 0, reduce, reduce)
    np.testing.assert_allclose(rebuilt, per_class[2][0, 0], atol=1e-6)
    assert not np.any(layout.box_map(probs, [], 0))  # no anchor: nothing


def _multiclass_detector(classes_first: bool, classes: int = 3, anchors: int = 2) -> ov.Model:
    """A random two-scale 3-class detector with a PyTorch-style head: (N, A, K), or (N, K, A) if ``classes_first``."""
    import openvino.opset13 as ops

    rng = np.random.default_rng(4)
    image = ops.parameter([1, 3, 32, 32], ov.Type.f32, name="image")

    def conv(x, out_ch, stride):
        channels = x.get_output_partial_shape(0)[1].get_length()
        w = ops.constant(0.3 * rng.normal(size=(out_ch, channels, 3, 3)).astype(np.float32))
        return ops.convolution(x, w, [stride, stride], [1, 1], [1, 1], [1, 1])

    f1 = ops.relu(conv(image, 8, 4))  # 8 x 8
    f2 = ops.relu(conv(f1, 8, 2))  # 4 x 4
    flat = []
    for f, size in ((f1, 8), (f2, 4)):  # view(N, A, K, h, w).permute(0, 3, 4, 1, 2).reshape(N, -1, K)
        x = ops.reshape(conv(f, anchors * classes, 1), ops.constant(np.array([1, anchors, classes, size, size])), False)
        x = ops.transpose(x, ops.constant(np.array([0, 3, 4, 1, 2])))
        flat.append(ops.reshape(x, ops.constant(np.array([1, -1, classes])), False))
    out = ops.concat(flat, 1)
    if classes_first:
        out = ops.transpose(out, ops.constant(np.array([0, 2, 1])))
    out.output(0).get_tensor().set_names({"scores"})
    return ov.Model([out], [image], "multiclass")


@pytest.mark.parametrize("classes_first", [False, True])
def test_anchor_layout_of_a_multiclass_head(classes_first):
    model = _multiclass_detector(classes_first)
    graph, layout = insert_det_anchor_probabilities(model, activation="softmax")
    assert layout.num_anchors == 8 * 8 * 2 + 4 * 4 * 2 and layout.num_classes == 3
    x = np.random.default_rng(5).normal(size=(1, 3, 32, 32)).astype(np.float32)
    scores, probs = _run(graph, x)
    logits = scores[0].T if classes_first else scores[0]  # (A, K): anchors as a postprocess reads them
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected = e / e.sum(axis=1, keepdims=True)
    got = np.take_along_axis(probs[0], layout.positions.T, axis=1).T
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # torch order: anchor a of the first scale is cell (a // 16, a // 2 % 8), slot a % 2, whatever the class
    a = np.arange(128)
    for k in range(3):
        np.testing.assert_array_equal(layout.cells[:128, k], np.stack([0 * a, a % 2, a // 16, a // 2 % 8], axis=1))
    # one anchor's box map has its probability at its cell (resized from 8 x 8: the finest grid), nothing elsewhere
    single = layout.box_map(probs[0], [37], 2)
    y, x_ = layout.cells[37, 2, 2:]
    assert single[y, x_] == pytest.approx(expected[37, 2]) and np.count_nonzero(single) == 1


# ---------------------------------------------------------------------------------------------- bad input


def test_box_index_out_of_range(per_box, scene):
    with pytest.raises(TargetError, match=r"box 5: the detector found 2 box\(es\) in this image \(indices 0..1\)"):
        per_box(scene.image, targets=5)


def test_postprocess_without_dense_is_refused_by_name(path):
    bare = blazeface()

    def boxes_only(outputs):  # a postprocess that gives the final boxes and nothing about the anchors
        return bare(outputs)

    with pytest.raises(MethodError, match=r"per_box=True needs to know which anchors .* dense\(outputs\)"):
        DetectionExplainer(path, FACE_PRE, boxes_only, method=DetClassProbabilityMap(per_box=True))
    # the per-class map still works with it
    assert DetectionExplainer(path, FACE_PRE, boxes_only).whitebox


def test_postprocess_with_other_anchors_is_refused(path):
    palm = palm_detection()  # 2016 anchors; BlazeFace's class output has 896
    wrong = SSDPostprocess(anchors=palm.anchors, box_scale=128.0, label_names=("face",))
    with pytest.raises(MethodError, match="decodes 2016 anchors but the detector's class output has 896"):
        DetectionExplainer(path, FACE_PRE, wrong, method=DetClassProbabilityMap(per_box=True))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"activation": "identity"}, "raw logits"),
        ({"box_iou": 0.0}, r"box_iou=0.0: give an IoU in \(0, 1\]"),
        ({"box_iou": 1.5}, r"box_iou=1.5"),
    ],
)
def test_bad_per_box_options(path, options, message):
    with pytest.raises(MethodError, match=message):
        DetectionExplainer(path, postprocess="blazeface", method=DetClassProbabilityMap(per_box=True, **options))


def test_layers_off_the_class_output_cannot_give_per_box_maps(face_model):
    with pytest.raises(GraphError, match="do not reach the class output"):
        insert_det_anchor_probabilities(face_model, target_layer=["regressor_8", "regressor_16"], num_classes=1)


def test_box_map_refuses_bad_anchors_classes_and_shapes(face_model, scene):
    graph, layout = insert_det_anchor_probabilities(face_model)
    probs = _run(graph, FACE_PRE(scene.image))[2][0]
    with pytest.raises(GraphError, match=r"anchor 896: the class output has anchors 0..895"):
        layout.box_map(probs, [3, 896], 0)
    with pytest.raises(GraphError, match=r"anchor -1"):
        layout.box_map(probs, [-1], 0)
    with pytest.raises(GraphError, match=r"class 1: the detector's head has classes 0..0"):
        layout.box_map(probs, [3], 1)
    with pytest.raises(GraphError, match=r"shape \(1, 1, 896\): expected \(classes, positions\) = \(1, 896\)"):
        layout.box_map(probs[None], [3], 0)
    method = DetClassProbabilityMap(per_box=True)
    with pytest.raises(MethodError, match="insert the method with per_box=True"):
        method.box_map(probs, np.zeros((896, 4)), np.array([0, 0, 1, 1]), 0)
