"""White-box explain cost on the demo model, measured side by side in one run.

Prints per image: plain inference (resize + inference + softmax), explain (targets top:1, map resized to
the photo) and their ratio — for ReciproCAM's one-pass path, for the general path forced at the default
(7 x 7) layer, for the general path at an earlier 14 x 14 layer, and for openvino-xai 1.1 when its side
environment exists (`make bench-oxai`).
Usage: python bench/whitebox.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from _common import paired_seconds, row, run_oxai

import saliencykit as sk


def last_layer_with_grid(model, size: int) -> str:
    """Friendly name of the last node whose output is an N x C x size x size feature map."""
    name = None
    for node in model.get_ordered_ops():
        shape = node.output(0).get_partial_shape() if node.get_output_size() else None
        if shape is not None and shape.rank.is_static and shape.rank.get_length() == 4:
            dims = [d.get_length() if d.is_static else -1 for d in shape]
            if dims[2:] == [size, size] and node.get_type_name() not in ("Constant",):
                name = node.get_friendly_name()
    if name is None:
        raise SystemExit(f"no {size} x {size} feature map in the model")
    return name


def per_image(plain, explain, photos, repeat) -> tuple[float, float, float]:
    """Medians over the photos of (plain seconds, explain seconds, explain÷plain measured pairwise)."""
    results = np.array([paired_seconds(lambda im=im: plain(im), lambda im=im: explain(im), repeat) for im in photos])
    return tuple(float(v) for v in np.median(results, axis=0))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    photos = list(sk.demo.photos().values())
    pipeline = sk.demo.pipeline()

    def plain(im):
        return pipeline.predict([im])

    def explain_with(explainer):
        return lambda im: [e.map(t, size=im.shape[:2]) for e in [explainer(im, targets="top:1")] for t in e.targets]

    configurations = {
        "ReciproCAM one-pass (default)": sk.demo.explainer(),
        "ReciproCAM general path, 7x7 layer": sk.demo.explainer(method=sk.methods.ReciproCAM(one_pass=False)),
        "ReciproCAM general path, 14x14 layer": sk.demo.explainer(
            method=sk.methods.ReciproCAM(target_layer=last_layer_with_grid(sk.demo.model(), 14))
        ),
    }
    row("per image (median over the demo photos)", "plain ms", "explain ms", "explain÷plain")
    ours = None
    for name, explainer in configurations.items():
        plain_s, seconds, ratio = per_image(plain, explain_with(explainer), photos, args.repeat)
        ours = seconds if ours is None else ours
        row(name, f"{plain_s * 1e3:.2f}", f"{seconds * 1e3:.2f}", f"{ratio:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "photos.npz", **{f"{i:02d}": im for i, im in enumerate(photos)})
        oxai = run_oxai("oxai_whitebox.py", str(sk.demo.model_path()), str(Path(tmp) / "photos.npz"), str(args.repeat))
    if oxai:
        row(
            "openvino-xai 1.1 ReciproCAM",
            f"{oxai['plain_s'] * 1e3:.2f}",
            f"{oxai['explain_s'] * 1e3:.2f}",
            f"{oxai['ratio']:.2f}",
        )
        row("ours ÷ openvino-xai (explain time)", "", "", f"{ours / oxai['explain_s']:.2f}")


if __name__ == "__main__":
    main()
