"""Explaining a real segmentation model (MediaPipe's pose_landmark_full, person mask): time per explanation of each
method against one inference, and where the person region's map points.

    .venv/bin/python bench/segmentation.py            # a few minutes on 2 cores
    .venv/bin/python bench/segmentation.py --quick    # a smoke run: two inputs, small budgets

Inputs: the astronaut photo and composites of her on other demo photos (``saliencykit.segmentation.demo.
person_scenes``), each with her mask. For every method it explains the "person" region (mean person probability
over the predicted person) and prints the median wall time per image, model calls per image, the time relative to
one plain inference (``explainer.predict``: resize, inference, reading the map), the share of inputs whose map
peaks on her (pointing game, tolerance 0) and the median share of the top-20 % energy that lies on her
(``saliencykit.metrics.top_energy_share``). Segmentation has no white-box method (see
``saliencykit.tasks.segmentation``). The last row explains the pose-presence flag through a custom scorer.

Timings are noisy on a shared 2-core machine: rows are measured in one run, one after the other.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import median_seconds, row

from saliencykit.methods import registry
from saliencykit.metrics import pointing_game, top_energy_share
from saliencykit.segmentation import demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two inputs and small budgets")
    args = parser.parse_args()
    scenes = demo.person_scenes(2 if args.quick else None)
    rise, aise = registry.lookup("rise"), registry.lookup("aise")
    configs = [
        ("RISE 128 masks, 8 cells", "segmentation", lambda: rise.create("segmentation", num_masks=128, num_cells=8)),
        ("RISE default (256 masks, 4+7+10 cells)", "segmentation", lambda: rise.create("segmentation")),
        ("AISE speed (20 x 3 widths)", "segmentation", lambda: aise.create("segmentation", preset="speed")),
        ("presence scorer, RISE 128 masks", "scalar", lambda: rise.create("scalar", num_masks=128, num_cells=8)),
    ]
    if args.quick:
        configs = [configs[0], configs[2], configs[3]]

    plain = demo.pose_explainer()
    one = float(np.median([median_seconds(lambda s=s: plain.predict([s.image]), repeat=10) for s in scenes]))
    print(f"pose_landmark_full.tflite (person segmentation), {len(scenes)} inputs, median per image")
    row("method", "time / image", "model calls", "x one inference", "peak on person", "top-20% on her")
    row("one inference (predict)", f"{one * 1000:.2f} ms", "1", "1.0", "-", "-")
    for name, task, make in configs:
        if task == "scalar":
            explainer = demo.presence_explainer(method=make())
            target: object = 0
        else:
            explainer = demo.pose_explainer(method=make())
            target = "person"
        explainer(scenes[0].image, targets=target)  # compile and warm up
        times, calls, hits, shares = [], [], [], []
        for scene in scenes:
            start = time.perf_counter()
            explanation = explainer(scene.image, targets=target)
            times.append(time.perf_counter() - start)
            calls.append(explanation.stats["model_calls"])
            key = explanation.targets[0]
            saliency = explanation.map(key, size=scene.mask.shape)
            hits.append(pointing_game(saliency, mask=scene.mask, tolerance=0).hit)
            shares.append(top_energy_share(saliency, scene.mask))
        t = float(np.median(times))
        row(name, f"{t:.2f} s", f"{np.median(calls):.0f}", f"{t / one:.0f}", f"{np.mean(hits):.0%}",
            f"{np.median(shares):.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
