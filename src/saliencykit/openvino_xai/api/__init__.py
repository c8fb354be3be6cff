"""openvino-xai 1.1's ``openvino_xai.api``."""

from .api import insert_xai

__all__ = ["insert_xai"]
