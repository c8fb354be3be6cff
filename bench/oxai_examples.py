"""openvino-xai 1.1's published usage, written as openvino-xai users write it (``import openvino_xai as xai``,
``import openvino.runtime as ov``), one snippet per documented use.

Sources: openvino-xai 1.1's README quick start, user guide (auto, white-box, black-box, insertion),
``examples/run_classification.py`` (explain all classes, insertion with the user's own inference, preprocessed
input) and the three OpenVINO XAI notebooks (basic: ``get_preprocess_fn`` + ``plot``; deep dive: output size,
overlay weight, ``Explanation`` built from a raw map, ``model_forward``; map interpretation: per-class maps of
confident predictions written with ``cv2.imwrite``), plus the metrics API. Only the model, image and label paths
are ours: each snippet reads ``MODEL_PATH``, ``IMAGE_PATH``, ``LABELS`` and writes into ``OUT``, and leaves what it
returned in ``result`` for comparison.

:func:`to_saliencykit` makes the two-line change a user makes; ``bench/oxai_dropin.py`` runs each snippet under
both libraries and ``tests/test_openvino_xai_examples.py`` runs them under saliencykit.
"""

from __future__ import annotations

import re

PREPROCESS = """
def preprocess_fn(x: np.ndarray) -> np.ndarray:
    x = cv2.resize(src=x, dsize=(224, 224)).astype(np.float32)
    x = (x - 127.5) / 127.5
    x = x.transpose((2, 0, 1))  # the demo model is NCHW
    return np.expand_dims(x, 0)
"""

HEADER = """import cv2
import numpy as np
import openvino.runtime as ov
import openvino_xai as xai
"""

EXAMPLES: dict[str, str] = {
    # README quick start: AUTO mode, overlays with the prediction, saved with a prefix
    "readme_auto": HEADER
    + PREPROCESS
    + """
model = ov.Core().read_model(MODEL_PATH)
explainer = xai.Explainer(model=model, task=xai.Task.CLASSIFICATION, preprocess_fn=preprocess_fn)
image = cv2.imread(IMAGE_PATH)
explanation = explainer(image, targets=[285, 281], label_names=LABELS, overlay=True)
explanation.save(OUT, "name_")
result = explanation
""",
    # user guide, white-box: explicit method, target layer search, scaling embedded, names as targets
    "guide_whitebox": HEADER
    + "from openvino_xai.explainer import ExplainMode\n"
    + PREPROCESS
    + """
model = ov.Core().read_model(MODEL_PATH)
explainer = xai.Explainer(
    model=model,
    task=xai.Task.CLASSIFICATION,
    preprocess_fn=preprocess_fn,
    explain_mode=ExplainMode.WHITEBOX,
    explain_method=xai.Method.RECIPROCAM,
    embed_scaling=True,
)
image = cv2.imread(IMAGE_PATH)
explanation = explainer(image, targets=["Egyptian cat", "tabby"], label_names=LABELS, overlay=True)
explanation.save(OUT, prefix="image_name_target_")
result = explanation
""",
    # user guide, white-box ActivationMap: one per-image map
    "guide_activation_map": HEADER
    + "from openvino_xai.explainer import ExplainMode\n"
    + PREPROCESS
    + """
model = ov.Core().read_model(MODEL_PATH)
explainer = xai.Explainer(
    model=model,
    task=xai.Task.CLASSIFICATION,
    preprocess_fn=preprocess_fn,
    explain_mode=ExplainMode.WHITEBOX,
    explain_method=xai.Method.ACTIVATIONMAP,
)
explanation = explainer(cv2.imread(IMAGE_PATH), targets=-1, overlay=True, overlay_weight=0.7)
explanation.save(OUT, postfix="_map")
result = explanation
""",
    # user guide, black-box RISE with its budget arguments
    "guide_blackbox_rise": HEADER
    + "from openvino_xai.explainer import ExplainMode\n"
    + PREPROCESS
    + """
def postprocess_fn(x):
    return x["logits"]

model = ov.Core().read_model(MODEL_PATH)
explainer = xai.Explainer(
    model=model,
    task=xai.Task.CLASSIFICATION,
    preprocess_fn=preprocess_fn,
    postprocess_fn=postprocess_fn,
    explain_mode=ExplainMode.BLACKBOX,
    explain_method=xai.Method.RISE,
)
explanation = explainer(
    cv2.imread(IMAGE_PATH), targets=["Egyptian cat"], label_names=LABELS, num_masks=300, num_cells=8, seed=1,
    resize=False, colormap=False,
)
explanation.save(OUT, "rise_")
result = explanation
""",
    # user guide, black-box default (AISE) with a preset and its budget
    "guide_blackbox_aise": HEADER
    + "from openvino_xai.explainer import ExplainMode\n"
    + "from openvino_xai.methods.black_box.base import Preset\n"
    + "from openvino_xai.explainer.utils import get_postprocess_fn, ActivationType\n"
    + PREPROCESS
    + """
model = ov.Core().read_model(MODEL_PATH)
explainer = xai.Explainer(
    model=model,
    task=xai.Task.CLASSIFICATION,
    preprocess_fn=preprocess_fn,
    postprocess_fn=get_postprocess_fn(activation=ActivationType.SOFTMAX),
    explain_mode=ExplainMode.BLACKBOX,
)
explanation = explainer(
    cv2.imread(IMAGE_PATH), targets=[285], preset=Preset.SPEED, num_iterations_per_kernel=10, overlay=True
)
explanation.save(OUT, "aise_")
result = explanation
""",
    # user guide, insertion: the user's own pipeline reads the saliency_map output
    "guide_insert_xai": HEADER
    + PREPROCESS
    + """
model = ov.Core().read_model(MODEL_PATH)
model_xai = xai.insert_xai(model, task=xai.Task.CLASSIFICATION)
compiled = ov.Core().compile_model(model_xai, "CPU")
outputs = compiled(preprocess_fn(cv2.imread(IMAGE_PATH)))
result = {"saliency_map": outputs["saliency_map"], "logits": outputs["logits"]}
""",
    # run_classification.py: insertion without scaling (raw float maps)
    "run_insert_raw": HEADER
    + "from openvino_xai.common.utils import has_xai\n"
    + PREPROCESS
    + """
model = ov.Core().read_model(MODEL_PATH)
model_xai = xai.insert_xai(
    model, task=xai.Task.CLASSIFICATION, explain_method=xai.Method.RECIPROCAM, embed_scaling=False
)
assert has_xai(model_xai)
compiled = ov.Core().compile_model(model_xai, "CPU")
result = {"saliency_map": compiled(preprocess_fn(cv2.imread(IMAGE_PATH)))["saliency_map"]}
""",
    # run_classification.py: every class, raw grey maps, saved per class
    "run_explain_all": HEADER
    + "from openvino_xai.explainer import ExplainMode\n"
    + PREPROCESS
    + """
model = ov.Core().read_model(MODEL_PATH)
explainer = xai.Explainer(model=model, task=xai.Task.CLASSIFICATION, preprocess_fn=preprocess_fn,
                          explain_mode=ExplainMode.WHITEBOX)
explanation = explainer(cv2.imread(IMAGE_PATH), targets=-1, resize=False, colormap=False)
assert len(explanation.saliency_map) == 1000
explanation.save(OUT, "all_")
result = explanation
""",
    # run_classification.py: the model that insert_xai returned, explained again (its map output is reused)
    "run_explain_inserted": HEADER
    + PREPROCESS
    + """
model = ov.Core().read_model(MODEL_PATH)
model_xai = xai.insert_xai(model, task=xai.Task.CLASSIFICATION)
explainer = xai.Explainer(model=model_xai, task=xai.Task.CLASSIFICATION, preprocess_fn=preprocess_fn)
explanation = explainer(cv2.imread(IMAGE_PATH), targets=[285], output_size=(100, 150))
explanation.save(OUT, "inserted_")
result = explanation
""",
    # run_classification.py: images preprocessed beforehand, no preprocess_fn
    "run_preprocessed": HEADER
    + PREPROCESS
    + """
model = ov.Core().read_model(MODEL_PATH)
explainer = xai.Explainer(model=model, task=xai.Task.CLASSIFICATION)
data = preprocess_fn(cv2.imread(IMAGE_PATH))
explanation = explainer(data, targets=[285], label_names=LABELS)
explanation.save(OUT, "pre_")
result = explanation
""",
    # basic notebook: get_preprocess_fn, targets by name, plot, save with confidence scores
    "notebook_basic": HEADER
    + "from openvino_xai.explainer.utils import get_preprocess_fn, get_postprocess_fn, ActivationType, get_score\n"
    + """
import matplotlib
matplotlib.use("Agg")
preprocess_fn = get_preprocess_fn(input_size=(224, 224), mean=np.array([127.5] * 3), std=np.array([127.5] * 3),
                                  hwc_to_chw=True)
postprocess_fn = get_postprocess_fn(activation=ActivationType.SOFTMAX)
model = ov.Core().read_model(MODEL_PATH)
explainer = xai.Explainer(model=model, task=xai.Task.CLASSIFICATION, preprocess_fn=preprocess_fn)
image = cv2.cvtColor(cv2.imread(IMAGE_PATH), cv2.COLOR_BGR2RGB)
explanation = explainer(image, targets=["Egyptian cat", "tabby"], label_names=LABELS, overlay=True)
explanation.plot()
logits = explainer.model_forward(image)["logits"]
scores = {t: float(get_score(logits, t, activation=ActivationType.SOFTMAX)) for t in explanation.targets}
explanation.save(OUT, prefix="cat_", postfix="_conf_", confidence_scores=scores)
result = explanation
""",
    # deep-dive notebook: output size, scaling, overlay weight, Explanation built from a raw map, colormap/overlay
    "notebook_deep_dive": HEADER
    + "from openvino_xai.explainer.explanation import Explanation\n"
    + "from openvino_xai.explainer.visualizer import colormap, overlay\n"
    + "from openvino_xai.common.utils import scaling\n"
    + PREPROCESS
    + """
model = ov.Core().read_model(MODEL_PATH)
explainer = xai.Explainer(model=model, task=xai.Task.CLASSIFICATION, preprocess_fn=preprocess_fn)
image = cv2.imread(IMAGE_PATH)
big = explainer(image, targets=[285], overlay=True, output_size=(500, 400), overlay_weight=0.8,
                overlay_prediction=False)
big.save(OUT, "big_")
model_xai = xai.insert_xai(model, task=xai.Task.CLASSIFICATION)
raw = ov.Core().compile_model(model_xai)(preprocess_fn(image))["saliency_map"]
built = Explanation(raw, targets=[285, 281], task=xai.Task.CLASSIFICATION, label_names=LABELS)
assert built.total_num_targets == 1000 and built.shape == (7, 7)
resized = cv2.resize(built.saliency_map[285], (image.shape[1], image.shape[0]))
coloured = colormap(scaling(resized)[None])
blended = overlay(coloured, image[None], 0.5)
cv2.imwrite(f"{OUT}/manual_overlay.jpg", blended[0])
result = {"big": big.saliency_map[285], "blended": blended, "raw": raw}
""",
    # map-interpretation notebook: explain the confident classes of several images, files named by the user
    "notebook_interpretation": HEADER
    + PREPROCESS
    + """
from openvino_xai.common.utils import softmax
model = ov.Core().read_model(MODEL_PATH)
compiled = ov.Core().compile_model(model, "CPU")
explainer = xai.Explainer(model=model, task=xai.Task.CLASSIFICATION, preprocess_fn=preprocess_fn)
image = cv2.imread(IMAGE_PATH)
scores = softmax(compiled(preprocess_fn(image))[0][0])
above = np.argwhere(scores > 0.05).ravel()
explanation = explainer(image, targets=above, label_names=LABELS, overlay=True)
for idx in above:
    name = f"pr_{LABELS[idx]}_{scores[idx]:.2f}.jpg"
    cv2.imwrite(f"{OUT}/{name}", explanation.saliency_map[idx])
result = explanation
""",
    # metrics: pointing game and insertion/deletion AUC on white-box maps
    "metrics": HEADER
    + "from openvino_xai.metrics import InsertionDeletionAUC, PointingGame\n"
    + "from openvino_xai.explainer.utils import get_postprocess_fn, ActivationType\n"
    + PREPROCESS
    + """
model = ov.Core().read_model(MODEL_PATH)
explainer = xai.Explainer(model=model, task=xai.Task.CLASSIFICATION, preprocess_fn=preprocess_fn)
image = cv2.imread(IMAGE_PATH)
explanation = explainer(image, targets=[285], label_names=LABELS, colormap=False)
game = PointingGame().evaluate([explanation], [{"Egyptian cat": [(100, 40, 250, 250)]}])
auc = InsertionDeletionAUC(model, preprocess_fn, get_postprocess_fn(activation=ActivationType.SOFTMAX))
scores = auc.evaluate([explanation], [image], steps=10)
result = {"map": explanation.saliency_map[285], "pointing_game": np.float64(game["pointing_game"]),
          "insertion": np.float64(scores["insertion"]), "deletion": np.float64(scores["deletion"])}
""",
}

#: examples whose maps come from black-box methods (compared by agreement, not equality)
BLACK_BOX = {"guide_blackbox_rise", "guide_blackbox_aise"}


def to_saliencykit(source: str) -> str:
    """The change a user makes: ``openvino_xai`` -> ``saliencykit.openvino_xai``, ``openvino.runtime`` ->
    ``openvino`` in the import lines (nothing else)."""
    lines = []
    for line in source.splitlines():
        if re.match(r"\s*(import|from)\s", line):
            line = re.sub(r"\bopenvino_xai\b", "saliencykit.openvino_xai", line)
            line = re.sub(r"\bopenvino\.runtime\b", "openvino", line)
        lines.append(line)
    return "\n".join(lines) + "\n"


def changed_lines(source: str) -> list[tuple[str, str]]:
    """The (before, after) import lines :func:`to_saliencykit` changes."""
    before, after = source.splitlines(), to_saliencykit(source).splitlines()
    return [(a, b) for a, b in zip(before, after) if a != b]
