"""saliencykit: what computer-vision models look at — saliency maps, their quality, and dataset audits."""

from importlib.metadata import PackageNotFoundError, version

from . import demo, detection, errors, methods, metrics, visualize
from .audit import audit
from .detection import DetectionExplainer, DetectionExplanation
from .explainer import Explainer
from .explanation import Explanation
from .images import check_image, read_image
from .insertion import has_xai, insert_xai
from .labels import imagenet_labels, read_labels
from .model import ModelRunner, load_model
from .pipeline import Pipeline
from .preprocess import Preprocess

try:
    __version__ = version("saliencykit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = [
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
