"""Companion of bench/blackbox.py: runs openvino-xai 1.1's black-box RISE / AISE in its own environment.

Never imported by saliencykit: ``bench/blackbox.py`` starts it with ``bench/.venv-oxai/bin/python`` (openvino
2024.4, numpy 1.x; ``make bench-oxai`` builds it). It reads a job file (JSON), runs every job with openvino-xai's
documented API (``openvino_xai.Explainer`` in black-box mode, one model compiled per method), and writes the maps
per-image wall times and model calls to an ``.npz``.

Job file::

    {"model": "model.xml", "images": "in.npz", "output": "out.npz", "precision": "f32",
     "jobs": [{"name": "rise-balance", "method": "rise", "kwargs": {"preset": "balance"},
               "images": ["chelsea", ...], "targets": [285, ...]}]}

``"method": "plain"`` times the model alone instead (median of 50 calls of the explainer's ``model_forward`` on the
first image: preprocessing and one synchronous inference, what its RISE and AISE pay per model call).

``"precision"`` (``"f32"`` when absent, ``"bf16"``, or ``"default"``: OpenVINO's own choice, bf16 on CPUs that have
it): openvino-xai 1.1 compiles with ``ov.Core().compile_model(model, device)`` and takes no compile options, so the
model its method built is compiled again here with ``INFERENCE_PRECISION_HINT`` (``method._model_compiled``, which
``model_forward`` calls), as ``bench/oxai_whitebox.py`` does; the precision that ran is written as ``precision``.

``in.npz`` holds RGB uint8 images by name. Preprocessing matches the demo model's (OpenCV bilinear resize to
224 x 224, (x - 127.5) / 127.5, NCHW); scores are the softmax of the logits, like saliencykit's.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("TQDM_DISABLE", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import openvino as ov  # noqa: E402
import openvino_xai as xai  # noqa: E402
from openvino_xai.explainer import ExplainMode  # noqa: E402
from openvino_xai.methods.black_box.base import Preset  # noqa: E402

SIZE = 224


def preprocess(image: np.ndarray) -> np.ndarray:
    x = cv2.resize(image, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    x = (x - 127.5) / 127.5
    return x.transpose(2, 0, 1)[None]


def postprocess(outputs) -> np.ndarray:
    logits = np.asarray(outputs[0], np.float64)
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def main(job_path: str) -> None:
    with open(job_path) as f:
        spec = json.load(f)
    model = ov.Core().read_model(spec["model"])
    images = np.load(spec["images"])
    precision = spec.get("precision", "f32")
    out: dict[str, np.ndarray] = {}
    methods = {"rise": xai.Method.RISE, "aise": xai.Method.AISE}
    for job in spec["jobs"]:
        method = "rise" if job["method"] == "plain" else job["method"]
        explainer = xai.Explainer(
            model=model,
            task=xai.Task.CLASSIFICATION,
            preprocess_fn=preprocess,
            postprocess_fn=postprocess,
            explain_mode=ExplainMode.BLACKBOX,
            explain_method=methods[method],
        )
        if precision != "default":
            explainer.method._model_compiled = ov.Core().compile_model(
                explainer.method._model, "CPU", {"INFERENCE_PRECISION_HINT": precision}
            )
        ran = explainer.method._model_compiled.get_property("INFERENCE_PRECISION_HINT")
        out["precision"] = np.asarray(ran.to_string() if hasattr(ran, "to_string") else str(ran))
        if job["method"] == "plain":  # the model alone, as its black-box methods call it: one image, synchronously
            image = images[job["images"][0]]
            for _ in range(5):
                explainer.method.model_forward(image)
            times = []
            for _ in range(50):
                start = time.perf_counter()
                explainer.method.model_forward(image)
                times.append(time.perf_counter() - start)
            out[f"{job['name']}/seconds"] = np.asarray([np.median(times)])
            continue
        kwargs = dict(job.get("kwargs", {}))
        if "preset" in kwargs:
            kwargs["preset"] = Preset(kwargs["preset"])
        calls = [0]
        forward = explainer.method.model_forward

        def counted(x, preprocess=True, forward=forward, calls=calls):
            calls[0] += 1
            return forward(x, preprocess)

        explainer.method.model_forward = counted  # count model calls, nothing else changes
        times, counts = [], []
        for name, target in zip(job["images"], job["targets"]):
            image = images[name]
            calls[0] = 0
            start = time.perf_counter()
            explanation = explainer(image, targets=[int(target)], resize=False, colormap=False, **kwargs)
            times.append(time.perf_counter() - start)
            counts.append(calls[0])
            saliency = np.asarray(explanation.saliency_map[int(target)], np.float32)
            out[f"{job['name']}/{name}"] = saliency
            print(f"oxai {job['name']} {name}: {times[-1]:.2f} s", file=sys.stderr, flush=True)
        out[f"{job['name']}/times"] = np.asarray(times)
        out[f"{job['name']}/calls"] = np.asarray(counts)
    np.savez(spec["output"], **out)


if __name__ == "__main__":
    main(sys.argv[1])
