"""Writing output files safely: sanitised and unique names, atomic writes, CSV cells that cannot run formulas.

Nothing here knows about models. Every writer of saliencykit goes through these functions, so output files
get one naming rule, the permissions a normal file write would give, and no half-written content.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .errors import OutputError

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
#: first characters that make a spreadsheet treat a cell as a formula (OWASP's CSV-injection list)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def sanitize(name: str, max_length: int = 80) -> str:
    """Make a label usable in a file name: ASCII letters, digits, ``._+-``; other runs become ``_``.

    >>> sanitize("tabby, tabby cat/<script>")
    'tabby_tabby_cat_script'
    """
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    text = _UNSAFE.sub("_", text).strip("._")
    return (text or "unnamed")[:max_length]


def unique_stems(keys: Iterable[str]) -> dict[str, str]:
    """A file-name stem per input: its own sanitised stem when no other input shares it, else stem + short hash.

    The one naming rule of every command that writes files per input image (``explain``, the audit), so that
    ``a/photo.jpg`` and ``b/photo.jpg``, or ``cat.jpg`` and ``cat.png``, never write the same files. The hash is
    of the whole key, so a name does not depend on which other files are in the run.

    >>> stems = unique_stems(["cat/1.jpg", "dog/1.jpg", "cat/2.jpg"])
    >>> stems["cat/2.jpg"], stems["cat/1.jpg"] != stems["dog/1.jpg"]
    ('2', True)
    """
    keys = list(dict.fromkeys(str(k) for k in keys))
    stems = {key: sanitize(Path(key).stem) for key in keys}
    counts = Counter(s.casefold() for s in stems.values())  # case-insensitive file systems
    return {
        key: stem if counts[stem.casefold()] == 1 else f"{stem}_{hashlib.sha1(key.encode()).hexdigest()[:8]}"
        for key, stem in stems.items()
    }


def label_stems(label_names: Sequence[str] | None, num_classes: int | None = None) -> list[str]:
    """A file-name part per class: the sanitised label, with ``_<index>`` added where two classes would share one.

    ImageNet has two "crane" and two "maillot" classes; without the index their overlays overwrite each other.

    >>> label_stems(["crane", "cat", "crane"])
    ['crane_0', 'cat', 'crane_2']
    """
    names = list(label_names or [])
    count = max(len(names), num_classes or 0)
    stems = [sanitize(names[i]) if i < len(names) else str(i) for i in range(count)]
    counts = Counter(s.casefold() for s in stems)
    return [s if counts[s.casefold()] == 1 else f"{s}_{i}" for i, s in enumerate(stems)]


def check_name_part(text: str, what: str) -> str:
    """``text`` if it can be part of a file name inside the output folder, else an :class:`OutputError`.

    A prefix or postfix such as ``"../../x_"`` or ``"a/b"`` would write outside the folder the user named.

    >>> check_name_part("n02105641_2491_", "prefix")
    'n02105641_2491_'
    """
    text = str(text)
    if any(sep in text for sep in ("/", "\\", "\0")) or text in (".", ".."):
        raise OutputError(
            f"{what}={text!r}: a file-name part cannot hold a path separator; files are written inside the output "
            "folder only (give the folder as the directory argument)."
        )
    return text


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: readers never see half a file.

    The file gets the permissions ``open(path, "w")`` would give it (``0o666`` less the umask), not
    ``mkstemp``'s owner-only ``0o600``: reports and overlays are meant to be shared.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
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


def csv_cell(value: Any) -> Any:
    """``value`` made safe for a spreadsheet: text starting with ``= + - @``, tab or CR gets a leading ``'``.

    Numbers stay numbers (``-0.5`` is a value, not a formula); only text can carry a formula such as a file
    named ``=cmd|calc!A0.jpg``.

    >>> csv_cell("=cmd|calc!A0.jpg"), csv_cell(-0.5), csv_cell("cat.jpg")
    ("'=cmd|calc!A0.jpg", -0.5, 'cat.jpg')
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_text(rows: Iterable[Sequence[Any]]) -> str:
    """Rows as CSV text with every cell passed through :func:`csv_cell`; the one CSV writer of saliencykit."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return buf.getvalue()


def write_csv(path: Path, rows: Iterable[Sequence[Any]]) -> None:
    """Write rows (the header first) as a CSV file, atomically, with formula-safe cells."""
    atomic_write_bytes(Path(path), csv_text(rows).encode("utf-8"))
