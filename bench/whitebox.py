"""White-box explain cost on the demo model, against openvino-xai 1.1 at the same inference precision.

Plain inference = resize + inference + softmax of one photo (ours: ``Pipeline.predict``; openvino-xai: its
``preprocess_fn`` and the compiled model); explain = targets top:1 with the map resized to the photo.

Part 1, at f32 and at bf16 on both sides: ReciproCAM (our default one-pass path) against openvino-xai 1.1's
ReciproCAM, when its side environment exists (`make bench-oxai`). openvino-xai runs in a server process
(`oxai_whitebox.py`); the two processes take turns in blocks: openvino-xai times ``--block`` plain calls of a photo
in a row and then as many explanations, then this process does the same, ``--repeat`` times per photo. Each block
gives medians (the steady state of a user explaining image after image); every ratio is a median over photos of
the medians of per-block-pair ratios, so both sides of a ratio ran under the same machine load. (Blocks, not
single calls: a call made right after the other process's is slowed by that process's inference threads, which
keep the cores for a moment after they finish; timed call by call, the process with the shorter calls loses more.)
Part 2, at f32: our general path at the default (7 x 7) layer and at an earlier 14 x 14 layer (``--general``).
Usage: python bench/whitebox.py [--repeat 10] [--block 10] [--precisions f32,bf16] [--general]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import BENCH, OXAI_PYTHON, paired_seconds, row

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


def explain_with(explainer):
    return lambda im: [e.map(t, size=im.shape[:2]) for e in [explainer(im, targets="top:1")] for t in e.targets]


class OxaiServer:
    """openvino-xai's side of the pairs: ``oxai_whitebox.py`` serving one plain + one explain timing per request."""

    def __init__(self, photos_npz: Path, precision: str) -> None:
        command = [str(OXAI_PYTHON), str(BENCH / "oxai_whitebox.py"), str(sk.demo.model_path()), str(photos_npz)]
        self.process = subprocess.Popen(
            [*command, precision], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self.info = self._read()

    def _read(self) -> dict:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"openvino-xai server ended (exit code {self.process.wait()})")
        return json.loads(line)

    def time(self, index: int, block: int) -> tuple[float, float]:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{index} {block}\n")
        self.process.stdin.flush()
        reply = self._read()
        return reply["plain"], reply["explain"]

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=60)


def time_block(plain, explain, block: int) -> tuple[float, float]:
    """Medians of ``block`` plain calls in a row, then of ``block`` explanations in a row (as the server does)."""
    medians = []
    for fn in (plain, explain):
        times = []
        for _ in range(block):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        medians.append(float(np.median(times)))
    return medians[0], medians[1]


def same_precision(precision: str, photos: list[np.ndarray], npz: Path | None, repeat: int, block: int) -> None:
    """Rows of ours and openvino-xai's plain/explain at ``precision``, paired block by block."""
    pipeline = sk.demo.pipeline(precision=precision)
    explainer = sk.demo.explainer(precision=precision)
    explain = explain_with(explainer)

    def plain(im):
        return pipeline.predict([im])

    if npz is None:
        plain_s, seconds, ratio = per_image(plain, explain, photos, repeat)
        row(f"ours ReciproCAM one-pass, {precision}", f"{plain_s * 1e3:.2f}", f"{seconds * 1e3:.2f}", f"{ratio:.2f}")
        return
    server = OxaiServer(npz, precision)
    per_photo = []
    try:
        for index, image in enumerate(photos):
            for _ in range(2):
                plain(image)
                explain(image)
            pairs = []
            for _ in range(repeat):
                their_plain, their_explain = server.time(index, block)
                ours_plain, ours_explain = time_block(lambda im=image: plain(im), lambda im=image: explain(im), block)
                pairs.append((ours_plain, ours_explain, their_plain, their_explain))
            a = np.array(pairs)
            per_photo.append(
                [
                    *np.median(a, axis=0),
                    np.median(a[:, 1] / a[:, 0]),  # ours explain ÷ ours plain
                    np.median(a[:, 3] / a[:, 2]),  # theirs explain ÷ theirs plain
                    np.median(a[:, 0] / a[:, 2]),  # plain: ours ÷ theirs
                    np.median(a[:, 1] / a[:, 3]),  # explain: ours ÷ theirs
                ]
            )
    finally:
        server.close()
    m = np.median(np.array(per_photo), axis=0)
    ran = server.info.get("precision", "?")
    row(f"ours ReciproCAM one-pass, {precision}", f"{m[0] * 1e3:.2f}", f"{m[1] * 1e3:.2f}", f"{m[4]:.2f}")
    row(f"openvino-xai 1.1 ReciproCAM, {precision}", f"{m[2] * 1e3:.2f}", f"{m[3] * 1e3:.2f}", f"{m[5]:.2f}")
    row(f"ours ÷ openvino-xai, {precision} (paired)", f"{m[6]:.2f}", f"{m[7]:.2f}", "")
    print(f"  (openvino-xai's compiled model reports INFERENCE_PRECISION_HINT {ran})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=10, help="blocks per photo and side")
    parser.add_argument("--block", type=int, default=10, help="calls per block")
    parser.add_argument("--precisions", default="f32,bf16")
    parser.add_argument("--general", action="store_true", help="also time our general ReciproCAM path (f32)")
    args = parser.parse_args()
    photos = list(sk.demo.photos().values())
    row("per image (median over the demo photos)", "plain ms", "explain ms", "explain÷plain")
    with tempfile.TemporaryDirectory() as tmp:
        npz: Path | None = Path(tmp) / "photos.npz"
        np.savez(npz, **{f"{i:02d}": im for i, im in enumerate(photos)})
        if not OXAI_PYTHON.exists():
            print("openvino-xai side environment missing: run `make bench-oxai` to compare against it")
            npz = None
        for precision in args.precisions.split(","):
            same_precision(precision, photos, npz, args.repeat, args.block)
    if not args.general:
        return
    pipeline = sk.demo.pipeline()

    def plain(im):
        return pipeline.predict([im])

    configurations = {
        "ReciproCAM general path, 7x7 layer, f32": sk.demo.explainer(method=sk.methods.ReciproCAM(one_pass=False)),
        "ReciproCAM general path, 14x14 layer, f32": sk.demo.explainer(
            method=sk.methods.ReciproCAM(target_layer=last_layer_with_grid(sk.demo.model(), 14))
        ),
    }
    for name, explainer in configurations.items():
        plain_s, seconds, ratio = per_image(plain, explain_with(explainer), photos, args.repeat)
        row(name, f"{plain_s * 1e3:.2f}", f"{seconds * 1e3:.2f}", f"{ratio:.2f}")


if __name__ == "__main__":
    main()
