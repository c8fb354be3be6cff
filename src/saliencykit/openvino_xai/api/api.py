"""openvino-xai 1.1's functional API: ``insert_xai``."""

from __future__ import annotations

from typing import Any

import openvino as ov

from .._errors import XAIRuntimeError, XAIValueError
from ..common.parameters import Method, Task
from ..common.utils import IdentityPreprocessFN, has_xai, logger
from ..methods.factory import WhiteBoxMethodFactory


def insert_xai(
    model: Any,
    task: Task = Task.CLASSIFICATION,
    explain_method: Method | None = None,
    target_layer: str | list[str] | None = None,
    embed_scaling: bool | None = True,
    **kwargs: Any,
) -> Any:
    """A copy of ``model`` with a ``saliency_map`` output: uint8 (1, C, h, w) per class (or (1, h, w) per image)
    with ``embed_scaling``, raw float32 without. A model that already has one is returned as it is.

    ``model`` is an ``ov.Model`` or a ``torch.nn.Module``; a module's forward then returns
    ``{"prediction": ..., "saliency_map": ...}`` (see :func:`..methods.white_box.torch.insert_torch_xai`).
    """
    if has_xai(model):
        logger.info("Provided model already contains XAI branch, return it as-is.")
        return model
    if not isinstance(model, ov.Model):
        from ..methods.white_box.torch import insert_torch_xai

        if task != Task.CLASSIFICATION:
            raise XAIValueError(f"task={task}: a PyTorch module can be given for Task.CLASSIFICATION only.")
        model_xai = insert_torch_xai(
            model, explain_method, target_layer, True if embed_scaling is None else embed_scaling, **kwargs
        )
        logger.info("Insertion of the XAI branch into the model was successful.")
        return model_xai
    method = WhiteBoxMethodFactory.create_method(
        task=task,
        model=model,
        preprocess_fn=IdentityPreprocessFN(),
        explain_method=explain_method,
        target_layer=target_layer,
        embed_scaling=True if embed_scaling is None else embed_scaling,
        prepare_model=False,
        **kwargs,
    )
    model_xai = method.prepare_model(load_model=False)
    if not has_xai(model_xai):
        raise XAIRuntimeError("Insertion of the XAI branch into the model was not successful.")
    logger.info("Insertion of the XAI branch into the model was successful.")
    return model_xai
