"""Errors of the openvino-xai layer: saliencykit's own types that are also the built-in types openvino-xai raises.

Code written for openvino-xai that catches ``ValueError`` / ``RuntimeError`` keeps working, and saliencykit's
``except SaliencyKitError`` catches them too.
"""

from __future__ import annotations

from ..errors import MethodError, TargetError


class XAIValueError(MethodError, ValueError):
    """A bad argument, where openvino-xai raises ``ValueError``."""


class XAIRuntimeError(MethodError, RuntimeError):
    """A failed step, where openvino-xai raises ``RuntimeError``."""


class XAITargetError(TargetError, ValueError):
    """Targets that cannot be explained, where openvino-xai raises ``ValueError``."""
