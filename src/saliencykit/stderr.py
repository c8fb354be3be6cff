"""Capturing what C libraries print straight to file descriptor 2, so that users see only saliencykit's messages.

OpenVINO's model frontends (absl, protobuf, flatbuffers) print parse errors before raising, and libjpeg reports
damaged data only as a warning line; neither goes through Python's ``sys.stderr``. One capture at a time in the
process: file descriptor 2 is process-wide, and two overlapping captures would restore each other's copy.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator

_LOCK = threading.RLock()


@contextlib.contextmanager
def captured_stderr(limit: int = -1) -> Iterator[list[str]]:
    """Send file descriptor 2 to a temporary file for the duration; on exit its text (at most ``limit`` bytes) is
    appended to the yielded list. Without a real stderr (embedded interpreters) nothing is captured."""
    captured: list[str] = []
    with _LOCK:
        with contextlib.suppress(AttributeError, OSError, ValueError):
            sys.stderr.flush()
        try:
            saved = os.dup(2)
        except OSError:
            yield captured
            return
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield captured
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                sink.seek(0)
                captured.append(sink.read(limit).decode("utf-8", "replace"))
