"""Ready explainers for MediaPipe's pose model (segmentation, presence) and face detector, and photos with people.

``pose_explainer()`` explains the person mask of ``pose_landmark_full.tflite`` (input 256 x 256 RGB in [0, 1];
``Identity_2`` is the person-segmentation logit map); ``presence_explainer()`` explains its pose-presence flag
through a custom scorer; ``face_explainer()`` is BlazeFace with its preset. A first call needs no knowledge of
preprocessing or outputs. :func:`person_scenes` gives the astronaut photo and composites of her on other photos,
each with the pasted person's mask, for tests and benchmarks. Nothing is downloaded but the MediaPipe wheel
(:mod:`saliencykit.detection.mediapipe_files`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..preprocess import Preprocess

#: pose_landmark_full's input: 256 x 256 RGB scaled to [0, 1], channels last
POSE_PREPROCESS = Preprocess(size=256, mean=0.0, std=255.0, layout="NHWC")
#: the pose model's outputs by name (landmarks, presence, segmentation, heatmaps, world landmarks)
POSE_OUTPUTS = ("Identity", "Identity_1", "Identity_2", "Identity_3", "Identity_4")


def pose_model() -> Any:
    """MediaPipe's ``pose_landmark_full`` as an ``ov.Model`` (from the cached wheel)."""
    from ..detection.ssd import mediapipe_model_path
    from ..model import load_model

    return load_model(mediapipe_model_path("pose_landmark_full"))


def pose_presence(outputs: list[np.ndarray]) -> np.ndarray:
    """The pose-presence flag of ``pose_landmark_full`` (output ``Identity_1``, (N, 1), a probability): (N,)."""
    return np.asarray(outputs[1], np.float32).reshape(len(outputs[1]), -1)[:, 0]


def pose_explainer(**kwargs: Any) -> Any:
    """An Explainer for the pose model's person mask (task="segmentation", output ``Identity_2``, "person").

    Keyword arguments override the defaults (e.g. ``method="aise"``, ``score="logit"``).
    """
    from ..explainer import Explainer

    options: dict[str, Any] = {
        "preprocess": POSE_PREPROCESS,
        "label_names": ["person"],
        "task": "segmentation",
        "output": "Identity_2",
        **kwargs,
    }
    return Explainer(pose_model(), **options)


def presence_explainer(**kwargs: Any) -> Any:
    """An Explainer for the pose model's presence flag through a custom scorer (task="scalar")."""
    from ..explainer import Explainer

    options: dict[str, Any] = {
        "preprocess": POSE_PREPROCESS,
        "label_names": ["pose presence"],
        "task": "scalar",
        "scorer": pose_presence,
        **kwargs,
    }
    return Explainer(pose_model(), **options)


def face_explainer(**kwargs: Any) -> Any:
    """An Explainer for MediaPipe's short-range BlazeFace (task="detection", the ``blazeface`` preset)."""
    from ..detection.ssd import mediapipe_model_path
    from ..explainer import Explainer

    options: dict[str, Any] = {"postprocess": "blazeface", "task": "detection", **kwargs}
    return Explainer(mediapipe_model_path("blazeface"), **options)


@dataclass
class PersonScene:
    """One photo with one person: ``mask`` (H, W) bool is where the person is (the pasted cut-out's mask)."""

    name: str
    image: np.ndarray
    mask: np.ndarray


#: (background photo, left, top, height) of the pasted astronaut as fractions of the square scene's side
LAYOUT = (("coffee", 0.05, 0.15, 0.85), ("rocket", 0.40, 0.20, 0.80), ("chelsea", 0.30, 0.30, 0.70))


def astronaut_mask() -> np.ndarray:
    """The astronaut's person mask (512 x 512 bool) as the pose model segments her (sigmoid > 0.5)."""
    from ..demo import photos

    explainer = pose_explainer()
    image = photos()["astronaut"]
    prediction = explainer.predict([image])[0]
    from ..tasks.segmentation import _at

    return _at(prediction.mask(1), image.shape[:2])


def person_scenes(count: int | None = None, size: int = 384) -> list[PersonScene]:
    """The astronaut photo and composites of her (cut out by her mask) scaled onto other demo photos.

    Deterministic; each scene carries the person's mask. ``count`` limits the total.
    """
    import cv2

    from ..demo import photos
    from ..detection.demo import _square

    shots = photos()
    astronaut = shots["astronaut"]
    person = astronaut_mask()
    scenes = [PersonScene("astronaut", astronaut, person)]
    ys, xs = np.nonzero(person)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    cut = astronaut[y0:y1, x0:x1]
    cut_mask = person[y0:y1, x0:x1].astype(np.float32)
    for background, left, top, height in LAYOUT:
        scene = _square(shots[background], size).astype(np.float32)
        ph = max(2, round(height * size))
        pw = max(2, round(cut.shape[1] * ph / cut.shape[0]))
        ph, pw = min(ph, size), min(pw, size)
        patch = cv2.resize(cut, (pw, ph), interpolation=cv2.INTER_AREA).astype(np.float32)
        alpha = cv2.resize(cut_mask, (pw, ph), interpolation=cv2.INTER_LINEAR)
        lx = min(max(round(left * size), 0), size - pw)
        ty = min(max(round(top * size), 0), size - ph)
        region = scene[ty : ty + ph, lx : lx + pw]
        scene[ty : ty + ph, lx : lx + pw] = alpha[..., None] * patch + (1 - alpha[..., None]) * region
        mask = np.zeros((size, size), bool)
        mask[ty : ty + ph, lx : lx + pw] = alpha >= 0.5
        scenes.append(PersonScene(background, np.clip(scene + 0.5, 0, 255).astype(np.uint8), mask))
    return scenes if count is None else scenes[:count]
