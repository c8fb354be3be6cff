"""openvino-xai 1.1's ``openvino_xai.explainer``."""

from .explainer import Explainer, ExplainMode
from .explanation import Explanation, Layout
from .visualizer import Visualizer, colormap, overlay, resize

__all__ = ["ExplainMode", "Explainer", "Explanation", "Layout", "Visualizer", "colormap", "overlay", "resize"]
