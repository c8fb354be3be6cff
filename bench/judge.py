"""A faithfulness judge that is hard to game: insertion and deletion under a battery of removal protocols.

    .venv/bin/python bench/judge.py --limit 20                     # dev photos, 20 of them, our methods
    .venv/bin/python bench/judge.py --photos demo                  # the five demo photos
    .venv/bin/python bench/judge.py --oxai                         # + openvino-xai RISE-5000 and AISE anchors

A method can look faithful under one protocol because it perturbs the image the way that protocol removes pixels,
or because its output is shaped the way that protocol's ranking rewards. So every map is judged under many
protocols and each is reported on its own, with the mean, and with a flag on any method whose rank changes:

- substrates (what a removed pixel becomes): Gaussian blur of sigma 5 px and 20 px, black, the preprocessing mean
  (grey), seeded uniform noise, and a heavily down-sampled copy (1/16 of the side, bilinear back up);
- granularity: pixels ranked one by one, and 16 x 16 px blocks ranked by their mean saliency (a map cannot win on
  block removal by ordering single pixels cleverly);
- steps: 32 increments and 8 (the 8-step curve is every fourth point of the 32-step one: the same images);
- insertion (from the substrate, most salient pixels first) and deletion (to the substrate, most salient first).
  The least-relevant-first (LeRF) curves are the same images in reverse order, so their areas equal these (LeRF
  insertion = MoRF deletion); they are not computed twice.

Each protocol's score is ``insertion - deletion`` (both with the same substrate); the cross-substrate pairs that an
outside judge used (blur in / black out, grey in / grey out, blur in / blur out) and the metrics module's standard
(blur in / mean out) are reported as well: an insertion and a deletion curve are independent, so any pair is a
difference of two curves measured here. The target is the model's top-1 class on each photo. Precision: f32.

Maps and their scores are cached per method and photo in ``bench/.cache/judge/`` (delete it to recompute): the
anchors take minutes per photo. Explanation time and model calls are recorded when a map is made.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from _common import BENCH, OXAI_PYTHON

import saliencykit as sk
from saliencykit.metrics import insertion_deletion_auc

DEV = BENCH.parents[1] / "shared" / "data" / "imagenet-sample-dev"
CACHE = BENCH / ".cache" / "judge"
STEPS = 32
COARSE = 4  # the 8-step curve: every 4th point of the 32-step curve
BLOCK = 16
#: photos per openvino-xai job (its maps are cached when a job ends)
OXAI_CHUNK = 5
SUBSTRATES = ("blur5", "blur20", "black", "grey", "noise", "down16")
#: cross-substrate pairs (insertion substrate, deletion substrate)
PAIRS = {
    "standard (blur5 in, grey out)": ("blur5", "grey"),
    "blur5 in, black out": ("blur5", "black"),
    "grey in, grey out": ("grey", "grey"),
    "blur5 in, blur5 out": ("blur5", "blur5"),
}


def substrate(pixels: np.ndarray, name: str, fill: np.ndarray) -> np.ndarray:
    """The image a removed pixel is taken from, for substrate ``name`` (float32 H x W x 3, 0..255)."""
    h, w = pixels.shape[:2]
    if name.startswith("blur"):
        sigma = float(name[4:])
        k = int(6 * sigma) | 1
        return cv2.GaussianBlur(pixels, (k, k), sigmaX=sigma, borderType=cv2.BORDER_REFLECT_101)
    if name == "black":
        return np.zeros_like(pixels)
    if name == "grey":
        return np.broadcast_to(np.asarray(fill, np.float32), pixels.shape).copy()
    if name == "noise":
        return np.random.default_rng(1234).uniform(0, 255, pixels.shape).astype(np.float32)
    if name.startswith("down"):
        f = int(name[4:])
        small = cv2.resize(pixels, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    raise ValueError(name)


def block_map(saliency: np.ndarray, size: tuple[int, int], block: int = BLOCK) -> np.ndarray:
    """The map at ``size`` averaged over ``block`` x ``block`` squares (each square ranked as one)."""
    h, w = size
    m = cv2.resize(np.asarray(saliency, np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    small = cv2.resize(m, (max(1, w // block), max(1, h // block)), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)


def trapezoid(curve: np.ndarray) -> float:
    y = np.asarray(curve, np.float64)
    return float((y.sum() - 0.5 * (y[0] + y[-1])) / (y.size - 1))


def judge_map(pipeline, image: np.ndarray, saliency: np.ndarray, target: int) -> dict[str, float]:
    """Insertion and deletion AUC of one map under every (substrate, granularity, steps) protocol."""
    pixels = pipeline.pixels(image)
    h, w = pixels.shape[:2]
    out: dict[str, float] = {}
    maps = {"px": saliency, "blk": block_map(saliency, (h, w))}
    for name in SUBSTRATES:
        sub = substrate(pixels, name, pipeline.fill)
        for grain, m in maps.items():
            r = insertion_deletion_auc(pipeline, image, m, target, steps=STEPS, substrate=sub)
            for steps, stride in ((STEPS, 1), (STEPS // COARSE, COARSE)):
                key = f"{name}/{grain}/{steps}"
                out[f"{key}/ins"] = trapezoid(r.insertion_curve[::stride])
                out[f"{key}/del"] = trapezoid(r.deletion_curve[::stride])
    return out


# --- photos and methods --------------------------------------------------------------------------------------


def load_photos(which: str, limit: int | None) -> dict[str, np.ndarray]:
    photos: dict[str, np.ndarray] = {}
    if which in ("dev", "both"):
        if not DEV.is_dir():
            sys.exit(f"{DEV}: the development photos are missing")
        with open(DEV / "labels.csv") as f:
            names = [row["path"] for row in csv.DictReader(f)]
        for name in names[:limit]:
            photos[Path(name).stem] = sk.read_image(DEV / name)
    if which in ("demo", "both"):
        photos.update(sk.demo.photos())
    return photos


@dataclass
class Method:
    name: str
    make: Callable[[], object] | None = None  # ours: a saliencykit method object
    oxai: dict | None = None  # openvino-xai: {"method": "rise"|"aise", "kwargs": {...}}


def our_methods() -> list[Method]:
    m = sk.methods
    return [
        Method("ours ReciproCAM (white-box)", lambda: m.ReciproCAM()),
        Method("ours RISE() default (256 masks, 4+7+10 cells)", lambda: m.RISE()),
        Method("ours RISE 320, 4+7+10, blur+mean", lambda: m.RISE(num_masks=320)),
        Method("ours RISE 320, 4+7+10, mean only", lambda: m.RISE(num_masks=320, substrates=("mean",))),
        Method("ours RISE 192, 4+7+10, blur+mean", lambda: m.RISE(num_masks=192)),
        Method(
            "ours RISE previous default (384, soft)",
            lambda: m.RISE(num_masks=384, num_cells=10, substrates=("blur", "mean"), output="soft", combine="sum"),
        ),
        Method("ours RISE balance (5000 masks)", lambda: m.RISE(preset="balance")),
        Method("ours AISE balance", lambda: m.AISE()),
    ]


def oxai_methods() -> list[Method]:
    return [
        Method("openvino-xai RISE balance (5000)", oxai={"method": "rise", "kwargs": {"preset": "balance"}}),
        Method("openvino-xai AISE balance", oxai={"method": "aise", "kwargs": {"preset": "balance"}}),
    ]


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")


def maps_for(method: Method, photos: dict[str, np.ndarray], targets: dict[str, int]) -> dict[str, dict]:
    """``photo -> {"map", "seconds", "calls"}``, from the cache or computed now."""
    folder = CACHE / _slug(method.name)
    folder.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    todo = []
    for name in photos:
        path = folder / f"{name}_{targets[name]}.npz"
        if path.exists():
            with np.load(path) as z:
                results[name] = {"map": z["map"], "seconds": float(z["seconds"]), "calls": int(z["calls"])}
        else:
            todo.append(name)
    if todo and method.make is not None:
        explainer = sk.demo.explainer(method=method.make())
        for name in todo:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                e = explainer(photos[name], targets=[targets[name]], keep_image=False)
            calls = int(e.stats.get("model_calls", 1))
            results[name] = {"map": e.maps[targets[name]], "seconds": float(e.stats["wall_time_s"]), "calls": calls}
            np.savez(folder / f"{name}_{targets[name]}.npz", **results[name])
            print(f"  {method.name}: {name} {results[name]['seconds']:.2f} s", file=sys.stderr, flush=True)
    else:  # a few photos per openvino-xai job, so an interrupted run keeps the maps already made
        for start in range(0, len(todo), OXAI_CHUNK):
            chunk = todo[start : start + OXAI_CHUNK]
            results.update(_oxai_maps(method, {n: photos[n] for n in chunk}, targets, folder))
    return results


def _oxai_maps(method: Method, photos: dict[str, np.ndarray], targets: dict[str, int], folder: Path) -> dict:
    if not OXAI_PYTHON.exists():
        print(f"skipping {method.name}: run `make bench-oxai` first", file=sys.stderr)
        return {}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "in.npz", **photos)
        job = {
            "model": str(sk.demo.model_path()),
            "images": str(Path(tmp) / "in.npz"),
            "output": str(Path(tmp) / "out.npz"),
            "jobs": [{"name": "job", **method.oxai, "images": list(photos), "targets": [targets[n] for n in photos]}],
        }
        (Path(tmp) / "job.json").write_text(json.dumps(job))
        subprocess.run([str(OXAI_PYTHON), str(BENCH / "oxai_blackbox.py"), str(Path(tmp) / "job.json")], check=True)
        with np.load(Path(tmp) / "out.npz") as z:
            for k, name in enumerate(photos):
                one = {"map": z[f"job/{name}"], "seconds": float(z["job/times"][k]), "calls": int(z["job/calls"][k])}
                np.savez(folder / f"{name}_{targets[name]}.npz", **one)
                results[name] = one
    return results


# --- tables ------------------------------------------------------------------------------------------------------


def protocol_scores(scores: dict[str, float]) -> dict[str, float]:
    """``insertion - deletion`` per protocol (same substrate both ways), and the cross-substrate pairs."""
    out = {}
    for name in SUBSTRATES:
        for grain in ("px", "blk"):
            for steps in (STEPS, STEPS // COARSE):
                key = f"{name}/{grain}/{steps}"
                out[key] = scores[f"{key}/ins"] - scores[f"{key}/del"]
    for label, (a, b) in PAIRS.items():
        out[label] = scores[f"{a}/px/{STEPS}/ins"] - scores[f"{b}/px/{STEPS}/del"]
    return out


def report(table: dict[str, dict[str, list[float]]], timing: dict[str, tuple[float, float]], n: int) -> dict:
    methods = list(table)
    protocols = list(next(iter(table.values())))
    means = {m: {p: float(np.mean(table[m][p])) for p in protocols} for m in methods}
    ranks = {p: {m: r for r, m in enumerate(sorted(methods, key=lambda m: -means[m][p]), 1)} for p in protocols}
    same = [p for p in protocols if "/" in p]
    width = max(len(m) for m in methods) + 2
    print(f"\ninsertion - deletion, mean over {n} photo(s) (rank in brackets); f32")
    print("protocol".ljust(24) + "".join(m[:22].rjust(26) for m in methods))
    for p in protocols:
        print(p[:24].ljust(24) + "".join(f"{means[m][p]:.3f} ({ranks[p][m]})".rjust(26) for m in methods))
    print(
        "mean of same-substrate".ljust(24)
        + "".join(f"{np.mean([means[m][p] for p in same]):.3f}".rjust(26) for m in methods)
    )
    print("worst protocol".ljust(24) + "".join(f"{min(means[m][p] for p in protocols):.3f}".rjust(26) for m in methods))
    print("\n" + "method".ljust(width) + "s/image".rjust(10) + "calls/image".rjust(14) + "ranks".rjust(10))
    for m in methods:
        seen = sorted({ranks[p][m] for p in protocols})
        flag = "" if len(seen) == 1 else "  <- rank changes across protocols"
        secs, calls = timing[m]
        print(m.ljust(width) + f"{secs:10.2f}{calls:14.0f}" + f"{min(seen)}-{max(seen)}".rjust(10) + flag)
    return {"means": means, "ranks": ranks, "timing": timing, "photos": n}


def judge(methods: list[Method], photos: dict[str, np.ndarray]) -> dict:
    pipeline = sk.demo.pipeline()
    scores = pipeline.predict(list(photos.values()))
    targets = {name: int(np.argmax(s)) for name, s in zip(photos, scores)}
    table: dict[str, dict[str, list[float]]] = {}
    timing: dict[str, tuple[float, float]] = {}
    for method in methods:
        made = maps_for(method, photos, targets)
        if not made:
            continue
        per_protocol: dict[str, list[float]] = {}
        for name, one in made.items():
            cached = CACHE / _slug(method.name) / f"{name}_{targets[name]}.scores.json"
            if cached.exists():
                scores = json.loads(cached.read_text())
            else:
                scores = judge_map(pipeline, photos[name], one["map"], targets[name])
                cached.write_text(json.dumps(scores))
            for p, v in protocol_scores(scores).items():
                per_protocol.setdefault(p, []).append(v)
        table[method.name] = per_protocol
        timing[method.name] = (
            float(np.median([o["seconds"] for o in made.values()])),
            float(np.median([o["calls"] for o in made.values()])),
        )
        print(f"judged {method.name} on {len(made)} photo(s)", file=sys.stderr, flush=True)
    return report(table, timing, len(photos))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", choices=("dev", "demo", "both"), default="dev")
    parser.add_argument("--limit", type=int, default=None, help="use the first N development photos")
    parser.add_argument("--oxai", action="store_true", help="add openvino-xai's RISE-5000 and AISE anchors")
    parser.add_argument("--methods", default=None, help="only methods whose name contains one of these (comma list)")
    parser.add_argument("--json", type=Path, default=None, help="also write the tables as JSON")
    args = parser.parse_args()
    photos = load_photos(args.photos, args.limit)
    methods = our_methods() + (oxai_methods() if args.oxai else [])
    if args.methods:
        wanted = [w.strip().lower() for w in args.methods.split(",")]
        methods = [m for m in methods if any(w in m.name.lower() for w in wanted)]
    start = time.perf_counter()
    result = judge(methods, photos)
    print(f"\n{time.perf_counter() - start:.0f} s in all")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
