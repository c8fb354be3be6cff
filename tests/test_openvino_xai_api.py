"""openvino-xai 1.1's public-API unit assertions (explainer, explanation, visualizer, metrics, utils), ported to
saliencykit.openvino_xai, and the bad inputs of that API."""

from __future__ import annotations

import inspect
import logging

import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

import saliencykit as sk
from saliencykit.errors import SaliencyKitError
from saliencykit.openvino_xai import Explainer, Method, Task, insert_xai
from saliencykit.openvino_xai.common.utils import has_xai, infer_size_from_image, scaling
from saliencykit.openvino_xai.explainer import ExplainMode
from saliencykit.openvino_xai.explainer.explanation import Explanation, Layout
from saliencykit.openvino_xai.explainer.utils import (
    ActivationType,
    explains_all,
    get_postprocess_fn,
    get_preprocess_fn,
    get_score,
    get_target_indices,
)
from saliencykit.openvino_xai.explainer.utils import preprocess_fn as xai_preprocess_fn
from saliencykit.openvino_xai.explainer.visualizer import Visualizer, colormap, overlay, resize
from saliencykit.openvino_xai.methods import RISE, ActivationMap, AISEClassification, ViTReciproCAM
from saliencykit.openvino_xai.methods.black_box.base import Preset
from saliencykit.openvino_xai.methods.factory import BlackBoxMethodFactory, WhiteBoxMethodFactory
from saliencykit.openvino_xai.metrics import InsertionDeletionAUC, PointingGame
from saliencykit.openvino_xai.metrics.insertion_deletion_auc import AUC

VOC = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable", "dog",
       "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"]  # fmt: skip
RAW = np.random.default_rng(0).random((1, 20, 5, 5)).astype(np.float32)
PER_IMAGE = np.random.default_rng(1).random((1, 5, 5)).astype(np.float32)


def preprocess_fn(image: np.ndarray) -> np.ndarray:
    x = cv2.resize(image, (224, 224)).astype(np.float32)
    return ((x - 127.5) / 127.5).transpose(2, 0, 1)[None]


def mlp() -> ov.Model:
    """A classifier with no spatial feature map: no white-box method fits it."""
    x = ops.parameter([1, 3, 8, 8], np.float32, name="data")
    flat = ops.reshape(x, ops.constant(np.array([1, 192], np.int64)), False)
    logits = ops.matmul(flat, ops.constant(np.ones((192, 10), np.float32) / 192), False, False)
    logits.output(0).get_tensor().set_names({"logits"})
    return ov.Model([logits], [x], "mlp")


# explanation -------------------------------------------------------------------------------------------------------


def test_explanation_from_raw_map_selects_targets():
    explanation = Explanation(RAW, targets=[0, 2], task=Task.CLASSIFICATION)
    assert explanation.total_num_targets == 20
    assert explanation.targets == [0, 2] and explanation.shape == (5, 5)
    assert explanation.layout == Layout.MULTIPLE_MAPS_PER_IMAGE_GRAY
    assert np.array_equal(explanation.saliency_map[2], RAW[0, 2])


def test_explanation_all_targets_and_names():
    assert len(Explanation(RAW, targets=-1, task=Task.CLASSIFICATION).saliency_map) == 20
    named = Explanation(RAW, targets=["cat", "dog"], task=Task.CLASSIFICATION, label_names=VOC)
    assert sorted(named.targets) == [7, 11]


def test_explanation_per_image_map_and_dict():
    explanation = Explanation(PER_IMAGE, targets=[3], task=Task.CLASSIFICATION)
    assert explanation.targets == ["per_image_map"] and explanation.layout == Layout.ONE_MAP_PER_IMAGE_GRAY
    from_dict = Explanation({3: RAW[0, 3], 5: RAW[0, 5]}, targets=[5], task=Task.CLASSIFICATION)
    assert from_dict.total_num_targets is None and from_dict.targets == [5]


@pytest.mark.parametrize(
    ("raw", "targets", "names", "match"),
    [
        (RAW, [25], None, "0 to 19"),
        (RAW, ["zebra"], VOC, "zebra"),
        (RAW, ["cat"], None, "label_names"),
        (RAW, [[1, 2]], None, "at most one dimension"),
        (RAW, [1.5], None, "int"),
        (np.zeros((2, 20, 5, 5), np.float32), -1, None, "batch 1"),
        (np.zeros((1, 5), np.float32), -1, None, "3 or 4 dimensions"),
        (np.zeros((0, 3, 3), np.float32), -1, None, "empty"),
        ("map", -1, None, "numpy array or a dict"),
    ],
)
def test_explanation_bad_inputs(raw, targets, names, match):
    with pytest.raises(SaliencyKitError, match=match) as info:
        Explanation(raw, targets=targets, task=Task.CLASSIFICATION, label_names=names)
    assert isinstance(info.value, (ValueError, RuntimeError))  # what openvino-xai raises, for existing except clauses


def test_save_names(tmp_path):
    maps = {k: np.full((5, 5, 3), k, np.uint8) for k in (7, 11)}
    explanation = Explanation(maps, targets=-1, task=Task.CLASSIFICATION, label_names=VOC)
    explanation.save(tmp_path)
    explanation.save(tmp_path, prefix="image_name_target_")
    explanation.save(tmp_path, postfix="_class_map")
    explanation.save(tmp_path, prefix="image_name_", postfix="_conf_", confidence_scores={7: 0.854})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["cat.jpg", "dog.jpg", "image_name_target_cat.jpg", "image_name_target_dog.jpg", "cat_class_map.jpg",
         "dog_class_map.jpg", "image_name_cat_conf_0.85.jpg", "image_name_dog_conf_.jpg"]
    )  # fmt: skip
    Explanation(maps, targets=-1, task=Task.CLASSIFICATION).save(tmp_path / "ids")
    assert sorted(p.name for p in (tmp_path / "ids").iterdir()) == ["11.jpg", "7.jpg"]
    Explanation({"per_image_map": maps[7]}, targets=-1, task=Task.CLASSIFICATION).save(tmp_path / "one")
    assert [p.name for p in (tmp_path / "one").iterdir()] == ["activation_map.jpg"]


def test_save_keeps_files_inside_the_folder_and_refuses_float_maps(tmp_path):
    explanation = Explanation({0: np.zeros((4, 4, 3), np.uint8)}, -1, Task.CLASSIFICATION, label_names=["a/b"])
    explanation.save(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["a_b.jpg"]
    with pytest.raises(ValueError, match="float32"):
        Explanation(RAW, -1, Task.CLASSIFICATION).save(tmp_path / "raw")


def test_plot(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(len(plt.gcf().axes)))
    explanation = Explanation(RAW, targets=[7, 11, 14], task=Task.CLASSIFICATION, label_names=VOC)
    explanation.plot()
    explanation.plot(targets=["cat"], num_columns=2)
    assert shown == [4, 2]
    with pytest.raises(ValueError, match="backend"):
        explanation.plot(backend="svg")


# visualizer --------------------------------------------------------------------------------------------------------


def test_visualizer_functions():
    maps = (RAW[0, :3] * 255).astype(np.uint8)
    assert resize(maps, (10, 20)).shape == (3, 10, 20) and resize(maps[0], (10, 20)).shape == (10, 20)
    coloured = colormap(maps)
    assert coloured.shape == (3, 5, 5, 3) and coloured.dtype == np.uint8
    image = np.full((1, 5, 5, 3), 200, np.uint8)
    blended = overlay(coloured, image, overlay_weight=1.0)
    assert blended.dtype == np.uint8 and (blended == 200).all()  # the weight is the image's


def test_visualizer_steps():
    image = np.zeros((1, 40, 30, 3), np.uint8)

    def fresh():
        return Explanation((RAW * 255).astype(np.uint8), targets=[1, 2], task=Task.CLASSIFICATION)

    assert Visualizer()(fresh(), image, resize=True, colormap=False).shape == (40, 30)
    assert Visualizer()(fresh(), image, resize=True, colormap=True).shape == (40, 30, 3)
    assert Visualizer()(fresh(), image, output_size=(12, 14), overlay=True).shape == (12, 14, 3)
    scaled = Visualizer()(Explanation(RAW, [1], Task.CLASSIFICATION), scaling=True, resize=False, colormap=False)
    assert scaled.saliency_map[1].dtype == np.uint8 and scaled.saliency_map[1].max() == 255
    with pytest.raises(ValueError, match="uint8"):
        Visualizer()(Explanation(RAW, [1], Task.CLASSIFICATION), resize=False, colormap=True)
    with pytest.raises(ValueError, match="output_size"):
        Visualizer()(fresh(), image, output_size=(0, 0))
    with pytest.raises(ValueError, match="overlay_weight"):
        Visualizer()(fresh(), image, overlay=True, overlay_weight=2.0)
    with pytest.raises(ValueError, match="input image"):
        Visualizer()(fresh(), None, overlay=True)


# utils -------------------------------------------------------------------------------------------------------------


def test_utils():
    assert list(get_target_indices([0, 2])) == [0, 2] and get_target_indices(["bird", "cat"], VOC) == [2, 7]
    assert explains_all(-1) and explains_all([-1]) and explains_all("-1") and not explains_all([0])
    x = get_preprocess_fn(input_size=(20, 10), hwc_to_chw=True)(np.zeros((5, 5, 3), np.uint8))
    assert x.shape == (1, 3, 10, 20)
    logits = np.array([[1.0, 3.0]], np.float32)
    probs = get_postprocess_fn(activation=ActivationType.SOFTMAX)({0: logits[0], "logits": logits[0]})
    assert probs.sum() == pytest.approx(1.0)
    assert get_score(logits, 1, ActivationType.SIGMOID) == pytest.approx(1 / (1 + np.exp(-3)))
    assert scaling(np.array([[1.0, 3.0]])).tolist() == [0, 255]  # squeezed, as openvino-xai
    assert infer_size_from_image(np.zeros((1, 3, 7, 9))) == (7, 9) and infer_size_from_image(np.zeros((7, 9, 3))) == (
        7,
        9,
    )
    assert Method("activationmap") is Method.ACTIVATIONMAP and Method("vitreciprocam") is Method.VITRECIPROCAM
    assert Method("activation_map") is Method.ACTIVATIONMAP and Preset("speed") is Preset.SPEED


def test_get_preprocess_fn_binds_preprocess_fn_settings_by_position_or_name():
    image = np.arange(6 * 4 * 3, dtype=np.uint8).reshape(6, 4, 3)
    mean, std = np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 8.0])
    expected = xai_preprocess_fn(image, True, (8, 12), mean, std, True, False)
    by_position = get_preprocess_fn(True, (8, 12), mean, std, True, False)(image)
    by_name = get_preprocess_fn(
        change_channel_order=True, input_size=(8, 12), mean=mean, std=std, hwc_to_chw=True, expand_zero_dim=False
    )(image)
    assert expected.shape == (3, 12, 8) and np.array_equal(by_position, expected) and np.array_equal(by_name, expected)
    assert not np.array_equal(get_preprocess_fn(input_size=(8, 12), hwc_to_chw=True)(image)[0], expected)
    assert list(inspect.signature(get_preprocess_fn).parameters) == [
        "change_channel_order", "input_size", "mean", "std", "hwc_to_chw", "expand_zero_dim"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((), {"input_sise": (8, 8)}, "get_preprocess_fn: got an unexpected keyword argument 'input_sise'"),
        ((False, None, 0, 1, False, True, "extra"), {}, "get_preprocess_fn: too many positional arguments"),
        ((True,), {"change_channel_order": False}, "get_preprocess_fn: multiple values for argument"),
    ],
)
def test_get_preprocess_fn_bad_settings(args, kwargs, match):
    with pytest.raises(TypeError, match=match):
        get_preprocess_fn(*args, **kwargs)


# methods and factories ---------------------------------------------------------------------------------------------


def test_factories_take_their_arguments_by_position_and_refuse_an_unknown_task():
    model = sk.demo.model()
    method = WhiteBoxMethodFactory.create_method(
        Task.CLASSIFICATION, model, preprocess_fn, Method.ACTIVATIONMAP, None, True, "CPU", prepare_model=False
    )
    assert isinstance(method, ActivationMap) and method.model_compiled is None and has_xai(method.prepare_model(False))
    rise = BlackBoxMethodFactory.create_method(
        Task.CLASSIFICATION, model, lambda o: o["logits"], preprocess_fn, Method.RISE, "CPU", prepare_model=False
    )
    assert isinstance(rise, RISE) and rise.preprocess_fn is preprocess_fn
    for factory in (WhiteBoxMethodFactory, BlackBoxMethodFactory):
        with pytest.raises(SaliencyKitError, match="task='segmentation': use Task.CLASSIFICATION or Task.DETECTION"):
            factory.create_method("segmentation", model)


def test_black_box_methods_compile_on_construction_unless_told_not_to():
    model = sk.demo.model()
    rise = RISE(model, lambda o: o["logits"], prepare_model=False)
    assert rise.model_compiled is None and (rise.num_masks, rise.num_cells) == (None, None)
    aise = AISEClassification(model, lambda o: o["logits"])
    assert aise.model_compiled is not None and (aise.num_iterations_per_kernel, aise.kernel_widths) == (None, None)
    with pytest.raises(SaliencyKitError, match="postprocess_fn must be a function"):
        RISE(model, "logits")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 0}, "count blocks from the end starting at 1"),
        ({"cls_token": False}, "cls_token=False"),
        ({"model": "model.xml"}, "model must be an openvino.Model"),
    ],
)
def test_vit_reciprocam_bad_options(kwargs, match):
    with pytest.raises(SaliencyKitError, match=match):
        ViTReciproCAM(**{"model": sk.demo.model(), "prepare_model": False, **kwargs})


# explainer ---------------------------------------------------------------------------------------------------------


def test_auto_without_postprocess_raises_when_white_box_does_not_fit(caplog):
    with (
        caplog.at_level(logging.INFO, logger="openvino_xai"),
        pytest.raises(ValueError, match="Postprocess function has to be provided for the black-box mode"),
    ):
        Explainer(mlp(), Task.CLASSIFICATION)
    assert any("Using black-box mode" in m for m in caplog.messages)


def test_auto_falls_back_to_aise_with_postprocess():
    explainer = Explainer(mlp(), Task.CLASSIFICATION, postprocess_fn=lambda out: out["logits"])
    assert type(explainer.method).__name__ == "AISEClassification"
    explanation = explainer(np.ones((1, 3, 8, 8), np.float32), targets=[3], num_iterations_per_kernel=2)
    assert explanation.shape == (8, 8, 3)


def test_whitebox_failure_names_the_problem():
    with pytest.raises(RuntimeError, match="Failed to insert XAI into the model"):
        Explainer(mlp(), Task.CLASSIFICATION, explain_mode=ExplainMode.WHITEBOX)


def test_explainer_attributes_and_model_forward(photos):
    model = sk.demo.model()
    explainer = Explainer(model, Task.CLASSIFICATION, preprocess_fn=preprocess_fn)
    assert explainer.model is model and explainer.task is Task.CLASSIFICATION
    assert explainer.preprocess_fn is preprocess_fn and type(explainer.method).__name__ == "ReciproCAM"
    outputs = explainer.model_forward(photos["chelsea"])
    assert outputs["logits"].shape == (1, 1000) and outputs["saliency_map"].shape == (1, 1000, 7, 7)
    assert int(np.argmax(outputs["logits"])) == 285


def test_embed_scaling_false_gives_raw_maps(photos):
    explainer = Explainer(sk.demo.model(), Task.CLASSIFICATION, preprocess_fn=preprocess_fn, embed_scaling=False)
    explanation = explainer(photos["chelsea"], targets=[285], resize=False, colormap=False)
    assert explanation.saliency_map[285].dtype == np.float32 and explanation.shape == (7, 7)
    scaled = explainer(photos["chelsea"], targets=[285], resize=False, colormap=False, scaling=True)
    assert scaled.saliency_map[285].dtype == np.uint8


def test_activation_map_insert_xai_is_one_map():
    model_xai = insert_xai(sk.demo.model(), Task.CLASSIFICATION, explain_method=Method.ACTIVATIONMAP)
    assert has_xai(model_xai)
    out = ov.Core().compile_model(model_xai)(np.zeros((1, 3, 224, 224), np.float32))["saliency_map"]
    assert out.shape == (1, 7, 7) and out.dtype == np.uint8


def test_budget_arguments_are_honoured_or_refused(photos, caplog):
    post = get_postprocess_fn(activation=ActivationType.SOFTMAX)
    model = sk.demo.model()
    rise = Explainer(model, Task.CLASSIFICATION, preprocess_fn, post, ExplainMode.BLACKBOX, Method.RISE)
    rise(photos["chelsea"], targets=[285], num_masks=6, num_cells=3, seed=2, preset=Preset.SPEED)
    assert (rise.method.num_masks, rise.method.num_cells) == (6, 3)
    with pytest.raises(ValueError, match="num_iterations_per_kernel: not an argument of RISE"):
        rise(photos["chelsea"], targets=[285], num_iterations_per_kernel=3)
    with pytest.raises(ValueError, match="preset='fast'"):
        rise(photos["chelsea"], targets=[285], num_masks=4, preset="fast")
    white = Explainer(model, Task.CLASSIFICATION, preprocess_fn)
    with caplog.at_level(logging.WARNING, logger="openvino_xai"):
        white(photos["chelsea"], targets=[285], num_masks=5)
    assert any("Ignored num_masks" in m for m in caplog.messages)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"task": "classification"}, "Task.CLASSIFICATION"),
        ({"explain_mode": "auto"}, "ExplainMode"),
        ({"explain_method": "gradcam"}, "gradcam"),
        ({"explain_method": Method.RISE, "explain_mode": ExplainMode.WHITEBOX}, "black-box"),
        (
            {
                "explain_method": Method.DETCLASSPROBABILITYMAP,
                "explain_mode": ExplainMode.BLACKBOX,
                "postprocess_fn": lambda x: x,
            },
            "AISE or RISE",
        ),  # fmt: skip
        ({"task": Task.DETECTION, "explain_mode": ExplainMode.WHITEBOX}, "target_layer is required"),
        ({"task": Task.DETECTION, "explain_mode": ExplainMode.BLACKBOX, "postprocess_fn": lambda x: x}, "white-box"),
    ],
)
def test_explainer_bad_arguments(kwargs, match):
    args = {"model": sk.demo.model(), "task": Task.CLASSIFICATION, **kwargs}
    with pytest.raises(SaliencyKitError, match=match):
        Explainer(**args)


def test_postprocess_fn_returning_the_wrong_shape_is_named(photos):
    explainer = Explainer(
        sk.demo.model(), Task.CLASSIFICATION, preprocess_fn, lambda out: out["logits"][0], ExplainMode.BLACKBOX
    )
    with pytest.raises(RuntimeError, match=r"postprocess_fn must return scores of shape \(1, num_classes\)"):
        explainer(photos["chelsea"], targets=[285], num_iterations_per_kernel=2)


def test_raw_image_without_preprocess_fn_in_black_box_is_named(photos):
    explainer = Explainer(sk.demo.model(), Task.CLASSIFICATION, postprocess_fn=lambda o: o["logits"],
                          explain_mode=ExplainMode.BLACKBOX)  # fmt: skip
    with pytest.raises(ValueError, match="preprocess_fn"):
        explainer(photos["chelsea"], targets=[285])


# metrics -----------------------------------------------------------------------------------------------------------


def test_pointing_game():
    saliency = np.zeros((10, 10))
    saliency[2, 3] = 1
    assert PointingGame()(saliency, [(2, 1, 3, 3)]) == {"pointing_game": 1.0}
    assert PointingGame()(saliency, [(6, 6, 2, 2)]) == {"pointing_game": 0.0}
    explanation = Explanation({7: saliency}, targets=-1, task=Task.CLASSIFICATION, label_names=VOC)
    assert PointingGame().evaluate([explanation], [{"cat": [(2, 1, 3, 3)]}]) == {"pointing_game": 1.0}
    assert PointingGame().evaluate([explanation], [{"dog": [(2, 1, 3, 3)]}]) == {"pointing_game": 0.0}
    with pytest.raises(ValueError, match="one dict of boxes per image"):
        PointingGame().evaluate([explanation], [])


def test_insertion_deletion_auc(photos):
    assert AUC(np.array([0.0, 1.0, 1.0])) == pytest.approx(0.75)
    metric = InsertionDeletionAUC(sk.demo.model(), preprocess_fn, get_postprocess_fn(activation=ActivationType.SOFTMAX))
    image = cv2.resize(photos["chelsea"], (224, 224))
    explainer = Explainer(sk.demo.model(), Task.CLASSIFICATION, preprocess_fn=preprocess_fn)
    explanation = explainer(image, targets=[285], colormap=False)
    result = metric(explanation.saliency_map[285], 285, image, steps=5)
    assert 0.0 <= result["deletion"] < result["insertion"] <= 1.0
    scores = metric.evaluate([explanation], [image], steps=5)
    assert scores["delta"] == pytest.approx(scores["insertion"] - scores["deletion"])
    with pytest.raises(ValueError, match="steps=0"):
        metric(explanation.saliency_map[285], 285, image, steps=0)


# detection ---------------------------------------------------------------------------------------------------------


def test_detection_white_box_with_openvino_xai_arguments(tmp_path):
    from saliencykit.detection import mediapipe_model_path
    from saliencykit.detection.demo import face_scenes

    model = sk.load_model(mediapipe_model_path("blazeface"))
    image = face_scenes(1)[0].image
    preprocess = sk.Preprocess(size=128, mean=127.5, std=127.5, layout="NHWC")
    explainer = Explainer(
        model,
        Task.DETECTION,
        preprocess_fn=preprocess,
        explain_mode=ExplainMode.WHITEBOX,
        target_layer=["classificator_8", "classificator_16"],
        num_anchors=[2, 6],
        saliency_map_size=(23, 23),
    )
    raw = explainer.model_forward(image)["saliency_map"]
    assert raw.shape == (1, 1, 23, 23) and raw.dtype == np.uint8 and raw.max() == 255
    explanation = explainer(image, targets=-1)
    assert explanation.targets == [0] and explanation.shape == (*image.shape[:2], 3)
    explanation.save(tmp_path, "face_")
    assert [p.name for p in tmp_path.iterdir()] == ["face_0.jpg"]
    with pytest.raises(ValueError, match="one count per target layer"):
        Explainer(model, Task.DETECTION, preprocess_fn=preprocess, explain_mode=ExplainMode.WHITEBOX,
                  target_layer=["classificator_8", "classificator_16"], num_anchors=[2])  # fmt: skip
