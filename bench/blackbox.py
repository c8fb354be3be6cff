"""Black-box explanations on the demo model: time, model calls and quality, side by side with openvino-xai.

    .venv/bin/python bench/blackbox.py            # about 10 minutes on 2 cores (less without openvino-xai)
    .venv/bin/python bench/blackbox.py --quick    # a smoke run: few masks, two photos, no openvino-xai

For every configuration it prints the median wall time per image, the model calls per image, the cost per model
call, and the quality of the top-1 maps: insertion and deletion AUC (30 steps, blurred substrate for insertion,
mean-colour substrate for deletion, softmax score; ``saliencykit.metrics.insertion_deletion_auc``), their
difference, and ADCC (``saliencykit.metrics.adcc``, which re-explains the masked image with the same method).

openvino-xai 1.1 runs in its own environment (``make bench-oxai`` builds ``bench/.venv-oxai``) through the companion
script ``bench/oxai_blackbox.py``; its maps are scored here with the same metrics, and its ADCC re-explanations run
there too. Its RISE-5000 takes about a minute per image, so the heavy rows (RISE-5000 and our presets above
"speed") run on the first two photos only: compare them with each other on the "2 photos" table.

Timings are noisy on a shared 2-core machine: rows are measured in one run, one after the other, and the
ratios in the summary compare rows of this run only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import saliencykit as sk
from saliencykit.methods import AISE, RISE
from saliencykit.metrics import adcc, insertion_deletion_auc
from saliencykit.metrics._common import as_uint8, make_substrate, map_at, unit_map

HERE = Path(__file__).resolve().parent
OXAI_PYTHON = HERE / ".venv-oxai" / "bin" / "python"


@dataclass
class Row:
    name: str
    photos: list[str]
    method: Callable[[], object] | None = None  # ours
    oxai: dict | None = None  # openvino-xai job: {"method": ..., "kwargs": {...}}
    times: list[float] = field(default_factory=list)
    calls: list[int] = field(default_factory=list)
    quality: list[dict] = field(default_factory=list)


def _configs(quick: bool, heavy_photos: list[str], all_photos: list[str], fast: dict, oxai: bool) -> list[Row]:
    if quick:
        return [
            Row("ours RISE 200 masks, 4 cells (random)", heavy_photos, lambda: RISE(num_masks=200, num_cells=4)),
            Row("ours RISE fast", heavy_photos, lambda: RISE(**fast)),
            Row("ours AISE speed", heavy_photos, lambda: AISE(preset="speed")),
        ]
    classic = {"sampler": "random", "antithetic": False, "estimator": "mean"}
    rows = []
    if oxai:
        rows.append(
            Row(
                "openvino-xai RISE speed (1000 masks, 4 cells)",
                all_photos,
                oxai={"method": "rise", "kwargs": {"preset": "speed"}},
            )
        )
    rows.append(Row("ours RISE speed, classic sampler", all_photos, lambda: RISE(preset="speed", **classic)))
    if oxai:
        rows.append(
            Row(
                "openvino-xai RISE balance (5000, 8)",
                heavy_photos,
                oxai={"method": "rise", "kwargs": {"preset": "balance"}},
            )
        )
    rows.append(Row("ours RISE balance, classic sampler", heavy_photos, lambda: RISE(preset="balance", **classic)))
    rows.append(Row("ours RISE quality, classic sampler", heavy_photos, lambda: RISE(preset="quality", **classic)))
    rows.append(Row("ours RISE balance, better sampler", heavy_photos, lambda: RISE(preset="balance")))
    rows.append(Row("ours RISE fast (recommended default)", all_photos, lambda: RISE(**fast)))
    if oxai:
        rows.append(
            Row("openvino-xai AISE balance", all_photos, oxai={"method": "aise", "kwargs": {"preset": "balance"}})
        )
    rows.append(Row("ours AISE balance", all_photos, lambda: AISE(preset="balance")))
    rows.append(Row("ours AISE speed", all_photos, lambda: AISE(preset="speed")))
    return rows


def _quality(pipeline, image, saliency, target, explain) -> dict:
    r = insertion_deletion_auc(pipeline, image, saliency, target, steps=30, substrate="blur", deletion_substrate="mean")
    a = adcc(pipeline, image, saliency, target, explain=explain)
    return {"insertion": r.insertion, "deletion": r.deletion, "difference": r.difference, "adcc": a.adcc}


def _run_ours(row: Row, photos: dict, targets: dict) -> None:
    explainer = sk.demo.explainer(mode="blackbox", method=row.method())
    explainer.predict([photos[row.photos[0]]])  # compile outside the timing
    for name in row.photos:
        image = photos[name]
        explanation = explainer(image, targets=[targets[name]], keep_image=False)
        row.times.append(explanation.stats["wall_time_s"])
        row.calls.append(explanation.stats["model_calls"])
        row.quality.append(
            _quality(explainer.pipeline, image, explanation.map(targets[name]), targets[name], explainer)
        )
        print(f"  {row.name} / {name}: {row.times[-1]:.2f} s", file=sys.stderr, flush=True)


def _oxai(jobs: list[dict], images: dict[str, np.ndarray], folder: Path, tag: str) -> dict[str, np.ndarray]:
    np.savez(folder / f"{tag}_in.npz", **images)
    spec = {
        "model": str(sk.demo.model_path()),
        "images": str(folder / f"{tag}_in.npz"),
        "output": str(folder / f"{tag}_out.npz"),
        "jobs": jobs,
    }
    (folder / f"{tag}.json").write_text(json.dumps(spec))
    subprocess.run([str(OXAI_PYTHON), str(HERE / "oxai_blackbox.py"), str(folder / f"{tag}.json")], check=True)
    with np.load(folder / f"{tag}_out.npz") as data:
        return {k: data[k] for k in data.files}


def _run_oxai(rows: list[Row], pipeline, photos: dict, targets: dict) -> None:
    """Phase 1: openvino-xai's maps; phase 2: its maps of the ADCC-masked images (for coherency)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        jobs = [
            {"name": f"r{i}", **row.oxai, "images": row.photos, "targets": [targets[n] for n in row.photos]}
            for i, row in enumerate(rows)
        ]
        first = _oxai(jobs, dict(photos), folder, "maps")
        masked_images, masked_jobs = {}, []
        fill = pipeline.fill
        for i, row in enumerate(rows):
            names = []
            for name in row.photos:
                pixels = pipeline.pixels(photos[name])
                s = unit_map(map_at(first[f"r{i}/{name}"], pixels.shape[:2]))
                base, _ = make_substrate(pixels, "mean", fill)
                masked_images[f"r{i}_{name}"] = as_uint8(s[..., None] * (pixels - base) + base)
                names.append(f"r{i}_{name}")
            masked_jobs.append({**jobs[i], "images": names})
        second = _oxai(masked_jobs, masked_images, folder, "masked")
        for i, row in enumerate(rows):
            row.times = [float(t) for t in first[f"r{i}/times"]]
            row.calls = [int(c) for c in first[f"r{i}/calls"]]
            for name in row.photos:
                target = targets[name]
                again = second[f"r{i}/r{i}_{name}"]

                def explain(image, t, again=again, expected=masked_images[f"r{i}_{name}"]):
                    assert np.array_equal(image, expected), "the masked image differs from the one sent to openvino-xai"
                    return again

                row.quality.append(_quality(pipeline, photos[name], first[f"r{i}/{name}"], target, explain))


def _table(rows: list[Row], title: str) -> None:
    print(f"\n{title}")
    header = (
        f"{'configuration':46} {'photos':>6} {'s/image':>8} {'calls':>6} {'ms/call':>8} "
        f"{'insert':>7} {'delete':>7} {'differ':>7} {'ADCC':>6}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        if not row.times:
            continue
        t = float(np.median(row.times))
        calls = int(np.median(row.calls)) if row.calls and row.calls[0] > 0 else None
        q = {k: float(np.mean([d[k] for d in row.quality])) for k in ("insertion", "deletion", "difference", "adcc")}
        per_call = f"{1000 * t / calls:8.2f}" if calls else f"{'?':>8}"
        calls_text = f"{calls:6d}" if calls else f"{'?':>6}"
        print(
            f"{row.name:46} {len(row.photos):6d} {t:8.2f} {calls_text} {per_call} "
            f"{q['insertion']:7.3f} {q['deletion']:7.3f} {q['difference']:7.3f} {q['adcc']:6.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: few masks, two photos, no openvino-xai")
    parser.add_argument("--no-oxai", action="store_true", help="skip openvino-xai even when its environment exists")
    parser.add_argument("--heavy-photos", type=int, default=2, help="photos for the slow rows (default 2)")
    parser.add_argument("--json", type=Path, help="also write every number to this file")
    args = parser.parse_args()

    photos = sk.demo.photos()
    pipeline = sk.demo.pipeline()
    names = list(photos)
    targets = {n: int(np.argmax(pipeline.predict([photos[n]])[0])) for n in names}
    heavy = names[: args.heavy_photos]
    use_oxai = OXAI_PYTHON.exists() and not args.no_oxai and not args.quick
    if not use_oxai and not args.quick and not args.no_oxai:
        print("openvino-xai's environment is missing (make bench-oxai): its rows are skipped.", file=sys.stderr)
    from saliencykit.methods.rise import RECOMMENDED

    rows = _configs(args.quick, heavy, names, RECOMMENDED, use_oxai)
    start = time.perf_counter()
    for row in rows:
        if row.method is not None:
            _run_ours(row, photos, targets)
    oxai_rows = [r for r in rows if r.oxai is not None]
    if oxai_rows:
        _run_oxai(oxai_rows, pipeline, photos, targets)

    print(f"demo model EfficientNet-Lite0, photos: {', '.join(names)}; top-1 targets {targets}")
    _table([r for r in rows if len(r.photos) == len(heavy)], f"{len(heavy)} photos ({', '.join(heavy)})")
    _table([r for r in rows if len(r.photos) == len(names) and len(names) != len(heavy)], f"all {len(names)} photos")
    print(f"\nbench wall time {time.perf_counter() - start:.0f} s")
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    {"name": r.name, "photos": r.photos, "times": r.times, "calls": r.calls, "quality": r.quality}
                    for r in rows
                ],
                indent=1,
                default=float,
            )
        )


if __name__ == "__main__":
    main()
