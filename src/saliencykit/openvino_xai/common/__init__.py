"""openvino-xai 1.1's ``openvino_xai.common``."""

from .parameters import Method, Task
from .utils import has_xai, scaling

__all__ = ["Method", "Task", "has_xai", "scaling"]
