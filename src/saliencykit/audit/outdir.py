"""The audit's output folder: refuse places where it would harm the dataset, and lock it for one run at a time.

An output folder inside the dataset (or equal to it) is read as data by the next audit; a dataset inside one
of the folders the audit owns (the case folders, ``originals``) is deleted by ``--fresh`` and by the cleanup of
removed files. Both are refused before anything is written. The lock is an exclusive ``flock`` on
``OUT/.audit.lock``: a second audit of the same folder stops at once and names the process that holds it, and
the kernel releases the lock when its holder dies (even by ``kill -9``), so a stale lock never blocks.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import OutputError
from .cases import CASES
from .outputs import ORIGINALS

try:  # POSIX; elsewhere audits are not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".audit.lock"


class OutputLocked(OutputError):
    """Another audit is writing into the same output folder."""


def owned_folders(out: Path) -> list[Path]:
    """The sub-folders of ``out`` that the audit writes and ``--fresh`` deletes."""
    return [out / name for name in (*CASES, ORIGINALS)]


def check_places(data: str | Path, out: str | Path) -> None:
    """Refuse an output folder that is a file, is the dataset or lies inside it, or that holds the dataset
    in a folder the audit owns; raises :class:`OutputError` naming both paths."""
    data, out = Path(data), Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file: give a folder for the report and maps (it is created if missing).")
    d, o = data.resolve(), out.resolve()
    if data.is_dir() and (o == d or d in o.parents):
        where = "is the dataset folder itself" if o == d else f"is inside the dataset folder {data}"
        raise OutputError(
            f"--out {out} {where}: the next audit would read the report's overlays as data. "
            "Choose an output folder outside the dataset."
        )
    for owned in owned_folders(o):
        if d == owned or owned in d.parents:
            raise OutputError(
                f"the dataset {data} is inside {owned}, a folder the audit writes and --fresh deletes. "
                "Move the dataset or choose another --out."
            )


def check_items(paths: Iterable[Path], out: str | Path) -> None:
    """Refuse dataset files (e.g. rows of a CSV) that lie in a folder the audit owns: they would be deleted."""
    owned = owned_folders(Path(out).resolve())
    for path in paths:
        parents = Path(path).resolve().parents
        for folder in owned:
            if folder in parents:
                raise OutputError(
                    f"the dataset lists {path}, which is inside {folder}, a folder the audit writes and --fresh "
                    "deletes. Move the file out of it or choose another --out."
                )


@contextmanager
def output_lock(out: str | Path) -> Iterator[Path]:
    """Hold the exclusive lock of the output folder ``out`` (created if missing) for the ``with`` block.

    Raises :class:`OutputLocked` at once when another process holds it (its pid, host and start time are in
    the message), :class:`OutputError` when the folder cannot be created or written.
    """
    out = Path(out)
    path = out / LOCK_NAME
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise OutputError(
            f"--out {out}: cannot write there ({exc.strerror or exc}). Check its permissions or choose another --out."
        ) from None
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "a process that just started"
                raise OutputLocked(
                    f"--out {out} is in use by another audit ({holder}). Wait for it to finish, stop it, "
                    "or choose another --out."
                ) from None
        os.ftruncate(fd, 0)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, started {stamp}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock; the file stays (removing it would race with a process opening it)
