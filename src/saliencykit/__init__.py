"""saliencykit: what computer-vision models look at — saliency maps, their quality, and dataset audits.

Every public name is imported on first use (:mod:`saliencykit.lazy`), so ``import saliencykit`` loads neither
OpenVINO nor OpenCV, SciPy or torch; ``from saliencykit import Explainer`` and ``sk.methods.RISE`` work as always.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .lazy import attach

if TYPE_CHECKING:
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

    __version__: str

_ATTRS = {
    "audit": ".audit.api",
    "DetectionExplainer": ".detection.explainer",
    "DetectionExplanation": ".detection.explanation",
    "Explainer": ".explainer",
    "Explanation": ".explanation",
    "check_image": ".images",
    "read_image": ".images",
    "has_xai": ".insertion",
    "insert_xai": ".insertion",
    "imagenet_labels": ".labels",
    "read_labels": ".labels",
    "ModelRunner": ".model",
    "load_model": ".model",
    "Pipeline": ".pipeline",
    "Preprocess": ".preprocess",
    # offered by the package since it read its version with them; kept so the package's names stay the same
    "PackageNotFoundError": "importlib.metadata",
    "version": "importlib.metadata",
}
# the submodules the package has always offered as attributes (``sk.methods``, ``sk.graph``, ...)
_SUBMODULES = (
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
)
_getattr, _dir = attach(__name__, _ATTRS, _SUBMODULES)


def __dir__() -> list[str]:
    """Every public name, loaded or not (as ``dir()`` listed them when the package imported everything)."""
    return sorted({*_dir(), "__version__"})


def __getattr__(name: str) -> Any:
    """``__version__`` read from the installed package on first use; every other name from :func:`attach`."""
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("saliencykit")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
            found = "0.0.0"
        globals()["__version__"] = found
        return found
    return _getattr(name)


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
