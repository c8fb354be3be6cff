"""openvino-xai 1.1's published examples (bench/oxai_examples.py) run under saliencykit.openvino_xai after the
two-line import change, and write the files, with the names, types, shapes and dtypes openvino-xai gives."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np
import pytest

import saliencykit as sk
import saliencykit.openvino_xai as xai

_spec = importlib.util.spec_from_file_location(
    "oxai_examples", Path(__file__).parents[1] / "bench" / "oxai_examples.py"
)
examples = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(examples)


def run(name: str, out: Path, image_path: str) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    scope = {
        "MODEL_PATH": str(sk.demo.model_path()),
        "IMAGE_PATH": image_path,
        "LABELS": sk.demo.labels(),
        "OUT": str(out),
        "__name__": "__example__",
    }
    exec(compile(examples.to_saliencykit(examples.EXAMPLES[name]), name, "exec"), scope)  # noqa: S102
    return scope


def files(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir())


def test_the_change_is_only_the_imports():
    for name, source in examples.EXAMPLES.items():
        changed = examples.changed_lines(source)
        assert ("import openvino.runtime as ov", "import openvino as ov") in changed, name
        assert ("import openvino_xai as xai", "import saliencykit.openvino_xai as xai") in changed, name
        assert all(a.lstrip().startswith(("import", "from")) for a, _ in changed), name
        assert "saliencykit" not in source


def test_readme_auto_overlays_named_by_label(tmp_path, photo_files):
    scope = run("readme_auto", tmp_path, photo_files["chelsea"])
    explanation = scope["result"]
    assert isinstance(explanation, xai.Explanation) and type(explanation).__module__.endswith("explainer.explanation")
    assert files(tmp_path) == ["name_Egyptian cat.jpg", "name_tabby.jpg"]
    assert explanation.targets == [285, 281] and explanation.shape == (300, 451, 3)
    assert all(m.dtype == np.uint8 for m in explanation.saliency_map.values())
    assert explanation.layout.value == "multiple_maps_per_image_color"


def test_whitebox_and_targets_by_name(tmp_path, photo_files, caplog):
    with caplog.at_level(logging.INFO, logger="openvino_xai"):
        scope = run("guide_whitebox", tmp_path, photo_files["chelsea"])
    assert "Using ReciproCAM method (for CNNs)." in caplog.messages
    assert "Explaining the model in white-box mode." in caplog.messages
    assert files(tmp_path) == ["image_name_target_Egyptian cat.jpg", "image_name_target_tabby.jpg"]
    assert sorted(scope["result"].targets) == [281, 285]


def test_activation_map_is_one_map_and_one_file(tmp_path, photo_files):
    explanation = run("guide_activation_map", tmp_path, photo_files["chelsea"])["result"]
    assert explanation.targets == ["per_image_map"] and explanation.shape == (300, 451, 3)
    assert files(tmp_path) == ["activation_map_map.jpg"]


def test_blackbox_rise_honours_its_budget_and_model_input_size(tmp_path, photo_files):
    scope = run("guide_blackbox_rise", tmp_path, photo_files["chelsea"])
    explanation, explainer = scope["result"], scope["explainer"]
    assert explainer.method.num_masks == 300 and explainer.method.num_cells == 8
    assert explanation.shape == (224, 224) and explanation.saliency_map[285].dtype == np.uint8  # resize=False
    assert explanation.predictions[285].score == pytest.approx(scope["explainer"].method.predictions[285].score)
    assert files(tmp_path) == ["rise_Egyptian cat.jpg"]


def test_blackbox_default_is_aise_with_preset_and_budget(tmp_path, photo_files):
    scope = run("guide_blackbox_aise", tmp_path, photo_files["chelsea"])
    method = scope["explainer"].method
    assert type(method).__name__ == "AISEClassification"
    assert method.num_iterations_per_kernel == 10 and len(method.kernel_widths) == 3
    assert scope["result"].shape == (300, 451, 3)
    assert files(tmp_path) == ["aise_285.jpg"]


def test_insert_xai_outputs(tmp_path, photo_files):
    result = run("guide_insert_xai", tmp_path, photo_files["chelsea"])["result"]
    assert result["saliency_map"].shape == (1, 1000, 7, 7) and result["saliency_map"].dtype == np.uint8
    assert result["saliency_map"][0, 285].max() == 255 and result["logits"].shape == (1, 1000)
    raw = run("run_insert_raw", tmp_path, photo_files["chelsea"])["result"]["saliency_map"]
    assert raw.shape == (1, 1000, 7, 7) and raw.dtype == np.float32


def test_explain_all_classes(tmp_path, photo_files):
    explanation = run("run_explain_all", tmp_path, photo_files["chelsea"])["result"]
    assert explanation.total_num_targets == 1000 and explanation.shape == (7, 7)
    names = files(tmp_path)
    assert len(names) == 1000 and "all_0.jpg" in names and "all_999.jpg" in names


def test_a_model_with_a_map_output_is_explained_white_box(tmp_path, photo_files, caplog):
    with caplog.at_level(logging.INFO, logger="openvino_xai"):
        scope = run("run_explain_inserted", tmp_path, photo_files["chelsea"])
    assert "Provided IR model already contains XAI branch." in caplog.messages
    assert type(scope["explainer"].method).__name__ == "ReciproCAM"
    assert scope["result"].shape == (100, 150, 3)
    assert files(tmp_path) == ["inserted_285.jpg"]


def test_preprocessed_input_without_preprocess_fn(tmp_path, photo_files):
    explanation = run("run_preprocessed", tmp_path, photo_files["chelsea"])["result"]
    assert explanation.shape == (224, 224, 3)
    assert files(tmp_path) == ["pre_Egyptian cat.jpg"]


def test_notebook_basic(tmp_path, photo_files):
    scope = run("notebook_basic", tmp_path, photo_files["chelsea"])
    names = files(tmp_path)
    assert len(names) == 2 and all(n.startswith("cat_") and "_conf_0." in n for n in names)
    assert hasattr(scope["logits"], "shape") and scope["logits"].shape == (1, 1000)


def test_notebook_deep_dive(tmp_path, photo_files):
    result = run("notebook_deep_dive", tmp_path, photo_files["chelsea"])["result"]
    assert result["big"].shape == (500, 400, 3)  # overlay honours output_size
    assert result["blended"].shape == (1, 300, 451, 3) and result["blended"].dtype == np.uint8
    assert files(tmp_path) == ["big_285.jpg", "manual_overlay.jpg"]


def test_notebook_interpretation(tmp_path, photo_files):
    explanation = run("notebook_interpretation", tmp_path, photo_files["chelsea"])["result"]
    names = files(tmp_path)
    assert any(n.startswith("pr_Egyptian cat_0.") for n in names) and len(names) == len(explanation.targets)


def test_metrics(tmp_path, photo_files):
    result = run("metrics", tmp_path, photo_files["chelsea"])["result"]
    assert result["pointing_game"] in (0.0, 1.0)
    assert 0.0 <= result["deletion"] < result["insertion"] <= 1.0
