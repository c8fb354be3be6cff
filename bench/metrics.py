"""Cost of the quality metrics on the demo model, per image, measured side by side in one run.

Prints the median seconds per image (over the demo photos) of each metric with ReciproCAM maps:
insertion/deletion (30 steps: all steps of an image in one batch), the same computed one image per inference
(how openvino-xai runs it), ADCC (two inferences plus one re-explanation), the pointing game, and the
randomisation check (per stage: rebuilding and compiling the randomised graph, then one explanation per image).
When openvino-xai's side environment exists (`make bench-oxai`), its InsertionDeletionAUC and ADCC are timed on
the same pixels for comparison. Target: insertion/deletion <= 0.5 s per image on 2 cores.
Usage: python bench/metrics.py [--repeat 5] [--steps 30]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import median_seconds, row, run_oxai

import saliencykit as sk
from saliencykit import metrics as M


def per_image(fn, items, repeat: int) -> float:
    return float(np.median([median_seconds(lambda item=item: fn(item), repeat=repeat, warmup=1) for item in items]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    explainer = sk.demo.explainer()
    pipeline = explainer.pipeline
    photos = sk.demo.photos()
    boxes = sk.demo.boxes()
    items = []
    for name, image in photos.items():
        explanation = explainer(image)
        target = explanation.targets[0]
        items.append((name, image, target, explanation.map(target)))

    def one_by_one(batch: np.ndarray) -> np.ndarray:
        return np.concatenate([pipeline.predict_pixels(x[None]) for x in batch])

    steps = args.steps
    explain_s = per_image(lambda it: explainer(it[1]), items, args.repeat)
    pixels = {it[0]: pipeline.pixels(it[1]) for it in items}
    # batched and one-per-inference runs alternate, so that a change in the machine's load hits both alike
    batched_runs, single_runs, inference_runs = [], [], []
    for name, image, target, saliency in items:
        M.insertion_deletion_auc(explainer, image, saliency, target, steps=steps)  # warm-up
        same_count = np.repeat(pixels[name][None], 2 * steps, axis=0)
        for _ in range(args.repeat):
            start = time.perf_counter()
            pipeline.predict_pixels(same_count)
            inference_runs.append(time.perf_counter() - start)
            start = time.perf_counter()
            M.insertion_deletion_auc(explainer, image, saliency, target, steps=steps)
            batched_runs.append(time.perf_counter() - start)
            start = time.perf_counter()
            M.insertion_deletion_auc(one_by_one, pixels[name], saliency, target, steps=steps)
            single_runs.append(time.perf_counter() - start)
    batched, single = float(np.median(batched_runs)), float(np.median(single_runs))
    adcc_s = per_image(lambda it: M.adcc(explainer, it[1], it[3], it[2]), items, args.repeat)
    boxed = [it for it in items if it[0] in boxes]
    pointing_s = per_image(
        lambda it: M.pointing_game(
            it[3], boxes=[o["box"] for o in boxes[it[0]]["objects"]], image_size=it[1].shape[:2]
        ),
        boxed,
        args.repeat,
    )
    images = [it[1] for it in items]
    stages = [1, 8, len(M.layer_names(pipeline.ov_model))]
    start = time.perf_counter()
    result = M.model_randomization(explainer, images, stages=stages)
    randomization_s = (time.perf_counter() - start) / (len(stages) * len(images))
    load = os.getloadavg()[0]
    print(f"demo model (EfficientNet-Lite0, 224 x 224), {len(items)} photos, ReciproCAM maps; median s per image")
    print(f"{os.cpu_count()} cores, load average {load:.2f} at the end of the run (other processes slow every row)")
    row("metric", "s per image", "inferences", "fastest run")
    row("explain (ReciproCAM, for reference)", f"{explain_s:.3f}", "1")
    row(f"insertion/deletion, {steps} steps, batched", f"{batched:.3f}", f"{2 * steps}", f"{min(batched_runs):.3f}")
    row(
        f"insertion/deletion, {steps} steps, 1 per inference",
        f"{single:.3f}",
        f"{2 * steps}",
        f"{min(single_runs):.3f}",
    )
    row("  batched speed-up", f"{single / batched:.2f}x")
    inference = float(np.median(inference_runs))
    row(f"  of which model inference ({2 * steps} images)", f"{inference:.3f}", "", f"{min(inference_runs):.3f}")
    row("ADCC (2 inferences + 1 re-explanation)", f"{adcc_s:.3f}", "3")
    row("pointing game (map already computed)", f"{pointing_s:.4f}", "0")
    row(f"randomisation, per stage and image ({len(stages)} stages)", f"{randomization_s:.3f}", "1 + compile")
    print(
        f"randomisation check on {len(images)} photos, stages {stages}: passed={result.passed}, "
        f"Spearman by stage {[round(s.mean_spearman, 3) for s in result.stages]}"
    )
    verdict = "met" if batched <= 0.5 else "NOT met"
    print(f"target insertion/deletion <= 0.5 s per image (median): {verdict} ({batched:.3f} s)")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "timing.npz"
        np.savez(
            path,
            model_path=np.asarray(str(sk.demo.model_path())),
            steps=np.asarray(steps),
            pixels=np.stack([pixels[it[0]] for it in items]),
            targets=np.asarray([it[2] for it in items]),
        )
        oxai = run_oxai("oxai_metrics.py", "time", str(path), str(max(1, args.repeat // 2)))
    if oxai:
        row(f"openvino-xai 1.1 insertion/deletion, {steps} steps", f"{oxai['insertion_deletion_s']:.3f}")
        row("openvino-xai 1.1 ADCC", f"{oxai['adcc_s']:.3f}")
        row("ours ÷ openvino-xai, insertion/deletion", f"{batched / oxai['insertion_deletion_s']:.2f}")
        row("ours ÷ openvino-xai, ADCC", f"{adcc_s / oxai['adcc_s']:.2f}")


if __name__ == "__main__":
    main()
