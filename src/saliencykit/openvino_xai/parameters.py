"""Kept for code that imported ``saliencykit.openvino_xai.parameters``; openvino-xai's path is ``common.parameters``."""

from .common.parameters import Method, Task

__all__ = ["Method", "Task"]
