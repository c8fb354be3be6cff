"""The user's cache folder, and building cached files safely (atomic, checked, one builder at a time)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

MANIFEST = "manifest.json"


def cache_dir() -> Path:
    """``$SALIENCYKIT_CACHE``, else ``$XDG_CACHE_HOME/saliencykit``, else ``~/.cache/saliencykit``."""
    if os.environ.get("SALIENCYKIT_CACHE"):
        return Path(os.environ["SALIENCYKIT_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base).expanduser() / "saliencykit"


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """The hex digest of a file's bytes, read in 1 MB blocks (large model files never sit in memory whole)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def entry_is_valid(entry: Path) -> bool:
    """An entry is valid when its manifest exists and every file it lists has the recorded hash."""
    try:
        manifest = json.loads((entry / MANIFEST).read_text())
        return bool(manifest["files"]) and all(file_digest(entry / n) == h for n, h in manifest["files"].items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)


def cached_entry(name: str, build: Callable[[Path], None]) -> Path:
    """Return the cache folder ``name``, building it with ``build(tmp_folder)`` when missing or corrupt.

    The build writes into a temporary folder that is renamed into place only once complete and hashed, so a
    killed build never leaves a half-written entry; a file lock makes concurrent first calls build it once.
    """
    root = cache_dir()
    entry = root / name
    if entry_is_valid(entry):
        return entry
    with _locked(root / f".{name}.lock"):
        if entry_is_valid(entry):
            return entry
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
        try:
            build(tmp)
            files = {p.name: file_digest(p) for p in sorted(tmp.iterdir()) if p.is_file()}
            (tmp / MANIFEST).write_text(json.dumps({"files": files}, indent=1))
            if entry.exists():
                shutil.rmtree(entry)
            os.replace(tmp, entry)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return entry
