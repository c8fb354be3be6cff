"""Writing output files safely: sanitised names, atomic writes, nothing outside the given folder."""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from pathlib import Path

import cv2
import numpy as np

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def sanitize(name: str, max_length: int = 80) -> str:
    """Make a label usable in a file name: ASCII letters, digits, ``._+-``; other runs become ``_``.

    >>> sanitize("tabby, tabby cat/<script>")
    'tabby_tabby_cat_script'
    """
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    text = _UNSAFE.sub("_", text).strip("._")
    return (text or "unnamed")[:max_length]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_image(path: Path, rgb: np.ndarray, quality: int = 92) -> None:
    """Encode an RGB uint8 picture (JPEG or PNG by suffix) and write it atomically."""
    suffix = path.suffix.lower() or ".jpg"
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if suffix in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(suffix, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 RGB array
        raise OSError(f"{path}: could not encode the picture")
    atomic_write_bytes(path, buf.tobytes())
