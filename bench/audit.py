"""Audit throughput vs plain batched inference on the same images, side by side in one run.

The images are the demo's labelled set (variants of the demo photos) copied up to --images files. "plain" reads
every file and predicts in batches of --batch-size, one after the other: the least a classifier needs to
look at a dataset. "audit" is `saliencykit.audit` with its defaults (white-box ReciproCAM, an overlay JPEG per
class above 0.1 and for missed ground truths, raw .npz maps, SQLite store, report), on a fresh output folder.
Both get a ready, compiled model, so the ratio compares the work per image. "audit, annotations" adds the demo's
object boxes (``--annotations``: focus on the object, the annotated cases, boxes drawn on the overlays; metrics
off). The configurations run in interleaved rounds; best and median are printed (the median is what a busy
machine gives).
Usage: python bench/audit.py [--images 100] [--batch-size 16] [--rounds 5]
       python bench/audit.py --memory 10000   (resident memory along one long audit)
       python bench/audit.py --stages         (where an audited image's time goes, one stage at a time)
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _common import row

import saliencykit as sk
from saliencykit.audit import audit, demo_dataset, load_image
from saliencykit.audit.demo import demo_annotations


def make_dataset(folder: Path, count: int) -> list[Path]:
    demo_dataset(folder)
    photos = sorted(folder.rglob("*.jpg"))
    paths = list(photos)
    n = 0
    while len(paths) < count:
        for photo in photos[: count - len(paths)]:
            copy = photo.with_name(f"{photo.stem}_copy{n}.jpg")
            shutil.copy(photo, copy)
            paths.append(copy)
        n += 1
    return sorted(paths)


def make_annotations(data: Path, paths: list[Path], path: Path) -> Path:
    """The demo's boxes for every image, copies included (a copy has its photo's boxes)."""
    lines = demo_annotations(path).read_text().splitlines()
    by_key: dict[str, list[str]] = {}
    for line in lines[1:]:
        key, rest = line.split(",", 1)
        by_key.setdefault(key, []).append(rest)
    rows = [lines[0]]
    for p in paths:
        key = p.relative_to(data).as_posix()
        original = key.split("_copy")[0] + ".jpg" if "_copy" in key else key
        rows.extend(f"{key},{rest}" for rest in by_key.get(original, []))
    path.write_text("\n".join(rows) + "\n")
    return path


def plain(pipeline, paths: list[Path], batch_size: int) -> float:
    start = time.perf_counter()
    for i in range(0, len(paths), batch_size):
        pipeline.predict([load_image(p)[0] for p in paths[i : i + batch_size]])
    return time.perf_counter() - start


def audited(explainer, data: Path, out: Path, batch_size: int, max_side: int, annotations: Path | None = None) -> float:
    start = time.perf_counter()
    result = audit(explainer, data, out, batch_size=batch_size, max_side=max_side, fresh=True, annotations=annotations)
    seconds = time.perf_counter() - start
    assert result.exit_code == 0 and result.processed == result.summary["totals"]["items"]
    return seconds


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory(count: int, batch_size: int) -> None:
    """Resident memory along one audit of ``count`` images: it should stay flat (images are streamed)."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        make_dataset(data, count)
        explainer = sk.demo.explainer(batch_size=batch_size)
        marks = {int(count * f) for f in (0.05, 0.25, 0.5, 0.75, 1.0)}
        samples: list[tuple[int, float]] = []

        def progress(done: int, total: int) -> None:
            if any(done >= m for m in marks):
                marks.difference_update({m for m in marks if done >= m})
                samples.append((done, _rss_mb()))

        start = time.perf_counter()
        audit(explainer, data, Path(tmp) / "out", batch_size=batch_size, progress=progress)
        seconds = time.perf_counter() - start
        print(f"audit of {count} images in {seconds:.0f} s ({count / seconds:.1f} images/s)")
        row("images done", "RSS MB")
        for done, rss in samples:
            row(str(done), f"{rss:.0f}")
        row("after the report", f"{_rss_mb():.0f}")


def stages(count: int, batch_size: int, rounds: int) -> None:
    """Each stage of the audit of one image, timed alone in this thread (median over rounds, ms per image).

    The audit overlaps reading and writing with inference, so the stages do not add up to its wall time; they
    say what competes with inference for the cores.
    """
    from saliencykit.audit.dataset import read_dataset
    from saliencykit.audit.local import RunOptions, _write, compute_batch, model_resizer
    from saliencykit.audit.local import load as load_item
    from saliencykit.audit.outputs import base_names

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        make_dataset(data, count)
        pipeline = sk.demo.pipeline(batch_size=batch_size)
        explainer = sk.demo.explainer(batch_size=batch_size)
        resize = model_resizer(explainer)
        items = list(read_dataset(data).items)
        bases = base_names([item.key for item in items])
        images = [load_image(item.path)[0] for item in items]
        small = [resize(image) for image in images] if resize is not None else images
        batches = [range(i, min(i + batch_size, len(items))) for i in range(0, len(items), batch_size)]
        pipeline.predict(small[:batch_size])
        explainer(small[:batch_size], targets=[0], keep_image=False)
        times: dict[str, list[float]] = {}

        def timed(name: str, fn: Callable[[], Any]) -> Any:
            start = time.perf_counter()
            result = fn()
            times.setdefault(name, []).append((time.perf_counter() - start) / len(items) * 1000)
            return result

        def explain_all(loaded: list) -> list:
            return [x for b in batches for x in compute_batch(explainer, [loaded[i] for i in b])]

        def write_all(results: list, out: Path) -> None:
            for result in results:
                _write(result, out, bases, explainer.label_names, RunOptions())

        def copy_files(files: list[tuple[str, bytes]], folder: Path) -> None:
            folder.mkdir()
            for name, data in files:
                (folder / name).write_bytes(data)

        for r in range(rounds):
            loaded = timed("read + decode + SHA-1 + resize (reader)", lambda: [load_item(i, resize) for i in items])
            timed("plain inference", lambda: [pipeline.predict([small[i] for i in b]) for b in batches])
            results = timed("explain + focus + case (compute_batch)", lambda loaded=loaded: explain_all(loaded))
            out = Path(tmp) / f"out{r}"
            timed("write overlays + .npz (writer)", lambda results=results, out=out: write_all(results, out))
            files = [(f"{k}{f.suffix}", f.read_bytes()) for k, f in enumerate(out.rglob("*")) if f.is_file()]
            timed(
                "  of which: the same bytes written to new files",
                lambda files=files, r=r: copy_files(files, Path(tmp) / f"copy{r}"),
            )
        size = sum(len(data) for _, data in files) / len(items) / 1024
        print(
            f"{len(items)} images, batch {batch_size}, {rounds} rounds; per image {len(files) / len(items):.2f} files,"
        )
        print(f"{size:.0f} kB written")
        row("stage, alone in one thread", "ms / image (median)")
        for name, values in times.items():
            row(name, f"{np.median(values):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--memory", type=int, default=0, help="instead: audit this many images, print the RSS")
    parser.add_argument("--stages", action="store_true", help="instead: time each stage of the audit alone")
    args = parser.parse_args()
    if args.memory:
        return memory(args.memory, args.batch_size)
    if args.stages:
        return stages(args.images, args.batch_size, args.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        paths = make_dataset(data, args.images)
        pipeline = sk.demo.pipeline(batch_size=args.batch_size)
        explainer = sk.demo.explainer(batch_size=args.batch_size)
        pipeline.predict([load_image(paths[0])[0]])  # compile before timing
        boxes = make_annotations(data, paths, Path(tmp) / "boxes.csv")
        audited(explainer, data, Path(tmp) / "warmup", args.batch_size, 512)
        configurations: dict[str, tuple[int, Path | None] | None] = {
            "plain": None,
            "audit": (512, None),
            "audit, full-size overlays": (0, None),
            "audit, annotations": (512, boxes),
        }
        seconds: dict[str, list[float]] = {name: [] for name in configurations}
        for _ in range(args.rounds):  # interleaved rounds: every configuration sees the same machine state
            for name, options in configurations.items():
                if options is None:
                    seconds[name].append(plain(pipeline, paths, args.batch_size))
                else:
                    out = Path(tmp) / "out"
                    seconds[name].append(audited(explainer, data, out, args.batch_size, options[0], options[1]))
        n = len(paths)
        print(
            f"{n} images ({len(set(p.stem.split('_copy')[0] for p in paths))} distinct photos 300-741 px), "
            f"batch {args.batch_size}, {args.rounds} interleaved rounds"
        )
        row("", "best img/s", "median img/s", "best ÷ plain", "median ÷ plain")
        best = {name: n / min(s) for name, s in seconds.items()}
        median = {name: n / float(np.median(s)) for name, s in seconds.items()}
        labels = {
            "plain": "plain batched inference (read + predict)",
            "audit": f"audit ({explainer.method.name}, --max-side 512)",
            "audit, full-size overlays": "audit, full-size overlays (--max-side 0)",
            "audit, annotations": "audit with --annotations (boxes on every image, --metrics off)",
        }
        for name in configurations:
            row(
                labels[name],
                f"{best[name]:.1f}",
                f"{median[name]:.1f}",
                f"{best[name] / best['plain']:.2f}",
                f"{median[name] / median['plain']:.2f}",
            )
        print("target: audit ÷ plain >= 0.8")


if __name__ == "__main__":
    main()
