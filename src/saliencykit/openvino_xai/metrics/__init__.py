"""openvino-xai 1.1's ``openvino_xai.metrics``, with its protocols."""

from .adcc import ADCC
from .insertion_deletion_auc import InsertionDeletionAUC
from .pointing_game import PointingGame

__all__ = ["ADCC", "InsertionDeletionAUC", "PointingGame"]
