"""openvino-xai 1.1's ``insert_xai`` on PyTorch modules (its README "Insert XAI head to your models") under
openvino-xai (bench/.venv-oxai) and saliencykit.openvino_xai: output names, types, shapes, dtypes and the maps
themselves, on the seeded test networks (tests/cnn_architectures.py), ReciproCAM and ActivationMap, a batch of two.

openvino-xai's environment has no PyTorch of its own; give it one of the same Python, e.g.
``OXAI_TORCH_PATH=/path/to/site-packages-with-torch`` (only torch and its pure-Python dependencies are needed).

    python bench/oxai_torch.py
    python bench/oxai_torch.py --side oxai|saliencykit --out DIR   # one side (internal)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OXAI_PYTHON = BENCH / ".venv-oxai" / "bin" / "python"
CASES = [(family, method) for family in ("resnet", "mobilenetv3") for method in ("RECIPROCAM", "ACTIVATIONMAP")]


def run_side(side: str, out: Path) -> None:
    """The README snippet for every case; maps to ``out/<case>.npy``, descriptions to ``out/meta.json``."""
    sys.path.insert(0, str(ROOT / "tests"))
    import torch
    from cnn_architectures import build, example_input

    if side == "oxai":
        import openvino_xai as xai
    else:
        import saliencykit.openvino_xai as xai
    meta = {}
    for family, method in CASES:
        torch_model = build(family)
        image_norm = example_input(torch_model, batch=2, seed=3).numpy()
        model_xai = xai.insert_xai(
            torch_model, xai.Task.CLASSIFICATION, explain_method=xai.Method[method], input_size=(64, 64)
        )
        model_xai.eval()
        with torch.no_grad():
            outputs = model_xai(torch.from_numpy(image_norm))
        case = f"{family}_{method.lower()}"
        meta[case] = {k: [type(v).__name__, list(v.shape), str(v.dtype)] for k, v in outputs.items()}
        np.save(out / f"{case}.npy", outputs["saliency_map"].numpy())
    (out / "meta.json").write_text(json.dumps(meta))


def compare() -> None:
    work = Path(tempfile.mkdtemp(prefix="oxai_torch_"))
    metas = {}
    for side, python, path in (
        ("oxai", OXAI_PYTHON, os.environ.get("OXAI_TORCH_PATH", "")),
        ("saliencykit", Path(sys.executable), str(ROOT / "src")),
    ):
        out = work / side
        out.mkdir()
        env = {**os.environ, "PYTHONPATH": path}
        proc = subprocess.run(
            [str(python), __file__, "--side", side, "--out", str(out)], capture_output=True, text=True, env=env
        )
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines()
            sys.exit(f"{side}: {lines[-1] if lines else proc.returncode} (see the docstring for OXAI_TORCH_PATH)")
        metas[side] = json.loads((out / "meta.json").read_text())
    print(f"{'case':28} {'outputs':>8} {'max |diff|':>10}")
    for family, method in CASES:
        case = f"{family}_{method.lower()}"
        same = metas["oxai"][case] == metas["saliencykit"][case]
        a = np.load(work / "oxai" / f"{case}.npy").astype(np.int64)
        b = np.load(work / "saliencykit" / f"{case}.npy").astype(np.int64)
        print(f"{case:28} {'same' if same else 'DIFF':>8} {int(np.abs(a - b).max()):>10}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", choices=("oxai", "saliencykit"))
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.side:
        run_side(args.side, Path(args.out))
    else:
        compare()


if __name__ == "__main__":
    main()
