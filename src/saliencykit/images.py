"""Reading and checking images: inside saliencykit an image is always RGB uint8 H x W x 3."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .errors import ImageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def check_image(image: object, name: str = "image") -> np.ndarray:
    """Return ``image`` if it is an RGB uint8 H x W x 3 array, else raise an :class:`ImageError`.

    The message names the input and says how to convert it, e.g. for grayscale, RGBA or 16-bit data.

    >>> check_image(np.zeros((4, 5, 3), np.uint8)).shape
    (4, 5, 3)
    """
    if not isinstance(image, np.ndarray):
        raise ImageError(
            f"{name}: expected a numpy array of shape (H, W, 3) and dtype uint8, got {type(image).__name__}. "
            "Read files with saliencykit.read_image(path)."
        )
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        raise ImageError(
            f"{name}: grayscale image of shape {image.shape}; saliencykit expects RGB H x W x 3. "
            "Convert it with np.repeat(image[..., None], 3, axis=2) or read_image(path, convert=True)."
        )
    if image.ndim != 3 or image.shape[2] not in (3,):
        if image.ndim == 3 and image.shape[2] == 4:
            raise ImageError(
                f"{name}: RGBA image of shape {image.shape}; saliencykit expects RGB H x W x 3. "
                "Drop or blend the alpha channel first (image[..., :3]) or use read_image(path, convert=True)."
            )
        raise ImageError(f"{name}: expected shape (H, W, 3), got {image.shape}.")
    if image.dtype != np.uint8:
        hint = (
            "Scale it to 0..255 and convert with (image / 257).astype(np.uint8)"
            if image.dtype == np.uint16
            else "Convert it with np.clip(image, 0, 255).astype(np.uint8)"
        )
        raise ImageError(f"{name}: dtype {image.dtype}; saliencykit expects uint8 pixels. {hint}.")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise ImageError(f"{name}: image of shape {image.shape} is too small to explain.")
    return image


def to_rgb_uint8(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Convert grayscale, RGBA and 16-bit arrays to RGB uint8; used when the caller opted in to conversion."""
    if image.dtype == np.uint16:
        image = (image / 257.0).round().astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ImageError(f"{name}: cannot convert pixels of dtype {image.dtype} to uint8.")
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[..., :3]
    return check_image(np.ascontiguousarray(image), name)


def read_image(path: str | Path, convert: bool = False) -> np.ndarray:
    """Read an image file as RGB uint8 H x W x 3.

    With ``convert=False`` (the default) grayscale, RGBA and 16-bit files raise an :class:`ImageError`
    that says so; with ``convert=True`` they are converted (gray repeated, alpha dropped, 16 -> 8 bit).
    """
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: no such file. Check the path.")
    if not path.is_file():
        raise ImageError(f"{path}: not a file.")
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise ImageError(f"{path}: cannot be read ({exc.strerror}). Check its permissions.") from None
    raw = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if raw is None:
        raise ImageError(
            f"{path}: not a readable image (empty, truncated or not an image file). "
            f"Supported formats: {', '.join(IMAGE_SUFFIXES)}."
        )
    if raw.ndim == 3 and raw.shape[2] == 3:
        raw = cv2.cvtColor(raw, cv2.COLOR_BGR2RGB)
    elif raw.ndim == 3 and raw.shape[2] == 4:
        raw = cv2.cvtColor(raw, cv2.COLOR_BGRA2RGBA)
    return to_rgb_uint8(raw, str(path)) if convert else check_image(raw, str(path))
