"""Cross-check: saliencykit's insertion/deletion AUC and ADCC against openvino-xai 1.1's, on the same maps.

This process (the main environment) explains the demo photos with ReciproCAM, computes our metrics under
openvino-xai's settings (black substrate, 30 steps, softmax, ADCC masking towards black) and writes the pixels,
maps and targets to an .npz; then bench/oxai_metrics.py computes openvino-xai's numbers on that .npz inside
bench/.venv-oxai (openvino 2024.4, numpy 1.x: `make bench-oxai`), and the two are compared.

Kept equal on purpose so that only the metric implementations differ:
- pixels: the photo resized to 224 x 224 once, here; both sides normalise it the same way;
- insertion/deletion map: the ReciproCAM map at 224 x 224 replaced by its rank (ties broken once, here), because
  openvino-xai sorts with numpy's unstable quicksort and we sort stably, so tied pixels could be ordered
  differently — the values differ, the ranking both use is the same;
- ADCC: the ReciproCAM map itself; coherency's re-explained map is computed here by our explainer on the masked
  image and handed to openvino-xai (a stand-in for its Explainer), so both correlate the same two maps;
- precision: openvino-xai compiles with OpenVINO's defaults (bf16 on CPUs that have it); the comparison uses
  f32 on both sides, and the default-compiled numbers are printed beside it for information.
The last column shows our defaults (blur substrate, ADCC masking towards the preprocessing mean) for contrast.
Usage: python bench/metrics_crosscheck.py [--steps 30] [--tolerance 1e-3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from _common import row, run_oxai

import saliencykit as sk
from saliencykit import metrics as M

KEYS = ("insertion", "deletion", "adcc", "average_drop", "coherency", "complexity")


def rank_map(saliency: np.ndarray, seed: int = 0) -> np.ndarray:
    """The map's ranking as unique float32 values k / N (ties broken by a seeded random order)."""
    flat = saliency.ravel().astype(np.float64)
    tie_break = np.random.default_rng(seed).permutation(flat.size)
    order = np.lexsort((tie_break, flat))  # ascending by value, then by the random key
    ranks = np.empty(flat.size, np.float32)
    ranks[order] = np.arange(flat.size, dtype=np.float32) / flat.size
    return ranks.reshape(saliency.shape)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--tolerance", type=float, default=1e-3)
    args = parser.parse_args()
    explainer = sk.demo.explainer()
    pipeline = explainer.pipeline
    photos = sk.demo.photos()
    data: dict[str, list] = {k: [] for k in ("pixels", "targets", "id_maps", "adcc_maps", "reexplained")}
    ours, defaults = [], []
    for image in photos.values():
        pixels = pipeline.pixels(image)
        explanation = explainer(image)
        target = explanation.targets[0]
        saliency = explanation.map(target, size=pixels.shape[:2])
        ranked = rank_map(saliency)
        seen = []

        def explain(masked, t, seen=seen, size=pixels.shape[:2]):
            again = explainer(masked, targets=[t]).map(t, size=size)
            seen.append(again)
            return again

        r = M.insertion_deletion_auc(
            explainer, pixels.astype(np.uint8), ranked, target, steps=args.steps, substrate="black"
        )
        a = M.adcc(explainer, pixels.astype(np.uint8), saliency, target, explain, base="black")
        d = M.insertion_deletion_auc(explainer, image, saliency, target, steps=args.steps)
        da = M.adcc(explainer, image, saliency, target)
        ours.append({"insertion": r.insertion, "deletion": r.deletion, **{k: getattr(a, k) for k in KEYS[2:]}})
        defaults.append({"insertion": d.insertion, "deletion": d.deletion, **{k: getattr(da, k) for k in KEYS[2:]}})
        for key, value in (("pixels", pixels), ("targets", target), ("id_maps", ranked), ("adcc_maps", saliency)):
            data[key].append(value)
        data["reexplained"].append(seen[0])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "crosscheck.npz"
        np.savez(
            path,
            model_path=np.asarray(str(sk.demo.model_path())),
            steps=np.asarray(args.steps),
            **{k: np.stack(v) for k, v in data.items()},
        )
        theirs = run_oxai("oxai_metrics.py", str(path))
    names = list(photos)
    print(f"insertion/deletion ({args.steps} steps, black substrate, softmax) and ADCC (masking towards black)")
    print("on ReciproCAM maps of the demo photos; 'ours' and 'openvino-xai' use the same maps and settings\n")
    row("photo / value", "ours", "openvino-xai", "|difference|", "oxai default", "ours default")
    worst = 0.0
    for i, name in enumerate(names):
        for key in KEYS:
            mine = ours[i][key]
            if theirs is None:
                row(f"{name} {key}", f"{mine:.5f}", "-", "-", "-", f"{defaults[i][key]:.5f}")
                continue
            other, loose = theirs["f32"][i][key], theirs["default"][i][key]
            worst = max(worst, abs(mine - other))
            row(
                f"{name} {key}",
                f"{mine:.5f}",
                f"{other:.5f}",
                f"{abs(mine - other):.1e}",
                f"{loose:.5f}",
                f"{defaults[i][key]:.5f}",
            )
    if theirs is None:
        print("\nopenvino-xai not run: build its environment with `make bench-oxai`")
        return
    means = {k: (np.mean([o[k] for o in ours]), np.mean([t[k] for t in theirs["f32"]])) for k in KEYS}
    print()
    for key, (mine, other) in means.items():
        row(f"mean {key}", f"{mine:.5f}", f"{other:.5f}", f"{abs(mine - other):.1e}")
    verdict = "PASS" if worst <= args.tolerance else "FAIL"
    print(f"\nlargest |ours - openvino-xai| = {worst:.2e} (tolerance {args.tolerance:g}): {verdict}")
    if worst > args.tolerance:
        sys.exit(1)


if __name__ == "__main__":
    main()
