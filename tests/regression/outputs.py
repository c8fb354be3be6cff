"""Today's outputs of every explanation method, recorded once and compared by ``tests/test_regression_lock.py``.

Refactors of the engine must leave these unchanged: every method's maps and scores on the demo photos,
D-RISE / AISE / DetClassProbabilityMap on BlazeFace, ViT-ReciproCAM on a seeded test transformer, and the audit's
``results.csv`` on the demo dataset. Re-record only when a change of output is intended and explained::

    .venv/bin/python tests/regression/outputs.py        # writes tests/regression/baseline.npz
"""

from __future__ import annotations

import csv
import io
import tempfile
import warnings
from pathlib import Path

import numpy as np

import saliencykit as sk

BASELINE = Path(__file__).with_name("baseline.npz")
#: results.csv columns that depend on where and when the audit ran, not on what it computed
VOLATILE_COLUMNS = ("path",)

#: classification: method name -> factory; every map of the top 2 classes on every demo photo
CLASSIFICATION = {
    "reciprocam": lambda: sk.methods.ReciproCAM(),
    "reciprocam_general": lambda: sk.methods.ReciproCAM(one_pass=False),
    "reciprocam_gaussian": lambda: sk.methods.ReciproCAM(kernel="gaussian"),
    "activation_map": lambda: sk.methods.ActivationMap(),
    # the black-box default until 320 masks on three grids replaced it: the lock keeps that configuration's maps
    "rise_default": lambda: sk.methods.RISE(
        num_masks=384, num_cells=10, interpolation="cubic", substrates=("blur", "mean"), output="soft", combine="sum"
    ),
    "rise_balance_small": lambda: sk.methods.RISE(preset="balance", num_masks=300),
    "aise_speed": lambda: sk.methods.AISE(preset="speed"),
}
#: black-box methods run on fewer photos to keep the lock test fast
BLACKBOX_PHOTOS = ("chelsea", "stereo_motorcycle_left")
DETECTION = {
    "det_class_probability_map": lambda: sk.detection.DetClassProbabilityMap(),
    "drise": lambda: sk.detection.DRISE(num_masks=300, seed=0),
    "aise_detection": lambda: sk.detection.AISEDetection(preset="speed"),
}


def classification_outputs() -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    photos = sk.demo.photos()
    model = sk.demo.model()
    for name, make in CLASSIFICATION.items():
        method = make()
        explainer = sk.Explainer(model, sk.demo.preprocess, method=method, label_names=sk.demo.labels())
        for photo, image in photos.items():
            if not explainer.whitebox and photo not in BLACKBOX_PHOTOS:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                explanation = explainer(image, targets="top:2")
            key = f"cls/{name}/{photo}"
            out[f"{key}/targets"] = np.asarray(explanation.targets, np.int64)
            out[f"{key}/scores"] = np.asarray([explanation.scores[t] for t in explanation.targets], np.float64)
            out[f"{key}/maps"] = np.stack([explanation.maps[t] for t in explanation.targets]).astype(np.float32)
    return out


def vit_outputs() -> dict[str, np.ndarray]:
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1]))  # the tests folder: the seeded test architectures
    from vit_architectures import TinyViT, example_images

    model = sk.load_model(TinyViT(head="token", seed=3), input_shape=(1, 3, 224, 224))
    explainer = sk.Explainer(model, lambda image: image, method="vit_reciprocam")
    runner = explainer.pipeline.compile(explainer._xai_graph)
    outputs = runner.infer(example_images(2, seed=5))
    return {"vit/vit_reciprocam/maps": outputs[explainer._map_index].astype(np.float32)}


def detection_outputs() -> dict[str, np.ndarray]:
    from saliencykit.detection.demo import face_scenes

    out: dict[str, np.ndarray] = {}
    scenes = face_scenes()[:3]
    path = sk.detection.mediapipe_model_path("blazeface")
    for name, make in DETECTION.items():
        explainer = sk.detection.DetectionExplainer(path, postprocess="blazeface", method=make())
        for k, scene in enumerate(scenes):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                explanation = explainer(scene.image, targets="all")
            key = f"det/{name}/{k}"
            out[f"{key}/boxes"] = np.asarray(explanation.detections.boxes, np.float64)
            out[f"{key}/scores"] = np.asarray(explanation.detections.scores, np.float64)
            out[f"{key}/maps"] = np.stack([explanation.maps[t] for t in explanation.targets]).astype(np.float32)
    return out


def audit_outputs() -> dict[str, np.ndarray]:
    from saliencykit.audit.demo import demo_dataset

    with tempfile.TemporaryDirectory() as tmp:
        data = demo_dataset(Path(tmp) / "dataset")
        result = sk.audit("demo", data, Path(tmp) / "out")
        rows = list(csv.DictReader(io.StringIO((Path(tmp) / "out" / "results.csv").read_text(encoding="utf-8"))))
        raw = {}
        for row in result.rows("done"):
            with np.load(Path(tmp) / "out" / row["raw"]) as npz:
                raw[f"audit/raw/{row['key']}"] = npz["maps"].astype(np.float32)
    for row in rows:
        for column in VOLATILE_COLUMNS:
            row.pop(column, None)
    header = sorted(rows[0]) if rows else []
    table = np.asarray([[row[c] for c in header] for row in rows], dtype=str)
    return {"audit/results_csv/header": np.asarray(header, dtype=str), "audit/results_csv/rows": table, **raw}


def compute(parts: tuple[str, ...] = ("classification", "vit", "detection", "audit")) -> dict[str, np.ndarray]:
    """Every recorded output, recomputed now."""
    makers = {
        "classification": classification_outputs,
        "vit": vit_outputs,
        "detection": detection_outputs,
        "audit": audit_outputs,
    }
    out: dict[str, np.ndarray] = {}
    for part in parts:
        out.update(makers[part]())
    return out


if __name__ == "__main__":
    values = compute()
    np.savez_compressed(BASELINE, **values)
    print(f"wrote {len(values)} arrays to {BASELINE} ({BASELINE.stat().st_size / 1e6:.2f} MB)")
