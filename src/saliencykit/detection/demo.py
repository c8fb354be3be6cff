"""Photos with faces for the BlazeFace demo, tests and benchmarks — all made from scikit-image's bundled photos.

:func:`face_scenes` returns the astronaut photo and composites that place her face (cut out with a soft elliptical
edge) at other positions and scales on other photos, each with the box of the pasted face; :func:`two_face_scene`
pastes it twice on one photo. Nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: the astronaut's face in ``skimage.data.astronaut()`` (512 x 512), as BlazeFace boxes it, [x0, y0, x1, y1]
ASTRONAUT_FACE = (179.0, 81.0, 272.0, 174.0)
#: the cut-out around the face (with some hair and neck), [x0, y0, x1, y1]
_CUT = (150, 50, 300, 205)

#: (background photo, centre x, centre y, face width) as fractions of the square scene's side
LAYOUT = (
    ("coffee", 0.30, 0.32, 0.22),
    ("coffee", 0.70, 0.62, 0.30),
    ("rocket", 0.28, 0.68, 0.26),
    ("rocket", 0.66, 0.30, 0.20),
    ("chelsea", 0.70, 0.66, 0.28),
    ("chelsea", 0.32, 0.34, 0.34),
    ("stereo_motorcycle_left", 0.50, 0.45, 0.24),
    ("stereo_motorcycle_left", 0.25, 0.70, 0.30),
    ("coffee", 0.55, 0.50, 0.40),
    ("rocket", 0.45, 0.45, 0.32),
)


@dataclass
class FaceScene:
    """One photo with one face: ``box`` is where the face was pasted, [x0, y0, x1, y1] in pixels."""

    name: str
    image: np.ndarray
    box: tuple[float, float, float, float]


def _square(photo: np.ndarray, size: int) -> np.ndarray:
    h, w = photo.shape[:2]
    side = min(h, w)
    y, x = (h - side) // 2, (w - side) // 2
    return cv2.resize(photo[y : y + side, x : x + side], (size, size), interpolation=cv2.INTER_AREA)


def _face_cut() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The astronaut photo, her face cut out (float32) and its soft elliptical alpha (h, w, 1)."""
    from ..demo import photos

    astronaut = photos()["astronaut"]
    x0, y0, x1, y1 = _CUT
    cut = astronaut[y0:y1, x0:x1].astype(np.float32)
    ch, cw = cut.shape[:2]
    yy, xx = np.mgrid[0:ch, 0:cw].astype(np.float32)
    ellipse = ((xx - cw / 2) / (cw / 2)) ** 2 + ((yy - ch / 2) / (ch / 2)) ** 2
    alpha = np.clip((1.0 - ellipse) / 0.25, 0.0, 1.0)[..., None]  # soft edge on the outer ring
    return astronaut, cut, alpha


def _paste(
    scene: np.ndarray, cut: np.ndarray, alpha: np.ndarray, cx: float, cy: float, face_w: float
) -> tuple[float, float, float, float]:
    """Blend the face into the float32 square ``scene`` (in place) centred at (cx, cy); returns its box in pixels."""
    size = scene.shape[0]
    x0, y0 = _CUT[:2]
    ch, cw = cut.shape[:2]
    fx0, fy0, fx1, fy1 = ASTRONAUT_FACE
    scale = face_w * size / (fx1 - fx0)
    pw, ph = max(2, round(cw * scale)), max(2, round(ch * scale))
    patch = cv2.resize(cut, (pw, ph), interpolation=cv2.INTER_AREA)
    mask = cv2.resize(alpha, (pw, ph), interpolation=cv2.INTER_LINEAR)[..., None]
    # place the face centre at (cx, cy)
    face_cx = ((fx0 + fx1) / 2 - x0) * scale
    face_cy = ((fy0 + fy1) / 2 - y0) * scale
    left = int(round(cx * size - face_cx))
    top = int(round(cy * size - face_cy))
    left = min(max(left, 0), size - pw)
    top = min(max(top, 0), size - ph)
    region = scene[top : top + ph, left : left + pw]
    scene[top : top + ph, left : left + pw] = mask * patch + (1 - mask) * region
    return (
        left + (fx0 - x0) * scale,
        top + (fy0 - y0) * scale,
        left + (fx1 - x0) * scale,
        top + (fy1 - y0) * scale,
    )


def face_scenes(count: int | None = None, size: int = 384) -> list[FaceScene]:
    """The astronaut photo and up to ``len(LAYOUT)`` composites (``count`` limits the total), deterministic.

    >>> [s.name for s in face_scenes(3)]  # doctest: +SKIP
    ['astronaut', 'coffee_0', 'coffee_1']
    """
    from ..demo import photos

    shots = photos()
    astronaut, cut, alpha = _face_cut()
    scenes = [FaceScene("astronaut", astronaut, ASTRONAUT_FACE)]
    counts: dict[str, int] = {}
    for background, cx, cy, face_w in LAYOUT:
        scene = _square(shots[background], size).astype(np.float32)
        box = _paste(scene, cut, alpha, cx, cy, face_w)
        n = counts.get(background, 0)
        counts[background] = n + 1
        scenes.append(FaceScene(f"{background}_{n}", np.clip(scene + 0.5, 0, 255).astype(np.uint8), box))
    return scenes if count is None else scenes[:count]


#: the two faces of :func:`two_face_scene`: (centre x, centre y, face width) as fractions of the side
TWO_FACES = ((0.28, 0.32, 0.24), (0.70, 0.66, 0.28))


@dataclass
class TwoFaceScene:
    """One photo with two faces: ``boxes`` are where they were pasted, [x0, y0, x1, y1] in pixels."""

    name: str
    image: np.ndarray
    boxes: tuple[tuple[float, float, float, float], ...]


def two_face_scene(background: str = "coffee", size: int = 384) -> TwoFaceScene:
    """The astronaut's face pasted twice on one photo (upper left, lower right, different sizes), deterministic:
    what per-box maps are checked on — each face's map must stay on its own face.

    >>> two_face_scene().boxes  # doctest: +SKIP
    """
    from ..demo import photos

    _, cut, alpha = _face_cut()
    scene = _square(photos()[background], size).astype(np.float32)
    boxes = tuple(_paste(scene, cut, alpha, cx, cy, face_w) for cx, cy, face_w in TWO_FACES)
    return TwoFaceScene(f"{background}_two_faces", np.clip(scene + 0.5, 0, 255).astype(np.uint8), boxes)
