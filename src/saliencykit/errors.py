"""Exception types raised by saliencykit.

Every message names the input, says what is wrong with it and what to do about it, so that users
never have to read a traceback from inside OpenVINO, OpenCV or torch.
"""

from __future__ import annotations


class SaliencyKitError(Exception):
    """Base class of every error saliencykit raises on purpose."""


class ModelLoadError(SaliencyKitError):
    """A model file or object could not be loaded (missing, truncated, unsupported)."""


class ModelInputError(SaliencyKitError):
    """The model's inputs do not fit the request (several inputs, wrong shape, ...)."""


class ImageError(SaliencyKitError):
    """An image is missing, unreadable, or not an RGB uint8 H x W x 3 picture."""


class PreprocessError(SaliencyKitError):
    """A preprocessing or postprocessing description is invalid."""


class TargetError(SaliencyKitError):
    """Requested explanation targets are unknown or out of range."""


class GraphError(SaliencyKitError):
    """The model graph does not have the structure a white-box method needs."""


class MethodError(SaliencyKitError):
    """An explanation method was asked for something it cannot do."""


class ModelOutputError(SaliencyKitError):
    """The model's outputs are not what the task needs (not class scores, NaN/Inf, wrong shape).

    ``indices`` holds the positions in the batch of the images whose scores are at fault, when known, so a
    caller scoring many images (the audit) can fail those images only.
    """

    def __init__(self, message: str, indices: list[int] | None = None) -> None:
        super().__init__(message)
        self.indices = list(indices or [])


class OutputError(SaliencyKitError):
    """An output file or folder cannot be written (a file where a folder should be, read-only, disk full)."""


class OptionError(SaliencyKitError, ValueError):
    """An option has a value it does not accept (an unknown colormap, an opacity outside [0, 1], ...).

    Also a ``ValueError``, so code written against plain Python conventions still catches it.
    """
