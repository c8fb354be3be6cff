"""``import saliencykit`` and ``saliencykit --help`` start at once: the heavy libraries load on first use only.

Behavioural, not timed: each check runs in a fresh interpreter and looks at ``sys.modules``. The public names are
the ones the package offered when it imported everything eagerly; every one must still resolve to the same kind
of object, and ``dir()`` must still list it.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

import saliencykit

# import costs of seconds together; none of them is needed to import the package or print the CLI's help
HEAVY = ("openvino", "cv2", "scipy", "torch", "matplotlib", "jinja2", "PIL", "skimage", "ray")

# what `saliencykit` offered before its imports became lazy: name -> kind ("class", "function", "module")
PUBLIC = {
    **dict.fromkeys(
        (
            "DetectionExplainer",
            "DetectionExplanation",
            "Explainer",
            "Explanation",
            "ModelRunner",
            "PackageNotFoundError",
            "Pipeline",
            "Preprocess",
        ),
        "class",
    ),
    **dict.fromkeys(
        (
            "audit",
            "check_image",
            "has_xai",
            "imagenet_labels",
            "insert_xai",
            "load_model",
            "read_image",
            "read_labels",
            "version",
        ),
        "function",
    ),
    **dict.fromkeys(
        (
            "cache",
            "demo",
            "detection",
            "errors",
            "explainer",
            "explanation",
            "files",
            "graph",
            "images",
            "insertion",
            "labels",
            "methods",
            "metrics",
            "model",
            "pipeline",
            "preprocess",
            "stderr",
            "targets",
            "tasks",
            "visualize",
        ),
        "module",
    ),
}
ALL = [
    "audit",
    "DetectionExplainer",
    "DetectionExplanation",
    "Explainer",
    "Explanation",
    "ModelRunner",
    "Pipeline",
    "Preprocess",
    "__version__",
    "check_image",
    "demo",
    "detection",
    "errors",
    "has_xai",
    "imagenet_labels",
    "insert_xai",
    "load_model",
    "methods",
    "metrics",
    "read_image",
    "read_labels",
    "visualize",
]
# what the subpackages offered before (their public ``dir()``), as a user reaches them: ``sk.metrics.ssim``
SUBPACKAGES = {
    "methods": "AISE AISEDetection ActivationMap BlackBoxMethod DRISE FlatMapWarning METHODS MaskSampler Predict RISE "
    "ReciproCAM SALIENCY_OUTPUT ViTReciproCAM WhiteBoxMethod aise base get_method registry rise sampling whitebox",
    "metrics": "ADCCResult COLUMNS EvaluationResult ExplainFn InsertionDeletionResult METRICS PointingGameResult "
    "RandomizationResult RandomizationStage Scorer adcc adcc_formula adcc_of_means annotations auc average_drop "
    "baselines boxes_mask coherency complexity default_stages evaluate evaluation insertion_deletion "
    "insertion_deletion_auc layer_names load_boxes make_substrate model_randomization parse_metrics pixel_counts "
    "pointing_game randomization randomize_weights same_method scoring similarity sobel_factory sobel_map spearman "
    "ssim weight_layers",
    "detection": "AISEDetection AnchorOptions DETECTION_METHODS DRISE DetClassProbabilityMap Detect DetectionBatch "
    "DetectionBlackBoxMethod DetectionExplainer DetectionExplanation DetectionWhiteBoxMethod Detections "
    "SSDPostprocess anchor_grids base blazeface box_iou box_similarity boxes decode_boxes explainer explanation "
    "get_detection_method mediapipe_model_path non_max_suppression normalize_boxes palm_detection scale_boxes ssd "
    "ssd_anchors whitebox",
    "audit": "AuditResult AuditStore CASES ClassMap Dataset DatasetError Item OutputError OutputLocked "
    "SettingsMismatch StoreError Thresholds UNLABELLED api audit cases classify compute_batch dataset demo "
    "demo_dataset explain_targets load_image local model_id outdir outputs process_items read_dataset run_demo store",
}

SRC = str(Path(saliencykit.__file__).parent.parent)


def run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter that imports this source tree."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, *sys.path])}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def loaded_after(code: str, *args: str) -> tuple[list[str], subprocess.CompletedProcess[str]]:
    """The heavy libraries in ``sys.modules`` after ``code`` ran (printed as JSON on the last line of stderr)."""
    report = f"\nimport json, sys\nprint(json.dumps(sorted(m for m in sys.modules if m in {HEAVY!r})), file=sys.stderr)"
    done = run_python(code + report, *args)
    return json.loads(done.stderr.strip().splitlines()[-1]), done


CLI = """
import sys
from saliencykit.cli import main
sys.argv = ["saliencykit", *sys.argv[1:]]
try:
    main()
except SystemExit as stop:
    print("exit", stop.code)
"""


def test_import_leaves_heavy_libraries_out() -> None:
    heavy, done = loaded_after("import saliencykit")
    assert done.returncode == 0, done.stderr
    assert heavy == []


def test_first_use_loads_what_the_name_needs() -> None:
    # the check above can fail: reaching a method class does import its dependencies
    heavy, done = loaded_after("import saliencykit as sk; sk.methods.AISE")
    assert done.returncode == 0, done.stderr
    assert "scipy" in heavy and "openvino" in heavy


@pytest.mark.parametrize("argv", [["--help"], ["explain", "--help"], ["evaluate", "--help"]])
def test_cli_help_leaves_heavy_libraries_out(argv: list[str]) -> None:
    heavy, done = loaded_after(CLI, *argv)
    assert done.returncode == 0, done.stderr
    assert "exit 0" in done.stdout
    assert heavy == []
    if argv != ["--help"]:  # the --method help still lists every registered method, from the registry alone
        text = " ".join(done.stdout.split())
        for name in ("reciprocam", "vit_reciprocam", "activation_map", "rise", "aise"):
            assert name in text


def test_cli_version_leaves_heavy_libraries_out() -> None:
    heavy, done = loaded_after(CLI, "--version")
    assert done.returncode == 0, done.stderr
    assert f"saliencykit {saliencykit.__version__}" in done.stdout
    assert heavy == []


def kind(value: object) -> str:
    return "module" if isinstance(value, types.ModuleType) else "class" if isinstance(value, type) else "function"


def test_every_public_name_resolves_as_before() -> None:
    assert saliencykit.__all__ == ALL
    listed = dir(saliencykit)
    for name, expected in PUBLIC.items():
        assert name in listed
        assert kind(getattr(saliencykit, name)) == expected, name
    assert "__version__" in listed and isinstance(saliencykit.__version__, str)
    namespace: dict[str, object] = {}
    exec(f"from saliencykit import {', '.join(ALL)}", namespace)  # noqa: S102 - the statement users write
    assert all(namespace[name] is getattr(saliencykit, name) for name in ALL)
    assert saliencykit.methods.RISE.__module__ == "saliencykit.methods.rise"
    assert callable(saliencykit.demo.model) and callable(saliencykit.metrics.ssim)


@pytest.mark.parametrize("package", sorted(SUBPACKAGES))
def test_subpackage_names_resolve_as_before(package: str) -> None:
    module = importlib.import_module(f"saliencykit.{package}")
    listed = dir(module)
    for name in SUBPACKAGES[package].split():
        assert name in listed, name
        getattr(module, name)
    for name in set(module.__all__) - {"registry"}:  # `methods.registry` is the one module listed in an __all__
        assert not isinstance(getattr(module, name), types.ModuleType), name  # functions stay functions
    assert saliencykit.methods.METHODS["rise"] is saliencykit.methods.RISE
    assert saliencykit.detection.DRISE is saliencykit.methods.DRISE


def test_functions_stay_functions_when_their_module_is_imported_first() -> None:
    # `saliencykit.audit`, `metrics.adcc` and `metrics.pointing_game` each name a function and a module;
    # importing the module (as other modules do) must not replace the function the package offers
    done = run_python(
        "import saliencykit.audit.cases, saliencykit.metrics.adcc, saliencykit.metrics.pointing_game\n"
        "import saliencykit as sk\n"
        "from saliencykit.audit.api import audit\n"
        "from saliencykit.metrics.adcc import adcc\n"
        "from saliencykit.metrics.pointing_game import pointing_game\n"
        "print(sk.audit is audit, sk.metrics.adcc is adcc, sk.metrics.pointing_game is pointing_game)"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "True"]


def test_unknown_names_are_refused_by_name() -> None:
    with pytest.raises(AttributeError, match="'saliencykit' has no attribute 'Explaner'"):
        saliencykit.Explaner  # noqa: B018
    with pytest.raises(AttributeError, match="'saliencykit.methods' has no attribute 'Rise'"):
        saliencykit.methods.Rise  # noqa: B018
    with pytest.raises(ImportError, match="cannot import name 'explain'"):
        exec("from saliencykit import explain", {})  # noqa: S102
