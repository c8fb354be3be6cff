"""Black-box explanations on the demo model: time, model calls and quality, side by side with openvino-xai.

    .venv/bin/python bench/blackbox.py            # 15 to 25 minutes on 2 cores, depending on their load
    .venv/bin/python bench/blackbox.py --quick    # a smoke run: few masks, two photos, no openvino-xai

For every configuration it prints the median wall time per image, the model calls per image, the cost per model
call, and the quality of the top-1 maps: insertion and deletion AUC (30 steps, blurred substrate for insertion,
mean-colour substrate for deletion, softmax score; ``saliencykit.metrics.insertion_deletion_auc``), their
difference, the difference under a held-out protocol that no method perturbs with (insertion from a blur of
sigma 10 px, deletion to black: ``diff2``), and ADCC (``saliencykit.metrics.adcc``, which re-explains the masked
image with the same method).

openvino-xai 1.1 runs in its own environment (``make bench-oxai`` builds ``bench/.venv-oxai``) through the companion
script ``bench/oxai_blackbox.py``; its maps are scored here with the same metrics, and its ADCC re-explanations run
there too. Its RISE-5000 (the quality reference) runs on all five photos; its 1000-mask "speed" preset and ours
on the first two (``--heavy-photos``), our "quality" preset on one, timed only. It also prints the demo model's
own inference time — one image per call and batched — which bounds what batching can save per model call.

Timings are noisy on a shared 2-core machine: rows are measured in one run, one after the other (openvino-xai's
and ours alternating photo by photo), and the ratios in the summary compare rows of this run only.
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
from _common import BENCH, OXAI_PYTHON, median_seconds

import saliencykit as sk
from saliencykit.methods import AISE, RISE
from saliencykit.metrics import adcc, insertion_deletion_auc
from saliencykit.metrics.scoring import as_uint8, make_substrate, map_at, unit_map


@dataclass
class Row:
    name: str
    photos: list[str]
    method: Callable[[], object] | None = None  # ours
    oxai: dict | None = None  # an openvino-xai job: {"method": ..., "kwargs": {...}}
    partner: str | None = None  # an openvino-xai row: run photo by photo, alternating with it
    metrics: bool = True  # False: time and calls only (too slow to re-explain for ADCC in this run)
    host_blend: bool = False  # blend the masks on the host instead of inside the graph
    times: list[float] = field(default_factory=list)
    calls: list[int] = field(default_factory=list)
    quality: list[dict] = field(default_factory=list)
    maps: dict = field(default_factory=dict)


def _job(method: str, preset: str) -> dict:
    return {"method": method, "kwargs": {"preset": preset}}


CLASSIC = {"sampler": "random", "antithetic": False, "estimator": "mean"}  # RISE as published (openvino-xai's)
#: the previous default's design (orthogonal masks, centered estimator, one substrate, raw output) at 384 masks
PREVIOUS = {"num_masks": 384, "num_cells": 8, "interpolation": "linear", "substrates": ("mean",), "output": "raw"}
#: the default before the three-grid one: 384 masks of 10 cells, both substrates, the soft output
SOFT384 = {"num_masks": 384, "num_cells": 10, "substrates": ("blur", "mean"), "output": "soft", "combine": "sum"}
#: a second insertion/deletion protocol that none of the methods perturbs with: blur sigma 10 px (Fong & Vedaldi's)
#: for insertion, black for deletion
HELD_OUT = {"substrate": "blur", "deletion_substrate": "black", "blur_sigma": 10.0, "blur_kernel": 31}
OX_SPEED, OX_BALANCE, OX_AISE = (
    "openvino-xai RISE speed (1000, 4 cells)",
    "openvino-xai RISE balance (5000, 8)",
    ("openvino-xai AISE balance"),
)


def _configs(quick: bool, heavy: list[str], one: list[str], every: list[str], oxai: bool) -> list[Row]:
    if quick:
        return [
            Row("ours RISE 200 masks, 4 cells, classic", heavy, lambda: RISE(num_masks=200, num_cells=4, **CLASSIC)),
            Row("ours RISE() default", heavy, lambda: RISE()),
            Row("ours AISE speed", heavy, lambda: AISE(preset="speed")),
            Row("ours RISE(), masks blended on the host", heavy, lambda: RISE(), metrics=False, host_blend=True),
        ]
    rows = []
    if oxai:
        rows += [
            Row(OX_SPEED, heavy, oxai=_job("rise", "speed")),
            Row(OX_BALANCE, every, oxai=_job("rise", "balance")),
            Row(OX_AISE, every, oxai=_job("aise", "balance")),
        ]
    partner = (lambda name: name) if oxai else (lambda name: None)
    rows += [
        Row(
            "ours RISE speed (1000, 4), classic",
            heavy,
            lambda: RISE(preset="speed", **CLASSIC),
            partner=partner(OX_SPEED),
        ),
        Row(
            "ours RISE balance (5000, 8), classic",
            every,
            lambda: RISE(preset="balance", **CLASSIC),
            partner=partner(OX_BALANCE),
            metrics=not oxai,  # openvino-xai's own RISE-5000 is then the quality reference
        ),
        Row("ours RISE quality (10000, 12)", one, lambda: RISE(preset="quality"), metrics=False),
        Row("ours RISE() = 256, 4+7+10 cells, blur+mean, raw", every, lambda: RISE()),
        Row("ours RISE previous default (384, 10, soft)", every, lambda: RISE(**SOFT384)),
        Row("ours RISE(seed=1)", every, lambda: RISE(seed=1)),
        Row("ours RISE(num_masks=512)", every, lambda: RISE(num_masks=512)),
        Row("ours RISE(num_masks=320)", every, lambda: RISE(num_masks=320)),
        Row("ours RISE(num_masks=128)", every, lambda: RISE(num_masks=128)),
        Row("ours RISE(num_masks=64)", every, lambda: RISE(num_masks=64)),
        Row("ours RISE 256, 4+7+10 cells, mean only", every, lambda: RISE(substrates=("mean",))),
        Row("ours RISE 384, 8 cells, linear, mean, raw", every, lambda: RISE(**PREVIOUS)),
        Row("ours RISE 64, 8 cells, linear, mean, raw", every, lambda: RISE(**{**PREVIOUS, "num_masks": 64})),
        Row("ours RISE(), masks blended on the host", every, lambda: RISE(), metrics=False, host_blend=True),
        Row("ours AISE balance", every, lambda: AISE(preset="balance"), partner=partner(OX_AISE)),
        Row("ours AISE speed", every, lambda: AISE(preset="speed")),
    ]
    return rows


def _quality(pipeline, image, saliency, target, explain) -> dict:
    r = insertion_deletion_auc(pipeline, image, saliency, target, steps=30, substrate="blur", deletion_substrate="mean")
    other = insertion_deletion_auc(pipeline, image, saliency, target, steps=30, **HELD_OUT)
    a = adcc(pipeline, image, saliency, target, explain=explain)
    return {
        "insertion": r.insertion,
        "deletion": r.deletion,
        "difference": r.difference,
        "held_out": other.difference,
        "adcc": a.adcc,
        "coherency": a.coherency,
        "complexity": a.complexity,
        "average_drop": a.average_drop,
    }


class _Ours:
    """One of our configurations: its explainer, compiled once (outside the timings)."""

    def __init__(self, row: Row, photos: dict, targets: dict) -> None:
        self.row, self.photos, self.targets = row, photos, targets
        self.explainer = sk.demo.explainer(mode="blackbox", method=row.method())
        if row.host_blend:  # what the in-graph blend and its fixed-batch runner save: the host path instead
            self.explainer.pipeline.blend_scorer = lambda pixels, fill: None
        self.explainer(photos[row.photos[0]], keep_image=False)  # compile outside the timings

    def run(self, name: str) -> None:
        row, image, target = self.row, self.photos[name], self.targets[name]
        explanation = self.explainer(image, targets=[target], keep_image=False)
        row.times.append(explanation.stats["wall_time_s"])
        row.calls.append(explanation.stats["model_calls"])
        if row.metrics:
            row.quality.append(
                _quality(self.explainer.pipeline, image, explanation.map(target), target, self.explainer)
            )
        print(f"  {row.name} / {name}: {row.times[-1]:.2f} s", file=sys.stderr, flush=True)


class _Oxai:
    """openvino-xai in its own environment, one subprocess per call (model compiled there, outside the timings)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def run(self, jobs: list[dict], images: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.count += 1
        tag = f"call{self.count}"
        np.savez(self.folder / f"{tag}_in.npz", **images)
        spec = {
            "model": str(sk.demo.model_path()),
            "images": str(self.folder / f"{tag}_in.npz"),
            "output": str(self.folder / f"{tag}_out.npz"),
            "precision": "f32",  # the same precision as ours (openvino-xai would otherwise run bf16 where it can)
            "jobs": jobs,
        }
        (self.folder / f"{tag}.json").write_text(json.dumps(spec))
        subprocess.run(
            [str(OXAI_PYTHON), str(BENCH / "oxai_blackbox.py"), str(self.folder / f"{tag}.json")], check=True
        )
        with np.load(self.folder / f"{tag}_out.npz") as data:
            out = {k: data[k] for k in data.files}
        if self.count == 1:
            print(f"openvino-xai ran at {out.get('precision', 'its default precision')}, ours at f32", flush=True)
        return out

    def explain(self, row: Row, name: str, image: np.ndarray, target: int) -> None:
        job = {"name": "job", **row.oxai, "images": [name], "targets": [target]}
        out = self.run([job], {name: image})
        row.maps[name] = out[f"job/{name}"]
        row.times.append(float(out["job/times"][0]))
        row.calls.append(int(out["job/calls"][0]))

    def score(self, rows: list[Row], pipeline, photos: dict, targets: dict) -> None:
        """Quality of openvino-xai's maps; ADCC's re-explanations of the masked images run there in one call."""
        masked, jobs = {}, []
        for i, row in enumerate(rows):
            names = []
            for name in row.photos:
                pixels = pipeline.pixels(photos[name])
                s = unit_map(map_at(row.maps[name], pixels.shape[:2]))
                base, _ = make_substrate(pixels, "mean", pipeline.fill)
                masked[f"r{i}_{name}"] = as_uint8(s[..., None] * (pixels - base) + base)
                names.append(f"r{i}_{name}")
            jobs.append({"name": f"r{i}", **row.oxai, "images": names, "targets": [targets[n] for n in row.photos]})
        again = self.run(jobs, masked)
        for i, row in enumerate(rows):
            for name in row.photos:

                def explain(image, target, key=f"r{i}_{name}", i=i):
                    assert np.array_equal(image, masked[key]), "the masked image differs from the one explained"
                    return again[f"r{i}/{key}"]

                row.quality.append(_quality(pipeline, photos[name], row.maps[name], targets[name], explain))


def _mean(row: Row, key: str, photos: list[str]) -> float:
    values = [q[key] for name, q in zip(row.photos, row.quality) if name in photos]
    return float(np.mean(values)) if values else float("nan")


def _speed_table(rows: list[Row]) -> None:
    print("\nspeed (median over the photos each row ran on)")
    header = f"{'configuration':46} {'photos':>6} {'s/image':>8} {'calls':>6} {'ms/call':>8}"
    print(header)
    print("-" * len(header))
    for row in rows:
        if row.times:
            t, calls = float(np.median(row.times)), int(np.median(row.calls))
            print(f"{row.name:46} {len(row.photos):6d} {t:8.2f} {calls:6d} {1000 * t / calls:8.2f}")


QUALITY = (
    ("insertion", "insert"),
    ("deletion", "delete"),
    ("difference", "differ"),
    ("held_out", "diff2"),
    ("adcc", "ADCC"),
    ("coherency", "coher"),
    ("complexity", "compl"),
    ("average_drop", "drop"),
)


def _quality_table(rows: list[Row], photos: list[str], title: str) -> None:
    """Rows with quality on every photo of ``photos``, averaged over exactly those photos."""
    print(f"\n{title}")
    header = f"{'configuration':46} {'s/image':>8}" + "".join(f" {label:>7}" for _, label in QUALITY)
    print(header)
    print("-" * len(header))
    for row in rows:
        if row.quality and set(photos) <= set(row.photos):
            t = float(np.median([t for n, t in zip(row.photos, row.times) if n in photos]))
            print(f"{row.name:46} {t:8.2f}" + "".join(f" {_mean(row, key, photos):7.3f}" for key, _ in QUALITY))


def _model_alone(photos: dict, oxai: _Oxai | None) -> dict[str, float]:
    """Seconds per image of the demo model alone: ours one image per call and batched as RISE sends it, theirs."""
    explainer = sk.demo.explainer(mode="blackbox")
    pipeline = explainer.pipeline
    name = next(iter(photos))
    pixels = pipeline.pixels(photos[name])
    masks = RISE().sampler_for(pixels.shape[:2]).draw(64)
    score = pipeline.blend_scorer(pixels, pipeline.fill)

    def ours() -> tuple[float, float]:
        single = median_seconds(lambda: pipeline.predict_pixels(pixels[None]), repeat=50, warmup=5)
        batched = median_seconds(lambda: score(masks), repeat=5, warmup=1) / len(masks)
        return single, batched

    first = ours()
    out = {}
    if oxai is not None:
        result = oxai.run(
            [{"name": "plain", "method": "plain", "images": [name], "targets": [0]}], {name: photos[name]}
        )
        out["oxai_single"] = float(result["plain/seconds"][0])
    second = ours()  # before and after theirs: the machine's load moves
    out["single"], out["batched"] = (first[0] + second[0]) / 2, (first[1] + second[1]) / 2
    return out


def _print_model_alone(alone: dict[str, float]) -> None:
    print("\nthe demo model alone (ms per image)")
    print(f"  ours, one image per synchronous call              {1e3 * alone['single']:7.2f}")
    print(f"  ours, batched as RISE sends it (in-graph blend)  {1e3 * alone['batched']:7.2f}")
    if "oxai_single" in alone:
        print(f"  openvino-xai, one image per call (model_forward)  {1e3 * alone['oxai_single']:7.2f}")
        print(
            f"  -> the most any batching can save per model call here: {alone['oxai_single'] / alone['batched']:.2f}x "
            "(openvino-xai's model alone ÷ ours batched)"
        )


def _summary(rows: list[Row], heavy: list[str], every: list[str]) -> None:
    by = {r.name: r for r in rows if r.times}
    print("\nsummary (this run only)")
    for row in rows:
        theirs = by.get(row.partner or "")
        if theirs is None or not row.times:
            continue
        ratios = [(t1 / c1) / (t2 / c2) for t1, c1, t2, c2 in zip(theirs.times, theirs.calls, row.times, row.calls)]
        print(
            f"  cost per model call, openvino-xai / ours, paired photo by photo: {np.median(ratios):.2f}x "
            f"({theirs.name} vs {row.name}; per photo {', '.join(f'{r:.2f}' for r in ratios)})"
        )
    fast = by.get("ours RISE() = 256, 4+7+10 cells, blur+mean, raw")
    host = by.get("ours RISE(), masks blended on the host")
    if fast and host:
        n = min(len(fast.times), len(host.times))
        gain = np.median(np.asarray(host.times[:n]) / np.asarray(fast.times[:n]))
        print(f"  masks blended in the graph (fixed batch of 2) instead of on the host: {gain:.2f}x faster")
    for reference_name, photos, limit in ((OX_BALANCE, every, 2.0), (OX_AISE, every, 0.5)):
        reference = by.get(reference_name)
        if reference is None or not reference.quality:
            continue
        goal_d, goal_a = _mean(reference, "difference", photos), _mean(reference, "adcc", photos)
        goal_h = _mean(reference, "held_out", photos)
        print(
            f"  {reference.name} on {len(photos)} photos: difference {goal_d:.3f}, ADCC {goal_a:.3f} "
            f"(held-out protocol difference {goal_h:.3f}); ours:"
        )
        for r in rows:
            if r.quality and set(photos) <= set(r.photos) and r.oxai is None:
                d, a, h = _mean(r, "difference", photos), _mean(r, "adcc", photos), _mean(r, "held_out", photos)
                t = float(np.median([t for n, t in zip(r.photos, r.times) if n in photos]))
                checks = (("difference", d >= goal_d), ("ADCC", a >= goal_a), ("held-out difference", h >= goal_h))
                verdict = (
                    "matches or beats all three"
                    if all(ok for _, ok in checks)
                    else "below on " + " and ".join(k for k, ok in checks if not ok)
                )
                fast_enough = "within" if t <= limit else "over"
                print(f"    {r.name:44} {t:6.2f} s/image ({fast_enough} {limit:g} s)  {verdict}")


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
    rows = _configs(args.quick, heavy, names[:1], names, use_oxai)
    by = {r.name: r for r in rows}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        oxai = _Oxai(Path(tmp))
        for row in rows:
            if row.method is None:
                continue
            ours = _Ours(row, photos, targets)
            theirs = by.get(row.partner or "")
            for name in row.photos:
                if theirs is not None and name in theirs.photos:  # alternate: both see the same machine load
                    oxai.explain(theirs, name, photos[name], targets[name])
                    print(f"  {theirs.name} / {name}: {theirs.times[-1]:.2f} s", file=sys.stderr, flush=True)
                ours.run(name)
        oxai_rows = [r for r in rows if r.oxai is not None and r.maps]
        if oxai_rows:
            oxai.score(oxai_rows, pipeline, photos, targets)
        alone = _model_alone(photos, oxai if use_oxai else None)

    print(f"demo model EfficientNet-Lite0; top-1 targets {targets}")
    print(
        "quality: insertion/deletion AUC (30 steps, blur / mean substrates, softmax score), their difference; ADCC "
        "with its coherency, complexity and average drop (mean base)"
    )
    _speed_table(rows)
    _print_model_alone(alone)
    _quality_table(rows, heavy, f"quality on {len(heavy)} photos: {', '.join(heavy)}")
    if not args.quick:
        _quality_table(rows, names, f"quality on all {len(names)} photos")
        _summary(rows, heavy, names)
    print(f"\nbench wall time {time.perf_counter() - start:.0f} s")
    if args.json:
        records = [
            {"name": r.name, "photos": r.photos, "times": r.times, "calls": r.calls, "quality": r.quality} for r in rows
        ]
        records.append({"name": "model alone", "seconds_per_image": alone})
        args.json.write_text(json.dumps(records, indent=1, default=float))


if __name__ == "__main__":
    main()
