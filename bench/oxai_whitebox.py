"""Companion of whitebox.py, run inside openvino-xai 1.1's side environment (bench/.venv-oxai).

Usage: oxai_whitebox.py MODEL.xml PHOTOS.npz PRECISION [REPEAT]

PRECISION is ``f32``, ``bf16`` or ``default`` (OpenVINO's own choice: bf16 on CPUs that have it). openvino-xai
1.1's Explainer compiles its explained model with ``ov.Core().compile_model(model, device)`` and takes no
compile options, so for f32/bf16 the explained model it built is compiled again here the same way plus
``INFERENCE_PRECISION_HINT`` (``explainer.method._model_compiled``, which ``model_forward`` calls); the plain
model is compiled with the same hint.

With REPEAT: prints one JSON line, plain inference and white-box explain seconds per image (medians, timed
alternately) and the median of their per-pair ratios. Without REPEAT it serves whitebox.py, which times its own
blocks in between: it prints ``{"ready": ...}``, then for every line ``I K`` on stdin times K plain inferences of
photo I in a row, then K explanations, and prints their medians ``{"plain": s, "explain": s}``; both libraries so
run under the same load, each in its steady state (a call right after the other process's is slowed by that
process's inference threads still holding the cores).
"""

import json
import sys
import time

import cv2
import numpy as np
import openvino as ov
import openvino_xai as xai


def preprocess_fn(image):
    x = cv2.resize(image, (224, 224)).astype(np.float32)
    return ((x - 127.5) / 127.5).transpose(2, 0, 1)[None]


def build(model_path, precision):
    """(plain(image), explain(image, target)) compiled at ``precision``, and the precision the plugin reports."""
    core = ov.Core()
    config = {} if precision == "default" else {"INFERENCE_PRECISION_HINT": precision}
    compiled = core.compile_model(core.read_model(model_path), "CPU", config)
    explainer = xai.Explainer(
        model=core.read_model(model_path), task=xai.Task.CLASSIFICATION, preprocess_fn=preprocess_fn
    )
    method = explainer.method
    if config:
        method._model_compiled = ov.Core().compile_model(method._model, "CPU", config)
    ran = str(method._model_compiled.get_property("INFERENCE_PRECISION_HINT"))

    def plain(image):
        return compiled(preprocess_fn(image))[0]

    def explain(image, target):
        return explainer(image, targets=[target], resize=True, colormap=False)

    return plain, explain, ran


def one_shot(plain, explain, photos, repeat):
    out_plain, out_explain, ratios = [], [], []
    for image in photos:
        top1 = int(np.argmax(plain(image)))
        a, b = [], []
        for _ in range(repeat + 2):
            t0 = time.perf_counter()
            plain(image)
            t1 = time.perf_counter()
            explain(image, top1)
            a.append(t1 - t0)
            b.append(time.perf_counter() - t1)
        a, b = np.array(a[2:]), np.array(b[2:])
        out_plain.append(np.median(a))
        out_explain.append(np.median(b))
        ratios.append(np.median(b / a))
    return {"plain_s": np.median(out_plain), "explain_s": np.median(out_explain), "ratio": np.median(ratios)}


def serve(plain, explain, photos, ran):
    tops = [int(np.argmax(plain(image))) for image in photos]
    for image, top in zip(photos, tops):  # warm up
        for _ in range(2):
            plain(image)
            explain(image, top)
    print(json.dumps({"ready": True, "precision": ran, "openvino": ov.__version__}), flush=True)
    for line in sys.stdin:
        index, block = (int(v) for v in line.split())
        image, top = photos[index], tops[index]
        timed = time_block(lambda im=image: plain(im), lambda im=image, t=top: explain(im, t), block)
        print(json.dumps(timed), flush=True)


def time_block(plain, explain, block):
    """Medians of ``block`` plain calls in a row, then of ``block`` explanations in a row (steady state)."""
    out = {}
    for name, fn in (("plain", plain), ("explain", explain)):
        times = []
        for _ in range(block):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        out[name] = float(np.median(times))
    return out


def main():
    model_path, photos_path, precision = sys.argv[1], sys.argv[2], sys.argv[3]
    photos = [v for _, v in sorted(np.load(photos_path).items())]
    plain, explain, ran = build(model_path, precision)
    if len(sys.argv) > 4:
        result = one_shot(plain, explain, photos, int(sys.argv[4]))
        print(json.dumps({**{k: float(v) for k, v in result.items()}, "precision": ran}))
    else:
        serve(plain, explain, photos, ran)


if __name__ == "__main__":
    main()
