"""Detection building blocks on the real MediaPipe detectors: SSD anchors, decoding, NMS, the freed batch, and
DetClassProbabilityMap inside the graph (automatic head finding, explicit layers, errors)."""

from __future__ import annotations

import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

import saliencykit as sk
from saliencykit.detection import (
    AnchorOptions,
    Detections,
    anchor_grids,
    blazeface,
    box_iou,
    decode_boxes,
    mediapipe_model_path,
    non_max_suppression,
    palm_detection,
    ssd_anchors,
)
from saliencykit.detection.demo import face_scenes
from saliencykit.errors import GraphError, ModelLoadError
from saliencykit.graph.detection import (
    find_detection_head,
    free_batch,
    insert_det_class_probability_map,
    select_class_output,
)
from saliencykit.model import core

try:  # read out of the downloaded wheel (or an installed mediapipe folder); mediapipe is never imported
    mediapipe_model_path("blazeface")
except ModelLoadError as exc:
    pytest.skip(
        f"the mediapipe==0.10.14 wheel (which ships the BlazeFace and palm TFLite detectors) is missing: {exc}",
        allow_module_level=True,
    )

FACE_PRE = sk.Preprocess(size=128, mean=127.5, std=127.5, layout="NHWC")


@pytest.fixture(scope="module")
def face_model() -> ov.Model:
    return sk.load_model(mediapipe_model_path("blazeface"))


@pytest.fixture(scope="module")
def palm_model() -> ov.Model:
    return sk.load_model(mediapipe_model_path("palm"))


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return face_scenes(1)[0].image


def _input(image: np.ndarray, pre: sk.Preprocess = FACE_PRE) -> np.ndarray:
    return pre(image)


def _run(model: ov.Model, x: np.ndarray) -> list[np.ndarray]:
    compiled = core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    result = compiled(x)
    return [np.array(result[o]) for o in compiled.outputs]


# ------------------------------------------------------------------------------------------------ SSD helpers


def test_blazeface_anchors_follow_mediapipe_layout():
    options = AnchorOptions(input_size=(128, 128), strides=(8, 16, 16, 16))
    anchors = ssd_anchors(options)
    assert anchor_grids(options) == [(16, 16, 2), (8, 8, 6)]
    assert anchors.shape == (896, 4)
    # row-major cells, anchors of a cell side by side, centres at the cell middles, fixed 1 x 1 size
    np.testing.assert_allclose(anchors[0], [0.5 / 16, 0.5 / 16, 1, 1])
    np.testing.assert_allclose(anchors[1], anchors[0])
    np.testing.assert_allclose(anchors[2], [1.5 / 16, 0.5 / 16, 1, 1])
    np.testing.assert_allclose(anchors[512], [0.5 / 8, 0.5 / 8, 1, 1])
    np.testing.assert_allclose(anchors[512 + 6], [1.5 / 8, 0.5 / 8, 1, 1])
    assert ssd_anchors(AnchorOptions(input_size=(192, 192), strides=(8, 16, 16, 16))).shape == (2016, 4)


def test_anchor_sizes_when_not_fixed():
    options = AnchorOptions(input_size=(64, 64), strides=(16, 32), aspect_ratios=(1.0, 2.0), fixed_anchor_size=False)
    anchors = ssd_anchors(options)
    assert anchor_grids(options) == [(4, 4, 3), (2, 2, 3)]
    w, h = anchors[1, 2], anchors[1, 3]  # aspect ratio 2 of the first layer: wider than high by a factor of 2
    assert w / h == pytest.approx(2.0)
    assert w * h == pytest.approx(options.min_scale**2)


def test_decode_boxes_and_keypoint_free_offsets():
    anchors = np.array([[0.25, 0.5, 1.0, 1.0]], np.float32)
    raw = np.array([[[12.8, -12.8, 32.0, 64.0]]], np.float32)  # +0.1 x, -0.1 y, 0.25 wide, 0.5 high
    box = decode_boxes(raw, anchors, 128.0)[0, 0]
    np.testing.assert_allclose(box, [0.35 - 0.125, 0.4 - 0.25, 0.35 + 0.125, 0.4 + 0.25], atol=1e-6)


def test_nms_plain_and_weighted():
    boxes = np.array([[0, 0, 10, 10], [2, 0, 12, 10], [50, 50, 60, 60], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.9, 0.6, 0.7, 0.3], np.float32)
    keep, kept = non_max_suppression(boxes, scores, iou_threshold=0.3)
    assert keep.tolist() == [0, 2]
    np.testing.assert_allclose(kept[0], boxes[0])
    keep, kept = non_max_suppression(boxes, scores, iou_threshold=0.3, weighted=True)
    assert keep.tolist() == [0, 2]
    expected_x1 = (0.9 * 10 + 0.6 * 12 + 0.3 * 10) / 1.8
    assert kept[0, 2] == pytest.approx(expected_x1)
    assert non_max_suppression(boxes, scores, max_detections=1)[0].tolist() == [0]
    assert non_max_suppression(np.zeros((0, 4)), np.zeros(0))[0].tolist() == []


def test_box_iou_and_detections_coercion():
    iou = box_iou(np.array([[0, 0, 2, 2], [0, 0, 0, 0]]), np.array([[1, 1, 3, 3]]))
    np.testing.assert_allclose(iou, [[1 / 7], [0.0]], atol=1e-6)
    dets = Detections.coerce(([[0, 0, 1, 1], [0, 0, 0.5, 0.5]], [0.2, 0.9], [0, 0])).sorted()
    assert dets.scores.tolist() == pytest.approx([0.9, 0.2])
    assert len(Detections.empty(1)) == 0


def test_blazeface_finds_the_astronaut_face(face_model, astronaut):
    dets = blazeface()(_run(face_model, _input(astronaut)))[0]
    assert len(dets) == 1 and dets.scores[0] > 0.9
    box = dets.boxes[0] * 512
    assert box_iou(box[None], np.array([[179, 81, 272, 174]]))[0, 0] > 0.95


def test_face_scenes_each_have_the_face_detected(face_model):
    post = blazeface()
    scenes = face_scenes()
    assert len(scenes) >= 8
    batch = np.concatenate([_input(s.image) for s in scenes])
    found = post(_run(free_batch(face_model), batch))
    for scene, dets in zip(scenes, found, strict=True):
        size = scene.image.shape[:2]
        iou = box_iou(np.array([scene.box]), dets.boxes * np.float32([size[1], size[0]] * 2))
        assert iou.max() > 0.6, scene.name


# ------------------------------------------------------------------------------------------------- the batch


def test_free_batch_gives_identical_outputs_in_a_batch(face_model):
    freed = free_batch(face_model)
    assert all(o.get_partial_shape()[0].is_dynamic for o in freed.outputs)
    assert face_model.outputs[0].get_partial_shape()[0].is_static  # the given model is untouched
    assert [o.get_names() for o in freed.outputs] == [o.get_names() for o in face_model.outputs]
    scenes = face_scenes(3)
    batch = np.concatenate([_input(s.image) for s in scenes])
    together = _run(freed, batch)
    for i in range(3):
        alone = _run(face_model, batch[i : i + 1])
        for a, b in zip(alone, together, strict=True):
            np.testing.assert_allclose(a[0], b[i], atol=1e-5)


# ------------------------------------------------------------------------------------- DetClassProbabilityMap


def _reference_map(class_logits: np.ndarray, grids: list[tuple[int, int, int]]) -> np.ndarray:
    """The same map in numpy from the model's own class output: sigmoid, max over anchors, resize, max."""
    maps, start = [], 0
    fine = (grids[0][0], grids[0][1])
    for h, w, a in grids:
        logits = class_logits[start : start + h * w * a, 0].reshape(h, w, a).max(-1).astype(np.float64)
        start += h * w * a
        prob = (1 / (1 + np.exp(-logits))).astype(np.float32)
        maps.append(cv2.resize(prob, (fine[1], fine[0]), interpolation=cv2.INTER_LINEAR))
    return np.max(maps, axis=0)


def test_head_found_automatically_on_blazeface(face_model):
    head = find_detection_head(face_model)
    assert head.how == "traced" and head.num_classes == 1
    assert [(s.height, s.width, s.anchors) for s in head.scales] == [(16, 16, 2), (8, 8, 6)]
    assert [s.output.get_node().get_type_name() for s in head.scales] == ["Add", "Add"]  # the conv + its bias
    assert select_class_output(face_model) == 1  # 'classificators'


def test_whitebox_map_equals_numpy_and_keeps_outputs(face_model, astronaut):
    explained = insert_det_class_probability_map(face_model)
    assert len(explained.outputs) == 3 and "saliency_map" in explained.outputs[2].get_names()
    assert len(face_model.outputs) == 2  # the given model is untouched
    x = _input(astronaut)
    plain = _run(face_model, x)
    with_map = _run(explained, x)
    for a, b in zip(plain, with_map[:2], strict=True):
        np.testing.assert_array_equal(a, b)
    saliency = with_map[2]
    assert saliency.shape == (1, 1, 16, 16) and saliency.dtype == np.float32
    np.testing.assert_allclose(saliency[0, 0], _reference_map(plain[1][0], [(16, 16, 2), (8, 8, 6)]), atol=1e-6)
    # the face: the map peaks at the cell holding the detected face's centre
    y, x_ = np.unravel_index(np.argmax(saliency[0, 0]), (16, 16))
    assert 179 <= (x_ + 0.5) * 32 <= 272 and 81 <= (y + 0.5) * 32 <= 174
    assert sk.graph.xai_info(explained)["method"] == "det_class_probability_map"


def test_explicit_layers_give_the_same_maps(face_model, astronaut):
    auto = _run(insert_det_class_probability_map(face_model), _input(astronaut))[2]
    head = find_detection_head(face_model)
    convs = [s.output.get_node().input_value(0).get_node().get_friendly_name() for s in head.scales]
    for layers in (["classificator_8", "classificator_16"], convs):  # TFLite tensor names / convolution names
        explicit = insert_det_class_probability_map(face_model, target_layer=layers)
        np.testing.assert_allclose(_run(explicit, _input(astronaut))[2], auto, atol=1e-6)


def test_mean_reductions_and_softmax_change_the_map(face_model, astronaut):
    x = _input(astronaut)
    auto = _run(insert_det_class_probability_map(face_model), x)[2]
    mean = _run(insert_det_class_probability_map(face_model, reduce_anchors="mean", combine_scales="mean"), x)[2]
    assert mean.shape == auto.shape and np.all(mean <= auto + 1e-6) and not np.allclose(mean, auto)
    logits = _run(insert_det_class_probability_map(face_model, activation="identity"), x)[2]
    assert logits.min() < 0  # raw logits


def test_palm_detector_head_found_automatically(palm_model):
    head = find_detection_head(palm_model)  # its outputs are named 'Identity' / 'Identity_1'
    assert [(s.height, s.width, s.anchors) for s in head.scales] == [(24, 24, 2), (12, 12, 6)]
    explained = insert_det_class_probability_map(palm_model)
    palm_pre = sk.Preprocess(size=192, mean=0.0, std=255.0, layout="NHWC")
    x = palm_pre(face_scenes(1)[0].image)
    plain, with_map = _run(palm_model, x), _run(explained, x)
    np.testing.assert_array_equal(plain[1], with_map[1])
    assert with_map[2].shape == (1, 1, 24, 24)
    np.testing.assert_allclose(with_map[2][0, 0], _reference_map(plain[1][0], [(24, 24, 2), (12, 12, 6)]), atol=1e-6)
    assert palm_detection().anchors.shape == (2016, 4)


def _tiny_classifier() -> ov.Model:
    x = ops.parameter([1, 3, 16, 16], ov.Type.f32, name="image")
    w = ops.constant(np.random.default_rng(0).normal(size=(4, 3, 3, 3)).astype(np.float32))
    conv = ops.convolution(x, w, [1, 1], [1, 1], [1, 1], [1, 1])
    conv.set_friendly_name("features")
    pooled = ops.reduce_mean(conv, ops.constant(np.array([2, 3])), keep_dims=False)
    logits = ops.matmul(pooled, ops.constant(np.ones((4, 5), np.float32)), False, False)
    logits.output(0).get_tensor().set_names({"logits"})
    return ov.Model([logits], [x], "tiny")


def test_graph_without_a_detection_head_says_what_to_do():
    with pytest.raises(GraphError) as info:
        insert_det_class_probability_map(_tiny_classifier())
    message = str(info.value)
    assert "target_layer=" in message and "features" in message and "logits" in message


def test_unknown_layer_and_ambiguous_outputs(face_model):
    with pytest.raises(GraphError, match="no node with that name"):
        insert_det_class_probability_map(face_model, target_layer=["no_such_layer"])
    with pytest.raises(GraphError, match="class_output=5"):
        select_class_output(face_model, 5)
    assert select_class_output(face_model, "classificators") == 1


def test_explicit_layer_off_the_class_output_uses_the_channel_convention(face_model):
    # the regressor convolutions do not feed the class output: channel j * K + k is assumed (K = 1 here)
    explained = insert_det_class_probability_map(face_model, target_layer=["regressor_8", "regressor_16"])
    assert explained.outputs[2].get_partial_shape()[1].get_length() == 1
    with pytest.raises(GraphError, match="not a multiple"):
        insert_det_class_probability_map(face_model, target_layer=["regressor_8"], num_classes=3)


# ------------------------------------------------------------------------------ other head layouts (synthetic)


def _synthetic_detector(style: str, classes: int = 3, anchors: int = 2) -> tuple[ov.Model, list[ov.Output]]:
    """A random two-scale detector whose class head is flattened the PyTorch (torchvision SSD) or YOLOv5 way."""
    rng = np.random.default_rng(1)
    image = ops.parameter([1, 3, 32, 32], ov.Type.f32, name="image")

    def conv(x, out_ch, stride):
        w = ops.constant(
            0.3 * rng.normal(size=(out_ch, x.get_output_partial_shape(0)[1].get_length(), 3, 3)).astype(np.float32)
        )
        return ops.convolution(x, w, [stride, stride], [1, 1], [1, 1], [1, 1])

    f1 = ops.relu(conv(image, 8, 4))  # 8 x 8
    f2 = ops.relu(conv(f1, 8, 2))  # 4 x 4
    per_anchor = classes if style == "torch" else 5 + classes
    heads, flat = [], []
    for f, size in ((f1, 8), (f2, 4)):
        head = conv(f, anchors * per_anchor, 1)
        heads.append(head.output(0))
        if style == "torch":  # view(N, A, K, h, w).permute(0, 3, 4, 1, 2).reshape(N, -1, K)
            x = ops.reshape(head, ops.constant(np.array([1, anchors, classes, size, size])), False)
            x = ops.transpose(x, ops.constant(np.array([0, 3, 4, 1, 2])))
        else:  # YOLOv5: view(N, A, 5 + K, h, w).permute(0, 1, 3, 4, 2)
            x = ops.reshape(head, ops.constant(np.array([1, anchors, per_anchor, size, size])), False)
            x = ops.transpose(x, ops.constant(np.array([0, 1, 3, 4, 2])))
        flat.append(ops.reshape(x, ops.constant(np.array([1, -1, per_anchor])), False))
    out = ops.concat(flat, 1)
    if style == "yolo":  # the class logits are a slice of the combined output
        out = ops.strided_slice(out, ops.constant(np.array([0, 0, 5])), ops.constant(np.array([0, 0, per_anchor])),
                                ops.constant(np.array([1, 1, 1])), [1, 1, 0], [1, 1, 1])  # fmt: skip
    out = ops.sigmoid(out) if style == "yolo" else out
    out.output(0).get_tensor().set_names({"scores"})
    return ov.Model([out], [image], style), heads


@pytest.mark.parametrize("style", ["torch", "yolo"])
def test_probe_reads_other_head_layouts(style):
    model, heads = _synthetic_detector(style)
    head = find_detection_head(model)
    assert head.num_classes == 3 and [s.anchors for s in head.scales] == [2, 2]
    assert head.activation == ("sigmoid" if style == "yolo" else "identity")
    explained = insert_det_class_probability_map(model, activation="softmax" if style == "torch" else "auto")
    reference_model = ov.Model([*[ops.result(h) for h in heads]], list(model.get_parameters()), "ref")
    x = np.random.default_rng(2).normal(size=(1, 3, 32, 32)).astype(np.float32)
    maps = _run(explained, x)[1][0]
    raw = _run(reference_model, x)
    per_anchor = 3 if style == "torch" else 8
    scales = []
    for logits in raw:
        logits = logits[0].reshape(2, per_anchor, *logits.shape[2:])  # (anchor, values, h, w)
        cls = logits[:, -3:] if style == "yolo" else logits
        if style == "torch":
            e = np.exp(cls - cls.max(axis=1, keepdims=True))
            prob = e / e.sum(axis=1, keepdims=True)
        else:
            prob = 1 / (1 + np.exp(-cls))
        best = prob.max(axis=0)  # (K, h, w)
        scales.append(
            np.stack([cv2.resize(c.astype(np.float32), (8, 8), interpolation=cv2.INTER_LINEAR) for c in best])
        )
    np.testing.assert_allclose(maps, np.max(scales, axis=0), atol=1e-5)
