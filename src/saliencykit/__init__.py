"""saliencykit: what computer-vision models look at — saliency maps, their quality, and dataset audits."""

from importlib.metadata import PackageNotFoundError, version

from . import demo, errors
from .images import check_image, read_image
from .labels import imagenet_labels, read_labels
from .model import ModelRunner, load_model
from .preprocess import Preprocess

try:
    __version__ = version("saliencykit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = [
    "ModelRunner",
    "Preprocess",
    "__version__",
    "check_image",
    "demo",
    "errors",
    "imagenet_labels",
    "load_model",
    "read_image",
    "read_labels",
]
