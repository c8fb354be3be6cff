"""Run code written for openvino-xai 1.1 by changing only its imports.

``import saliencykit.openvino_xai as xai`` and ``from saliencykit.openvino_xai.explainer import ExplainMode``
give the same names (``Explainer``, ``Task``, ``Method``, ``insert_xai``); underneath, saliencykit's own
API does the work. Only classification is translated.
"""

from __future__ import annotations

import openvino as ov

from .. import xai as _xai
from .explainer import Explainer, ExplainMode, Explanation, _method
from .parameters import Method, Task


def insert_xai(
    model: ov.Model,
    task: Task = Task.CLASSIFICATION,
    explain_method: Method | None = None,
    target_layer: str | None = None,
    embed_scaling: bool | None = True,
    **kwargs,
) -> ov.Model:
    """openvino-xai's ``insert_xai``: a copy of the model with a ``saliency_map`` output."""
    if _xai.has_xai(model):
        return model
    return _xai.insert_xai(model, method=_method(explain_method, target_layer), target_layer=target_layer)


__all__ = ["ExplainMode", "Explainer", "Explanation", "Method", "Task", "insert_xai"]
