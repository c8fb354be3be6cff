"""Run each of openvino-xai 1.1's published examples (bench/oxai_examples.py) under openvino-xai (in
bench/.venv-oxai) and under saliencykit.openvino_xai (after the two-line import change), and compare what they
wrote and returned: file names, types, shapes, dtypes, and the maps (Pearson r; white-box should be >= 0.99,
black-box uses the same seed and budget but different random draws, so only agreement is reported). Overlays
are compared below their prediction text, which OpenCV 5 renders differently from openvino-xai's OpenCV 4.11.

    python bench/oxai_dropin.py [example ...]       # needs `make bench-oxai` for the comparison
    python bench/oxai_dropin.py --run NAME --side oxai|saliencykit --out DIR --image PATH   # one side (internal)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OXAI_PYTHON = BENCH / ".venv-oxai" / "bin" / "python"
sys.path.insert(0, str(BENCH))

import oxai_examples  # noqa: E402


def _arrays(result) -> dict[str, np.ndarray]:
    """The maps/arrays of an example's ``result`` (an Explanation or a dict of arrays), by key."""
    if hasattr(result, "saliency_map"):
        return {f"map_{k}": np.asarray(v) for k, v in result.saliency_map.items()}
    return {str(k): np.asarray(v) for k, v in result.items() if not isinstance(v, str)}


def _describe(result) -> dict:
    arrays = _arrays(result)
    meta = {
        "type": f"{type(result).__name__}",
        "arrays": {k: [list(v.shape), str(v.dtype)] for k, v in arrays.items()},
    }
    if isinstance(result, dict):
        meta["values"] = {str(k): v for k, v in result.items() if isinstance(v, str)}
    if hasattr(result, "saliency_map"):
        meta.update(
            targets=[str(t) for t in result.targets],
            target_types=sorted({type(t).__name__ for t in result.targets}),
            layout=result.layout.value,
            total_num_targets=result.total_num_targets,
        )
    return meta


def _f32_inference() -> None:
    """Compile every model with f32 inference precision on both sides.

    On CPUs with bf16 support OpenVINO infers in bf16 by default, and its 2024.4 (openvino-xai's pin) and current
    releases round differently: logits of the same input differ by up to 0.08 on the demo model, which would be
    measured here as a difference between the libraries. In f32 they agree to 3e-6.
    """
    import openvino as ov

    compile_model = ov.Core.compile_model

    def f32(self, model, device_name=None, config=None, **kwargs):
        config = {**(config or {}), "INFERENCE_PRECISION_HINT": "f32"}
        return compile_model(self, model, device_name or "CPU", config, **kwargs)

    ov.Core.compile_model = f32


def run_one(name: str, side: str, out: Path, image: str, models: dict[str, str], labels: list[str]) -> None:
    """Run example ``name`` on one side; writes files into ``out/files`` and ``out/result.npz`` + ``meta.json``
    (an example openvino-xai itself refuses records the exception type instead)."""
    _f32_inference()
    source = oxai_examples.EXAMPLES[name]
    if side == "saliencykit":
        source = oxai_examples.to_saliencykit(source)
    files = out / "files"
    files.mkdir(parents=True, exist_ok=True)
    scope = oxai_examples.scope(name, models, image, labels, str(files))
    start = time.perf_counter()
    try:
        exec(compile(source, name, "exec"), scope)  # noqa: S102
    except Exception as exc:
        if name not in oxai_examples.EXPECT_ERROR:
            raise
        bases = [c.__name__ for c in type(exc).__mro__]
        meta = {"raised": bases, "message": str(exc)[:300], "files": sorted(p.name for p in files.rglob("*"))}
        (out / "meta.json").write_text(json.dumps(meta))
        return
    seconds = time.perf_counter() - start
    result = scope["result"]
    np.savez(out / "result.npz", **_arrays(result))
    meta = _describe(result)
    meta["seconds"] = seconds
    meta["files"] = sorted(str(p.relative_to(files)) for p in files.rglob("*") if p.is_file())
    (out / "meta.json").write_text(json.dumps(meta))


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    if a.std() == 0 or b.std() == 0:
        return float("nan") if (a.std() == 0) != (b.std() == 0) else 1.0
    return float(np.corrcoef(a, b)[0, 1])


#: rows of an overlay where the prediction text is printed: OpenCV 5 draws its Hershey fonts differently from the
#: OpenCV 4.11 of openvino-xai's environment, so these pixels differ by the OpenCV version, not by the library
TEXT_ROWS = 40


def _map_rs(a: np.ndarray, b: np.ndarray) -> list[float]:
    """Pearson r per map: a stack (1, K, h, w) is K maps (each scaled on its own), anything else one; overlays
    (h, w, 3) below the text band."""
    if a.ndim == 3 and a.shape[-1] == 3 and a.shape[0] > 2 * TEXT_ROWS:
        return [_pearson(a[TEXT_ROWS:], b[TEXT_ROWS:])]
    if a.ndim == 4 and a.shape[-1] != 3:
        return [_pearson(x, y) for x, y in zip(a.reshape(-1, *a.shape[-2:]), b.reshape(-1, *b.shape[-2:]))]
    return [_pearson(a, b)]


def _side(python: Path, side: str, name: str, out: Path, image: str) -> dict | None:
    env = dict(os.environ)
    if side == "saliencykit":
        env["PYTHONPATH"] = str(ROOT / "src")
    cmd = [str(python), __file__, "--run", name, "--side", side, "--out", str(out), "--image", image]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads((out / "meta.json").read_text())


def model_variants(folder: Path) -> dict[str, str]:
    """The demo model as each example's model: the float IR ("demo") and the deployed uint8 IRs."""
    import saliencykit as sk

    models = {"demo": str(sk.demo.model_path())}
    for variant in ("nhwc_bgr", "nchw_bgr", "nchw_rgb"):
        models[variant] = str(oxai_examples.deployed_model(models["demo"], folder / f"{variant}.xml", variant))
    try:
        models["onnx"] = str(oxai_examples.onnx_model(folder / "demo.onnx"))
    except ImportError as exc:
        print(f"no ONNX example ({exc.name} missing)")
    return models


def compare(names: list[str]) -> None:
    """Run ``names`` under both sides and print one row per example."""
    import saliencykit as sk

    have_oxai = OXAI_PYTHON.exists()
    if not have_oxai:
        print("openvino-xai side environment missing: run `make bench-oxai` to compare; running saliencykit only")
    work = Path(tempfile.mkdtemp(prefix="oxai_dropin_"))
    image = str(work / "chelsea.jpg")
    import cv2

    cv2.imwrite(image, cv2.cvtColor(sk.demo.photos()["chelsea"], cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    header = (
        f"{'example':26} {'oxai':>6} {'ours':>6} {'files':>6} {'types':>6} {'min r':>7} {'oxai s':>7} {'ours s':>7}"
    )
    print(header)
    runs = 0
    for name in names:
        ours = _side(Path(sys.executable), "saliencykit", name, work / name / "ours", image)
        theirs = _side(OXAI_PYTHON, "oxai", name, work / name / "oxai", image) if have_oxai else None
        if name in oxai_examples.EXPECT_ERROR:
            expected = oxai_examples.EXPECT_ERROR[name]
            raised_ours = expected in ours.get("raised", [])
            raised_theirs = theirs is not None and expected in theirs.get("raised", [])
            runs += raised_ours
            print(
                f"{name:26} {('raises' if raised_theirs else 'FAIL') if have_oxai else '-':>6} "
                f"{'raises' if raised_ours else 'FAIL':>6}  both must raise {expected}"
            )
            for side, meta in (("ours", ours), ("oxai", theirs)):
                if meta is not None:
                    print(f"    {side}: {meta.get('raised', ['-'])[0]}: {meta.get('message', meta.get('error'))}")
            continue
        ok_ours = "error" not in ours
        ok_theirs = theirs is not None and "error" not in theirs
        runs += ok_ours
        files = types = r = "-"
        if ok_ours and ok_theirs:
            files = "same" if ours["files"] == theirs["files"] else "DIFF"
            keys = ("type", "arrays", "targets", "layout", "total_num_targets", "values")
            types = "same" if all(ours.get(k) == theirs.get(k) for k in keys) else "DIFF"
            a = np.load(work / name / "ours" / "result.npz")
            b = np.load(work / name / "oxai" / "result.npz")
            rs = [
                r for k in a.files
                if k in b.files and a[k].shape == b[k].shape and a[k].size > 1 and a[k].dtype.kind in "fiub"
                for r in _map_rs(a[k], b[k]) if not np.isnan(r)
            ]  # fmt: skip
            r = f"{min(rs):.3f}" if rs else "-"
        print(
            f"{name:26} {('ok' if ok_theirs else 'FAIL') if have_oxai else '-':>6} {'ok' if ok_ours else 'FAIL':>6} "
            f"{files:>6} {types:>6} {r:>7} "
            f"{theirs['seconds'] if ok_theirs else float('nan'):7.2f} "
            f"{ours['seconds'] if ok_ours else float('nan'):7.2f}"
            + ("  black-box" if name in oxai_examples.BLACK_BOX else "")
        )
        for side, meta in (("ours", ours), ("oxai", theirs)):
            if meta is not None and "error" in meta:
                print(f"    {side}: {meta['error']}")
            elif ok_ours and ok_theirs and side == "ours" and (files == "DIFF" or types == "DIFF"):
                print(f"    ours: {json.dumps({k: ours.get(k) for k in ('files', 'arrays', 'targets')})[:400]}")
                print(f"    oxai: {json.dumps({k: theirs.get(k) for k in ('files', 'arrays', 'targets')})[:400]}")
    print(f"saliencykit.openvino_xai ran {runs} of {len(names)} examples; outputs in {work}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("examples", nargs="*", help="example names (default: all)")
    parser.add_argument("--run")
    parser.add_argument("--side", choices=("oxai", "saliencykit"))
    parser.add_argument("--out")
    parser.add_argument("--image")
    args = parser.parse_args()
    if args.run:
        models, labels = json.loads(os.environ["OXAI_DROPIN"])
        run_one(args.run, args.side, Path(args.out), args.image, models, labels)
        return
    import saliencykit as sk

    os.environ["OXAI_DROPIN"] = json.dumps(
        [model_variants(Path(tempfile.mkdtemp(prefix="oxai_models_"))), sk.demo.labels()]
    )
    if "onnx" not in json.loads(os.environ["OXAI_DROPIN"])[0]:
        args.examples = [n for n in args.examples or oxai_examples.EXAMPLES if oxai_examples.MODELS[n] != "onnx"]
    unknown = [n for n in args.examples if n not in oxai_examples.EXAMPLES]
    if unknown:
        sys.exit(f"unknown example(s) {', '.join(unknown)}; known: {', '.join(oxai_examples.EXAMPLES)}")
    compare(args.examples or list(oxai_examples.EXAMPLES))


if __name__ == "__main__":
    main()
