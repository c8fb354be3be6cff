"""openvino-xai 1.1's AISE."""

from .classification import AISEClassification

__all__ = ["AISEClassification"]
