"""openvino-xai 1.1's published examples (bench/oxai_examples.py: its user guide, README,
examples/run_classification.py, and the three OpenVINO XAI notebooks) run under saliencykit.openvino_xai after
the two-line import change, and write the files, with the names, types, shapes and dtypes openvino-xai 1.1 gives
(recorded from running each snippet under openvino-xai 1.1 with ``bench/oxai_dropin.py``).
One test per snippet, named after its source."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np
import pytest

import saliencykit as sk
import saliencykit.openvino_xai as xai

pytestmark = pytest.mark.slow  # left out of `make test-fast` (the inner loop); `make test` runs it

_spec = importlib.util.spec_from_file_location(
    "oxai_examples", Path(__file__).parents[1] / "bench" / "oxai_examples.py"
)
examples = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(examples)


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> dict[str, str]:
    """The demo model as the documents' models: the float IR and the uint8 IRs that normalise inside."""
    folder = tmp_path_factory.mktemp("oxai_models")
    variants = {"demo": str(sk.demo.model_path())}
    for variant in ("nhwc_bgr", "nchw_bgr", "nchw_rgb", "nhwc_rgb"):
        variants[variant] = str(examples.deployed_model(variants["demo"], folder / f"{variant}.xml", variant))
    return variants


@pytest.fixture(scope="session")
def onnx_path(tmp_path_factory) -> str:
    pytest.importorskip("torch")
    pytest.importorskip("efficientnet_lite_pytorch")
    return str(examples.onnx_model(tmp_path_factory.mktemp("oxai_onnx") / "demo.onnx"))


@pytest.fixture(scope="session")
def notebook_inputs(tmp_path_factory, photos) -> dict[str, str]:
    """What the notebooks download (imagenet_2012.txt, ImageWoof), written from the demo's labels and photos."""
    return examples.notebook_inputs(tmp_path_factory.mktemp("oxai_notebook_inputs"), photos, sk.demo.labels())


@pytest.fixture
def run(models, photo_files, notebook_inputs, tmp_path):
    """Run an example under saliencykit (imports changed, nothing else); its names afterwards."""

    def _run(name: str, image: str = "chelsea") -> dict:
        scope = examples.scope(name, models, photo_files[image], sk.demo.labels(), str(tmp_path), notebook_inputs)
        exec(compile(examples.to_saliencykit(examples.EXAMPLES[name]), name, "exec"), scope)  # noqa: S102
        return scope

    return _run


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def is_explanation(result) -> bool:
    return isinstance(result, xai.Explanation) and type(result).__module__.endswith("explainer.explanation")


def maps_are(explanation, shape: tuple[int, ...]) -> bool:
    return all(m.shape == shape and m.dtype == np.uint8 for m in explanation.saliency_map.values())


def test_the_change_is_only_the_imports():
    for name, source in examples.EXAMPLES.items():
        changed = examples.changed_lines(source)
        assert ("import openvino_xai as xai", "import saliencykit.openvino_xai as xai") in changed, name
        assert all(a.lstrip().startswith(("import", "from")) for a, _ in changed), name
        assert all(b == a.replace("openvino_xai", "saliencykit.openvino_xai").replace("openvino.runtime", "openvino")
                   for a, b in changed), name  # fmt: skip
        assert "saliencykit" not in source
    assert len(examples.PUBLISHED) == 30 and examples.PUBLISHED.isdisjoint(examples.COMPOSED)
    assert len(examples.NOTEBOOKS) == 11 and examples.NOTEBOOKS <= examples.PUBLISHED
    assert all(examples.SOURCES[n][0].startswith("openvino-xai 1.1 ") for n in examples.PUBLISHED - examples.NOTEBOOKS)
    assert all(examples.SOURCES[n][0].startswith("OpenVINO notebook explainable-ai-") for n in examples.NOTEBOOKS)


# --- user guide (docs/source/user-guide.md) ---------------------------------------------------------------------


# user guide, "Create Explainer for OpenVINO Model instance": explainer(data) explains every class
def test_guide_explainer_ov_model(run, tmp_path):
    explanation = run("guide_explainer_ov_model")["result"]
    assert is_explanation(explanation) and explanation.targets == list(range(1000))
    assert explanation.total_num_targets == 1000 and explanation.layout.value == "multiple_maps_per_image_color"
    assert maps_are(explanation, (224, 224, 3)) and files(tmp_path) == []


# user guide, "Create Explainer from OpenVINO IR file": the model given as a path
def test_guide_explainer_ir_file(run):
    explanation = run("guide_explainer_ir_file")["result"]
    assert len(explanation.saliency_map) == 1000 and maps_are(explanation, (224, 224, 3))


# user guide, "Create Explainer from ONNX model file"
def test_guide_explainer_onnx_file(run, models, onnx_path):
    models["onnx"] = onnx_path
    explanation = run("guide_explainer_onnx_file")["result"]
    assert len(explanation.saliency_map) == 1000 and maps_are(explanation, (224, 224, 3))
    assert explanation.saliency_map[285].std() > 0


# user guide, "Running without preprocess_fn": a preprocessed batch, overlay on the original image
def test_guide_auto_without_preprocess_fn(run, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="openvino_xai"):
        explanation = run("guide_auto_without_preprocess_fn")["result"]
    assert any(m.startswith("Assigning preprocess_fn to identity function") for m in caplog.messages)
    assert explanation.targets == [11, 14] and maps_are(explanation, (300, 451, 3))
    assert files(tmp_path) == ["name_11.jpg", "name_14.jpg"]


# user guide, "Specifying preprocess_fn"
def test_guide_auto_with_preprocess_fn(run, tmp_path):
    explanation = run("guide_auto_with_preprocess_fn")["result"]
    assert explanation.targets == [11, 14] and maps_are(explanation, (300, 451, 3))
    assert files(tmp_path) == ["name_11.jpg", "name_14.jpg"]


# user guide, "White-Box mode": method options given to the call, which openvino-xai's white-box methods ignore
def test_guide_whitebox(run, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="openvino_xai"):
        scope = run("guide_whitebox")
    assert "Using ReciproCAM method (for CNNs)." in caplog.messages
    assert any("Ignored embed_scaling, explain_method" in m for m in caplog.messages)
    assert maps_are(scope["result"], (300, 451, 3))
    assert files(tmp_path) == ["name_goldfinch.jpg", "name_indigo bunting.jpg"]


# user guide, "Black-Box mode": printed without postprocess_fn; openvino-xai 1.1 refuses that with a ValueError
def test_guide_blackbox_without_postprocess_fn_is_refused_the_same_way(run, tmp_path):
    with pytest.raises(ValueError, match="Postprocess function has to be provided for the black-box mode"):
        run("guide_blackbox")
    assert files(tmp_path) == []


# user guide, "XAI insertion (white-box usage)": the user's own inference reads the saliency_map output
def test_guide_insertion(run):
    result = run("guide_insertion")["result"]
    assert result["saliency_map"].shape == (1, 1000, 7, 7) and result["saliency_map"].dtype == np.uint8
    assert result["saliency_map"][0, 285].max() == 255
    assert result["result_image"].shape == (300, 451, 3) and result["result_image"].dtype == np.uint8


# user guide, "Plot saliency maps" (matplotlib backend)
# (titles as openvino-xai 1.1 writes them: the label name only for targets given as indices, not by name)
def test_guide_plot(run, no_figures_left):
    explanation = run("guide_plot")["result"]
    assert explanation.targets == [7, 11] and maps_are(explanation, (300, 451, 3))
    assert titles() == [
        ["Class cock (7)", "Class goldfinch (11)"],
        ["Class cock (7)"],
        ["Class 7"],
        ["Class cock (7)", "Class goldfinch (11)"],
    ]


# user guide, "Saving saliency maps": names from prefix, label, postfix and confidence
def test_guide_save(run, tmp_path):
    scope = run("guide_save")
    assert scope["result"].targets == [285]
    score = scope["scores_dict"][285]  # the user's own inference (0.81 in f32, 0.80 in bf16)
    assert files(tmp_path) == [
        "Egyptian cat.jpg",
        "Egyptian cat_class_map.jpg",
        "image_name_Egyptian cat_class_map.jpg",
        f"image_name_Egyptian cat_conf_{score:.2f}.jpg",
        "image_name_target_Egyptian cat.jpg",
    ]


# user guide, "Measure quality metrics of saliency maps": Insertion-Deletion AUC and ADCC
def test_guide_metrics(run):
    result = run("guide_metrics")["result"]
    assert result["map"].shape == (300, 451) and result["map"].dtype == np.uint8
    insertion, deletion, delta = result["auc"]
    assert delta == pytest.approx(insertion - deletion) and 0.0 <= deletion <= 1.0 and 0.0 <= insertion <= 1.0
    adcc, coherency, complexity, average_drop = result["adcc"]
    assert 0.0 <= complexity <= 1.0 and 0.0 <= coherency <= 1.0 and 0.0 <= adcc <= 1.0
    assert result["auc_type"] == "float64"  # np.float64, as openvino-xai 1.1 returns


# --- README -------------------------------------------------------------------------------------------------------


# README, "Quick Start": target index, overlay, save(dir_path=) named by index
def test_readme_quick_start(run, tmp_path):
    explanation = run("readme_quick_start")["result"]
    assert explanation.targets == [285] and maps_are(explanation, (224, 224, 3))
    assert files(tmp_path) == ["285.jpg"]


# README, introduction: save(name=) is not an argument in openvino-xai 1.1, and is refused the same way
def test_readme_pipeline_loop_is_refused_the_same_way(run):
    with pytest.raises(TypeError, match="unexpected keyword argument 'name'"):
        run("readme_pipeline_loop")


# --- examples/run_classification.py -------------------------------------------------------------------------------


# run_classification.py, explain_auto: saved into a sub-folder it creates, the log line reads layout and shape
def test_run_explain_auto(run, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="openvino_xai"):
        explanation = run("run_explain_auto")["result"]
    line = (
        "explain_auto: Generated 2 classification saliency maps of layout Layout.MULTIPLE_MAPS_PER_IMAGE_COLOR "
        "with shape (300, 451, 3)."
    )
    assert line in caplog.messages
    assert files(tmp_path) == ["explain_auto/chelsea_11.jpg", "explain_auto/chelsea_14.jpg"]
    assert maps_are(explanation, (300, 451, 3))


# run_classification.py, explain_white_box
def test_run_explain_white_box(run, tmp_path):
    explanation = run("run_explain_white_box")["result"]
    assert explanation.targets == [11, 14] and maps_are(explanation, (300, 451, 3))
    assert files(tmp_path) == [
        "explain_white_box/chelsea_goldfinch.jpg",
        "explain_white_box/chelsea_indigo bunting.jpg",
    ]


# run_classification.py, explain_black_box: AISE (openvino-xai's black-box default), targets by name
def test_run_explain_black_box(run, tmp_path):
    scope = run("run_explain_black_box")
    assert type(scope["explainer"].method).__name__ == "AISEClassification"
    assert scope["result"].targets == [11, 14] and maps_are(scope["result"], (300, 451, 3))
    assert files(tmp_path) == [
        "explain_black_box/chelsea_goldfinch.jpg",
        "explain_black_box/chelsea_indigo bunting.jpg",
    ]


# run_classification.py, explain_white_box_multiple_images: one explainer, five calls
def test_run_explain_multiple_images(run, tmp_path):
    scope = run("run_explain_multiple_images")
    assert len(scope["explanation"]) == 5 and all(is_explanation(e) for e in scope["explanation"])
    assert files(tmp_path) == ["explain_white_box_multiple_images/chelsea_14.jpg"]


# run_classification.py, insert_xai: the model gains a saliency_map output
def test_run_insert_xai(run):
    result = run("run_insert_xai")["result"]
    assert list(result["outputs"]) == ["logits", "saliency_map"]
    assert list(result["saliency_map_shape"]) == [1, 1000, 7, 7]


# run_classification.py, insert_xai_w_params: a named target layer
def test_run_insert_xai_w_params(run):
    result = run("run_insert_xai_w_params")["result"]
    assert result["saliency_map"].shape == (1, 1000, 7, 7) and result["saliency_map"].dtype == np.uint8


# --- composed from the API reference (not published snippets) ---------------------------------------------------


def test_activation_map_is_one_map_and_one_file(run, tmp_path):
    explanation = run("api_activation_map")["result"]
    assert explanation.targets == ["per_image_map"] and explanation.shape == (300, 451, 3)
    assert files(tmp_path) == ["activation_map_map.jpg"]


def test_blackbox_rise_honours_its_budget_and_model_input_size(run, tmp_path):
    scope = run("api_blackbox_rise")
    explanation, explainer = scope["result"], scope["explainer"]
    assert explainer.method.num_masks == 300 and explainer.method.num_cells == 8
    assert explanation.shape == (224, 224) and explanation.saliency_map[285].dtype == np.uint8  # resize=False
    assert files(tmp_path) == ["rise_Egyptian cat.jpg"]


def test_blackbox_default_is_aise_with_preset_and_budget(run, tmp_path):
    scope = run("api_blackbox_aise")
    method = scope["explainer"].method
    assert type(method).__name__ == "AISEClassification"
    assert method.num_iterations_per_kernel == 10 and len(method.kernel_widths) == 3
    assert scope["result"].shape == (300, 451, 3)
    assert files(tmp_path) == ["aise_285.jpg"]


def test_insert_xai_without_scaling_gives_raw_float_maps(run):
    raw = run("api_insert_raw")["result"]["saliency_map"]
    assert raw.shape == (1, 1000, 7, 7) and raw.dtype == np.float32


def test_explain_all_classes(run, tmp_path):
    explanation = run("api_explain_all")["result"]
    assert explanation.total_num_targets == 1000 and explanation.shape == (7, 7)
    names = files(tmp_path)
    assert len(names) == 1000 and "all_0.jpg" in names and "all_999.jpg" in names


def test_a_model_with_a_map_output_is_explained_white_box(run, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="openvino_xai"):
        scope = run("api_explain_inserted")
    assert "Provided IR model already contains XAI branch." in caplog.messages
    assert type(scope["explainer"].method).__name__ == "ReciproCAM"
    assert scope["result"].shape == (100, 150, 3)
    assert files(tmp_path) == ["inserted_285.jpg"]


def test_notebook_basic_calls(run, tmp_path, no_figures_left):
    scope = run("notebook_basic")
    assert titles() == [["Class 281", "Class 285"]]  # targets given by name
    scores = scope["scores"]  # the user's own inference: its last digit depends on the CPU's precision
    assert files(tmp_path) == [f"cat_Egyptian cat_conf_{scores[285]:.2f}.jpg", f"cat_tabby_conf_{scores[281]:.2f}.jpg"]
    assert scope["logits"].shape == (1, 1000)


def test_notebook_deep_dive_calls(run, tmp_path):
    result = run("notebook_deep_dive")["result"]
    assert result["big"].shape == (500, 400, 3)  # overlay honours output_size
    assert result["blended"].shape == (1, 300, 451, 3) and result["blended"].dtype == np.uint8
    assert files(tmp_path) == ["big_285.jpg", "manual_overlay.jpg"]


def test_notebook_interpretation_calls(run, tmp_path):
    scope = run("notebook_interpretation")
    explanation, scores = scope["result"], scope["scores"]
    assert files(tmp_path) == sorted(
        f"pr_{n}_{scores[i]:.2f}.jpg" for i, n in ((285, "Egyptian cat"), (281, "tabby"), (282, "tiger cat"))
    )
    assert sorted(explanation.targets) == [281, 282, 285]


def test_pointing_game_and_auc(run):
    result = run("api_pointing_game")["result"]
    assert result["pointing_game"] in (0.0, 1.0)
    assert 0.0 <= result["deletion"] < result["insertion"] <= 1.0


# --- the OpenVINO notebooks (explainable-ai-1-basic, -2-deep-dive, -3-map-interpretation) ---------------------------


@pytest.fixture
def f32(monkeypatch):
    """Compile in f32, as bench/oxai_dropin.py does on both sides: the notebooks print and name files with the
    user's own scores, whose second decimal can differ between bf16 and f32 inference."""
    import openvino as ov

    compile_model = ov.Core.compile_model

    def in_f32(self, model, device_name=None, config=None, **kwargs):
        config = {**(config or {}), "INFERENCE_PRECISION_HINT": "f32"}
        return compile_model(self, model, device_name or "CPU", config, **kwargs)

    monkeypatch.setattr(ov.Core, "compile_model", in_f32)


def figures() -> int:
    import matplotlib.pyplot as plt

    return len(plt.get_fignums())


def titles() -> list[list[str]]:
    """Per open figure, its visible axes' titles."""
    import matplotlib.pyplot as plt

    return [[ax.get_title() for ax in plt.figure(n).axes if ax.get_visible()] for n in plt.get_fignums()]


@pytest.fixture
def no_figures_left():
    import matplotlib.pyplot as plt

    plt.close("all")
    yield
    plt.close("all")


# basic notebook: the user's own inference picks the class; explained on the preprocessed input; saved with the
# labels file's line as its name
def test_nb1_basic(run, tmp_path, no_figures_left):
    scope = run("nb1_basic")
    explanation = scope["result"]
    assert scope["result_index"] == 285 and type(explanation.targets[0]) is np.int64
    assert explanation.targets == [285] and maps_are(explanation, (224, 224, 3))
    assert explanation.layout.value == "multiple_maps_per_image_color"
    assert files(tmp_path) == ["n00000285 Egyptian cat.jpg"]
    assert titles() == [[""], ["Class n00000285 Egyptian cat (285)"]]  # plt.imshow(image), explanation.plot()


# deep dive, AUTO mode: a preprocessed batch without preprocess_fn, saved and read back, then every class
def test_nb2_auto_mode(run, tmp_path, caplog, no_figures_left):
    with caplog.at_level(logging.INFO, logger="openvino_xai"):
        result = run("nb2_auto_mode")["result"]
    assert any(m.startswith("Assigning preprocess_fn to identity function") for m in caplog.messages)
    assert "Explaining the model in white-box mode." in caplog.messages
    assert files(tmp_path) == ["explain_auto_206.jpg"]
    assert result["map_206"].shape == (224, 224, 3) and result["read_back"].shape == (224, 224, 3)
    assert np.abs(result["read_back"].astype(int) - result["map_206"]).mean() < 3  # the JPEG of the same map
    assert list(result["targets"]) == list(range(1000)) and result["map_0"].shape == (224, 224, 3)


# deep dive, "Pre- and post-process functions": postprocess_fn takes the OVDict and indexes it
def test_nb2_pre_post_process(run, tmp_path):
    scope = run("nb2_pre_post_process")
    assert type(scope["explainer"].method).__name__ == "ReciproCAM"
    assert scope["result"].targets == [206] and maps_are(scope["result"], (300, 451, 3))
    assert files(tmp_path) == []


# deep dive, "Visualization Parameters": overlay on the original image, colormap only, raw low-resolution grey
def test_nb2_visualization_parameters(run, tmp_path, no_figures_left):
    result = run("nb2_visualization_parameters")["result"]
    assert result["overlay"].shape == (300, 451, 3) and result["colormap"].shape == (224, 224, 3)
    assert result["grayscale"].shape == (7, 7) and result["grayscale"].dtype == np.uint8
    assert files(tmp_path) == ["colormap_206.jpg", "grayscale_206.jpg", "overlay_206.jpg"]
    assert figures() == 4


# deep dive, WHITEBOX: ReciproCAM, insert_xai with a named layer, an explainer on the named layer
def test_nb2_whitebox(run, caplog):
    with caplog.at_level(logging.INFO, logger="openvino_xai"):
        result = run("nb2_whitebox")["result"]
    assert f"Target insertion layer {examples.TARGET_LAYER} is provided." in caplog.messages
    assert list(result["outputs"]) == ["logits", "saliency_map"]
    assert result["whitebox"].shape == result["named_layer"].shape == (300, 451, 3)
    assert np.array_equal(result["whitebox"], result["named_layer"])  # the automatic choice is that layer


# deep dive, BLACKBOX: AISE (the default black-box method) with the notebook's postprocess_fn
@pytest.mark.slow
def test_nb2_blackbox_aise(run, tmp_path):
    scope = run("nb2_blackbox_aise")
    assert type(scope["explainer"].method).__name__ == "AISEClassification"
    assert scope["result"].targets == [206] and maps_are(scope["result"], (300, 451, 3))
    assert files(tmp_path) == ["blackbox_aise_206.jpg"]


# deep dive, BLACKBOX: RISE at its default budget (5000 masks)
@pytest.mark.slow
def test_nb2_blackbox_rise(run, tmp_path):
    scope = run("nb2_blackbox_rise")
    assert type(scope["explainer"].method).__name__ == "RISE" and scope["explainer"].method.num_masks == 5000
    assert scope["result"].targets == [206] and maps_are(scope["result"], (300, 451, 3))
    assert files(tmp_path) == ["blackbox_rise_206.jpg"]


# deep dive, "Advanced": targets by the parsed ImageNet names, which name the saved files
def test_nb2_label_names(run, tmp_path, capsys):
    scope = run("nb2_label_names")
    assert scope["result"].targets == [205, 651] and maps_are(scope["result"], (300, 451, 3))
    assert files(tmp_path) == ["label_names_flat-coated_retriever.jpg", "label_names_microwave.jpg"]
    assert "tench goldfish great_white_shark" in capsys.readouterr().out


# deep dive, "Advanced": ActivationMap gives one per-image map
def test_nb2_activation_map(run, tmp_path):
    explanation = run("nb2_activation_map")["result"]
    assert explanation.targets == ["per_image_map"] and explanation.layout.value == "one_map_per_image_color"
    assert explanation.saliency_map["per_image_map"].shape == (300, 451, 3) and files(tmp_path) == []


# map interpretation: one sampled dataset image, two named targets, saved with the image's stem as prefix
def test_nb3_multiple_images(run, tmp_path):
    scope = run("nb3_multiple_images")
    stem = Path(scope["img_files"][0]).stem
    assert stem in {"n07920052_1", "n02124075_1", "n03773504_1", "n03791053_1"}
    assert scope["result"].targets == [205, 258]
    assert files(tmp_path) == [
        f"saliency_maps/multiple_images/{stem}_Samoyed.jpg",
        f"saliency_maps/multiple_images/{stem}_flat-coated_retriever.jpg",
    ]


# map interpretation: per use case, the classes above its threshold saved as
# {image}_gt_{truth}_{score}_pr_{prediction}_{score}.jpg (the names openvino-xai 1.1 writes, recorded in f32)
def test_nb3_use_cases(run, tmp_path, f32, no_figures_left):
    scope = run("nb3_use_cases")
    folder = "saliency_maps/imagewoof320"
    assert files(tmp_path) == [
        f"{folder}/False_positive_high_confidence/n03773504_1_gt_missile_0.03_pr_drilling_platform_0.71.jpg",
        f"{folder}/True_positive_high_confidence/n07920052_1_gt_espresso_0.69_pr_espresso_0.69.jpg",
        f"{folder}/True_positive_low_confidence/n02124075_1_gt_Egyptian cat_0.51_pr_Egyptian_cat_0.51.jpg",
        f"{folder}/True_positive_two_predictions/n03791053_1_gt_motor scooter_0.64_pr_moped_0.25.jpg",
        f"{folder}/True_positive_two_predictions/n03791053_1_gt_motor scooter_0.64_pr_motor_scooter_0.64.jpg",
    ]
    explanation = scope["result"]  # the last image's: two predictions, numpy int64 targets
    assert explanation.targets == [665, 670] and type(explanation.targets[0]) is np.int64
    assert maps_are(explanation, (500, 741, 3))
    assert figures() == 4  # show_use_case_image per use case read every file back
