"""openvino-xai 1.1, run by saliencykit: code written for openvino-xai runs after changing two imports.

``import openvino_xai as xai`` -> ``import saliencykit.openvino_xai as xai`` (and ``openvino_xai.x.y`` ->
``saliencykit.openvino_xai.x.y``), and ``import openvino.runtime as ov`` -> ``import openvino as ov``. The module
paths, classes, defaults, enum values, log lines, file names and returned types are openvino-xai 1.1's; the
maps come from saliencykit's graph insertions (ReciproCAM, ViT-ReciproCAM, ActivationMap, DetClassProbabilityMap)
and black-box methods (AISE, RISE).
"""

from .api.api import insert_xai
from .common.parameters import Method, Task
from .explainer.explainer import Explainer, ExplainMode
from .explainer.explanation import Explanation

__all__ = ["ExplainMode", "Explainer", "Explanation", "Method", "Task", "insert_xai"]
