"""Quality against model calls for black-box candidates: the search that chose ``RISE()``'s default.

    .venv/bin/python bench/blackbox_search.py                       # 8 dev photos from the 51st, 5 budgets
    .venv/bin/python bench/blackbox_search.py --budgets 96,320 --only "default;=ridge"

Each candidate makes the top-1 map of each photo at each budget (model calls per image); each map is scored with
a quick version of ``bench/judge.py``: insertion - deletion with pixels ranked one by one, 8 steps, under every
removal substrate of the judge (two blurs, black, grey, noise, a down-sampled copy). The table gives the mean over
substrates per budget (the curve) and, at one budget, each substrate on its own, so a candidate that wins only
where its perturbation matches the judge's shows it. The photos are not the judge's (it takes the first 20 dev
photos; this takes 8 from the 51st on), so the default is chosen on other photos than those it is judged on.

Candidates (all with the orthogonal design and the centered estimator unless named):
- ``default``: ``RISE()``'s configuration at each budget (4 + 7 + 10 cells, blur + mean, equal weight, raw);
- ``one grid 10, raw`` / ``one grid 7, raw``: one grid size, both substrates, raw;
- ``previous default (soft)``: 10 cells, both substrates, the smoothed tanh output (the default before this one);
- ``balance config``: openvino-xai's configuration (mean fill, 8 cells, linear) at a smaller budget;
- ``ridge``: the default's masks and scores, but the map is a ridge regression of the scores on the masks (at
  1/4 of the side) instead of the weighted average: the estimator behind kernel SHAP and Sobol' indices;
- ``blur only`` / ``mean only``: the default's grids with one substrate.

Scores are cached in ``bench/.cache/search/``. Precision: f32.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
from _common import BENCH
from judge import DEV, SUBSTRATES, substrate, trapezoid

import saliencykit as sk
from saliencykit.methods import rise as rise_module
from saliencykit.metrics import insertion_deletion_auc

CACHE = BENCH / ".cache" / "search"
STEPS = 8
GRIDS = (4, 7, 10)


class RidgeAccumulator(rise_module.Accumulator):
    """Keeps the masks (at 1/4 of the side) and scores; the map is a ridge fit of the scores on the masks."""

    DOWN = 4
    RIDGE = 1.0  # lambda, relative to the mean diagonal of the masks' Gram matrix

    def __init__(self, num_targets: int, num_pixels: int, estimator: str) -> None:
        super().__init__(num_targets, num_pixels, "centered")
        self.side = int(round(num_pixels**0.5))
        self.masks: list[np.ndarray] = []
        self.scores: list[np.ndarray] = []

    def add(self, scores: np.ndarray, masks: np.ndarray) -> None:
        super().add(scores, masks)
        s, d = self.side, self.DOWN
        small = masks.reshape(len(masks), s // d, d, s // d, d).mean(axis=(2, 4))
        self.masks.append(small.reshape(len(masks), -1))
        self.scores.append(np.asarray(scores, np.float64))

    def result(self, prob: float) -> np.ndarray:
        x = np.concatenate(self.masks).astype(np.float64)
        y = np.concatenate(self.scores)
        x -= x.mean(axis=0)
        y = y - y.mean(axis=0)
        gram = x @ x.T
        lam = self.RIDGE * np.trace(gram) / len(gram)
        beta = x.T @ np.linalg.solve(gram + lam * np.eye(len(gram)), y)  # (P_small, T)
        s = self.side // self.DOWN
        maps = [cv2.resize(b.reshape(s, s).astype(np.float32), (self.side, self.side)) for b in beta.T]
        return np.stack(maps).reshape(len(maps), -1).astype(np.float64)


@contextlib.contextmanager
def ridge_estimator() -> Iterator[None]:
    """RISE's streaming sums replaced by the ridge fit, for the ``ridge`` candidate only."""
    original = rise_module.Accumulator
    rise_module.Accumulator = RidgeAccumulator  # type: ignore[misc]
    try:
        yield
    finally:
        rise_module.Accumulator = original  # type: ignore[misc]


def candidates() -> dict[str, tuple[Callable[[int], object], bool]]:
    """name -> (budget -> method, uses the ridge estimator)."""
    rise = sk.methods.RISE
    both = ("blur", "mean")
    return {
        "default": (lambda n: rise(num_masks=n), False),
        "one grid 10, raw": (lambda n: rise(num_masks=n, num_cells=10, substrates=both, output="raw"), False),
        "one grid 7, raw": (lambda n: rise(num_masks=n, num_cells=7, substrates=both, output="raw"), False),
        "previous default (soft)": (
            lambda n: rise(num_masks=n, num_cells=10, substrates=both, output="soft", combine="sum"),
            False,
        ),
        "balance config": (lambda n: rise(preset="balance", num_masks=n), False),
        "ridge": (lambda n: rise(num_masks=n), True),
        "blur only": (lambda n: rise(num_masks=n, substrates=("blur",)), False),
        "mean only": (lambda n: rise(num_masks=n, substrates=("mean",)), False),
    }


def load_photos(start: int, limit: int) -> dict[str, np.ndarray]:
    with open(DEV / "labels.csv") as f:
        names = [row["path"] for row in csv.DictReader(f)][start : start + limit]
    return {Path(n).stem: sk.read_image(DEV / n) for n in names}


def quick_judge(pipeline, image: np.ndarray, saliency: np.ndarray, target: int) -> dict[str, float]:
    """``insertion - deletion`` per removal substrate: pixel order, ``STEPS`` steps."""
    pixels = pipeline.pixels(image)
    out = {}
    for name in SUBSTRATES:
        r = insertion_deletion_auc(
            pipeline, image, saliency, target, steps=STEPS, substrate=substrate(pixels, name, pipeline.fill)
        )
        out[name] = trapezoid(r.insertion_curve) - trapezoid(r.deletion_curve)
    return out


def run(names: list[str], budgets: list[int], photos: dict[str, np.ndarray]) -> dict:
    pipeline = sk.demo.pipeline()
    targets = {n: int(np.argmax(s)) for n, s in zip(photos, pipeline.predict(list(photos.values())))}
    table: dict[str, dict[int, dict[str, list[float]]]] = {}
    seconds: dict[str, dict[int, list[float]]] = {}
    made = candidates()
    for name in names:
        make, ridge = made[name]
        for budget in budgets:
            folder = CACHE / name.replace(" ", "_").replace(",", "").replace("(", "").replace(")", "") / str(budget)
            folder.mkdir(parents=True, exist_ok=True)
            explainer = None
            for photo, image in photos.items():
                path = folder / f"{photo}.json"
                if not path.exists():
                    explainer = explainer or sk.demo.explainer(method=make(budget))
                    with warnings.catch_warnings(), ridge_estimator() if ridge else contextlib.nullcontext():
                        warnings.simplefilter("ignore")
                        e = explainer(image, targets=[targets[photo]], keep_image=False)
                    scores = quick_judge(pipeline, image, e.maps[targets[photo]], targets[photo])
                    path.write_text(json.dumps({"scores": scores, "seconds": e.stats["wall_time_s"]}))
                one = json.loads(path.read_text())
                cell = table.setdefault(name, {}).setdefault(budget, {})
                for sub, v in one["scores"].items():
                    cell.setdefault(sub, []).append(v)
                seconds.setdefault(name, {}).setdefault(budget, []).append(one["seconds"])
            print(f"  {name} @ {budget}", file=sys.stderr, flush=True)
    return {"table": table, "seconds": seconds}


def report(result: dict, budgets: list[int], detail: int, n: int) -> dict:
    table = result["table"]
    curve = {
        name: {b: float(np.mean([np.mean(v) for v in per[b].values()])) for b in budgets} for name, per in table.items()
    }
    width = max(len(n) for n in table) + 2
    print(f"\nquality vs model calls: insertion - deletion, mean of {len(SUBSTRATES)} substrates, {n} photos, f32")
    print("candidate".ljust(width) + "".join(f"{b:>8}" for b in budgets))
    for name, row in curve.items():
        print(name.ljust(width) + "".join(f"{row[b]:8.3f}" for b in budgets))
    if detail in budgets:
        print(f"\nat {detail} model calls, per substrate (pixel order, {STEPS} steps)")
        print("candidate".ljust(width) + "".join(f"{s:>8}" for s in SUBSTRATES) + "    mean   worst   s/img")
        for name, per in table.items():
            subs = {s: float(np.mean(per[detail][s])) for s in SUBSTRATES}
            secs = float(np.median(result["seconds"][name][detail]))
            print(
                name.ljust(width)
                + "".join(f"{subs[s]:8.3f}" for s in SUBSTRATES)
                + f"{np.mean(list(subs.values())):8.3f}{min(subs.values()):8.3f}{secs:8.2f}"
            )
    return {"curve": curve, "photos": n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start", type=int, default=50, help="first dev photo (0-based)")
    parser.add_argument("--limit", type=int, default=8, help="how many dev photos")
    parser.add_argument("--budgets", default="96,192,320,640,1280", help="model calls per image (comma list)")
    parser.add_argument("--detail", type=int, default=320, help="the budget shown substrate by substrate")
    parser.add_argument(
        "--only", default=None, help="candidates whose name contains one of these (';' list; '=name' exact)"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    names = list(candidates())
    if args.only:
        wanted = [w.strip().lower() for w in args.only.split(";")]
        names = [n for n in names if any(n.lower() == w[1:] if w.startswith("=") else w in n.lower() for w in wanted)]
    photos = load_photos(args.start, args.limit)
    start = time.perf_counter()
    result = report(run(names, budgets, photos), budgets, args.detail, len(photos))
    print(f"\n{time.perf_counter() - start:.0f} s in all")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
