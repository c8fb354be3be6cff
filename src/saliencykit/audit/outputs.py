"""Writing one audited image's files: an overlay per explained class and the raw float maps.

Overlays go to ``DIR/<case>/{image}_gt_{gt label}_{gt score}_pr_{label}_{score}.jpg`` (the naming of the
OpenVINO map-interpretation notebook: the ``pr_`` part names the class the map explains, with its score),
raw maps to ``DIR/<case>/raw/{image}.npz``. Every file is written atomically; the returned record is what
the run store keeps. Nothing here knows about models or the store.
"""

from __future__ import annotations

import io
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from .. import visualize
from ..errors import SaliencyKitError
from ..files import atomic_write_bytes, sanitize, unique_stems
from ..labels import label_of
from ..visualize import fit
from . import smallmap

if TYPE_CHECKING:  # pragma: no cover
    from .local import ImageResult

#: Suffixes a browser shows in <img>; other originals get a JPEG copy beside the report.
BROWSER_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif")
ORIGINALS = "originals"


@dataclass(frozen=True)
class OutputOptions:
    """How maps are drawn and saved.

    Args:
        colormap: a colormap name of :func:`saliencykit.visualize.colorize`.
        alpha: weight of the coloured map over the photo.
        max_side: overlays of larger photos are drawn at this longest side (pixels); ``0`` keeps full size.
            512 keeps typical ImageNet-size photos (about 500 x 375) at full size and bounds the JPEG work of
            larger ones (what it saves: ``bench/audit.py``).
        raw: also save the float maps as ``.npz``.
        quality: JPEG quality of the overlays.
    """

    colormap: str = "jet"
    alpha: float = 0.5
    max_side: int = 512
    raw: bool = True
    quality: int = 90

    def __post_init__(self) -> None:
        try:
            _colormap_lut(self.colormap)  # an unknown colormap fails before any image is read
        except ValueError as exc:
            raise SaliencyKitError(f"{exc}") from None

    def to_dict(self) -> dict[str, Any]:
        return {"colormap": self.colormap, "alpha": self.alpha, "max_side": self.max_side, "raw": self.raw}


def base_names(keys: Iterable[str]) -> dict[str, str]:
    """A file-name stem per item key (:func:`saliencykit.files.unique_stems`, the rule of every command).

    >>> base_names(["cat/1.jpg", "dog/1.jpg", "cat/2.jpg"])["cat/2.jpg"]
    '2'
    """
    return unique_stems(keys)


def map_file_name(
    base: str, label: str, score: float, gt_label: str | None = None, gt_score: float | None = None
) -> str:
    """``{base}_gt_{gt label}_{gt score:.2f}_pr_{label}_{score:.2f}.jpg`` (no ``gt`` part when unlabelled).

    >>> map_file_name("n02111889_374", "crib", 0.39, "Samoyed", 0.43)
    'n02111889_374_gt_Samoyed_0.43_pr_crib_0.39.jpg'
    """
    gt = f"_gt_{sanitize(gt_label, 40)}_{gt_score:.2f}" if gt_label is not None and gt_score is not None else ""
    return f"{base}{gt}_pr_{sanitize(label, 40)}_{score:.2f}.jpg"


@lru_cache(maxsize=16)
def _colormap_lut(name: str) -> np.ndarray:
    """The BGR colour table (256 x 1 x 3) of a colormap: OpenCV rebuilds its own on every call, which costs
    more than applying it."""
    visualize.colorize(np.zeros((1, 1), np.float32), name)  # raises a clear error for unknown names
    ramp = np.arange(256, dtype=np.uint8)[:, None]
    if name == "gray":
        return np.ascontiguousarray(np.repeat(ramp[..., None], 3, axis=2))
    return cv2.applyColorMap(ramp, getattr(cv2, f"COLORMAP_{name.upper()}")).reshape(256, 1, 3)


def render_overlay(photo: np.ndarray, saliency: np.ndarray, colormap: str = "jet", alpha: float = 0.5) -> np.ndarray:
    """The map normalised, resized to a **BGR** ``photo``, coloured and blended over it; returns BGR uint8.

    The picture of :func:`saliencykit.visualize.overlay` up to rounding, in less work: the map is
    quantised at its native size before the bilinear resize, the colours come from OpenCV in BGR (what its
    JPEG encoder takes, so no conversion per map) and the blend is OpenCV's saturating uint8 one.
    """
    small = np.clip(visualize.normalize(saliency) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    big = cv2.resize(small, (photo.shape[1], photo.shape[0]), interpolation=cv2.INTER_LINEAR)
    colour = cv2.applyColorMap(big, _colormap_lut(colormap))
    return cv2.addWeighted(photo, 1.0 - alpha, colour, alpha, 0.0)


def _encode_jpeg(bgr: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 array
        raise OSError("could not encode the picture")
    return buf.tobytes()


def _write(path: Path, data: bytes, out: Path) -> str:
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OSError(exc.errno, f"could not write {path.relative_to(out).as_posix()}: {reason}") from None
    return path.relative_to(out).as_posix()


def report_source(path: Path, out: Path) -> str:
    """A relative URL path from ``out`` to ``path`` for the report (``os.path.relpath``, POSIX separators)."""
    try:
        return Path(os.path.relpath(path.resolve(), out.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return path.resolve().as_uri()


def write_outputs(
    result: ImageResult,
    out: Path,
    base: str,
    label_names: list[str] | None,
    options: OutputOptions,
    metrics: Callable[[np.ndarray, Any], Mapping[str, float]] | None = None,
) -> dict[str, Any]:
    """Write the overlays (and raw maps) of one image; return its run-store record.

    A failed write (disk full, permissions) makes a ``failed`` record that names the file and the reason; the
    files written before it stay.
    """
    item = result.item
    gt = item.gt
    scores = result.scores
    case_dir = out / result.case
    record = result.record(label_names)
    gt_label = label_of(gt, label_names) if gt is not None else None
    gt_score = float(scores[gt]) if gt is not None else None
    try:
        photo = cv2.cvtColor(fit(result.image, options.max_side), cv2.COLOR_RGB2BGR)  # OpenCV encodes BGR
        scale = photo.shape[1] / result.image.shape[1]
        names = Counter(sanitize(label_of(t, label_names), 40) for t in result.targets)
        maps = []
        for target in result.targets:
            label = label_of(target, label_names)
            shown = label if names[sanitize(label, 40)] == 1 else f"{label}-{target}"
            name = map_file_name(base, shown, float(scores[target]), gt_label, gt_score)
            picture = draw_objects(
                render_overlay(photo, result.maps[target], options.colormap, options.alpha), item.objects, scale
            )
            file = _write(case_dir / name, _encode_jpeg(picture, options.quality), out)
            maps.append({"class": target, "label": label, "score": float(scores[target]), "file": file})
        record["maps"] = maps
        record["map32"] = smallmap.encode(result.maps[record["pred"]])
        if options.raw:
            record["raw"] = _write(case_dir / "raw" / f"{base}.npz", _npz(result, label_names), out)
        if item.path.suffix.lower() not in BROWSER_SUFFIXES:
            record["original"] = _write(out / ORIGINALS / f"{base}.jpg", _encode_jpeg(photo, options.quality), out)
        if metrics is not None:
            record["metrics"] = _metrics(metrics, result, label_names)
    except OSError as exc:
        record.update(status="failed", error=exc.strerror or str(exc))
    return record


def draw_objects(picture: np.ndarray, objects: Iterable[Mapping[str, Any]] | None, scale: float) -> np.ndarray:
    """``picture`` with the annotated objects' boxes (pixels of the original image, times ``scale``) and labels."""
    for obj in objects or []:
        box = tuple(float(v) * scale for v in obj["box"])
        picture = visualize.draw_box(picture, box, str(obj.get("label") or ""))  # type: ignore[arg-type]
    return picture


def _npz(result: ImageResult, label_names: list[str] | None) -> bytes:
    targets = result.targets
    buf = io.BytesIO()
    meta = {
        "key": result.item.key,
        "case": result.case,
        "gt": result.item.gt,
        "labels": [label_of(t, label_names) for t in targets],
    }
    np.savez(  # float maps barely compress; zlib would cost more than the JPEGs' file writes
        buf,
        maps=np.stack([result.maps[t] for t in targets]).astype(np.float32),
        targets=np.asarray(targets, dtype=np.int64),
        scores=np.asarray([result.scores[t] for t in targets], dtype=np.float32),
        predictions=np.asarray(result.scores, dtype=np.float32),
        meta=np.asarray(json.dumps(meta)),
    )
    return buf.getvalue()


def _metrics(metrics: Callable, result: ImageResult, label_names: list[str] | None) -> dict[str, Any] | None:
    from ..explanation import Explanation

    explanation = Explanation(
        targets=list(result.targets),
        maps=result.maps,
        scores={t: float(result.scores[t]) for t in result.targets},
        label_names=label_names,
        image_size=tuple(result.image.shape[:2]),
        predictions=result.scores,
        image=result.image,
    )
    try:
        if getattr(metrics, "wants_objects", False):  # the named metrics (audit.metrics) use the objects
            values = metrics(result.image, explanation, objects=result.item.objects)  # type: ignore[call-arg]
        else:
            values = metrics(result.image, explanation)
    except Exception as exc:  # a metric must not sink the audit; its failure is recorded instead
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {str(k): float(v) for k, v in dict(values or {}).items()}
