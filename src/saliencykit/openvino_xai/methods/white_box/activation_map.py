"""openvino-xai 1.1's ``ActivationMap``: one class-agnostic map per image, ``{"per_image_map": map}``."""

from __future__ import annotations

import openvino as ov

from ....methods.whitebox import ActivationMap as _ActivationMap
from .base import LayerWhiteBoxMethod


class ActivationMap(LayerWhiteBoxMethod):
    """The target feature map averaged over channels; the output is (1, h, w)."""

    per_class = False

    def _insert(self, model: ov.Model) -> ov.Model:
        return _ActivationMap(target_layer=self._target_layer).insert(model)
