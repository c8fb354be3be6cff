"""Similarity of two saliency maps: Spearman rank correlation and SSIM, as in Adebayo et al. 2018.

SSIM follows Wang et al. 2004 with the usual settings (a Gaussian window of sigma 1.5 truncated at 3.5 sigma,
``K1 = 0.01``, ``K2 = 0.03``, population covariances, the mean over the image minus a border of half a window),
which is what ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=1)`` computes; it is written here with scipy so the core package does
not need scikit-image. Both maps are min-max normalised to [0, 1] first (``data_range=1``).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, stats

from ..errors import MethodError
from ..visualize import normalize


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise MethodError(f"maps of different shapes {a.shape} and {b.shape}: resize them to one size first.")
    return a, b


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps' pixels; 0 when either map is constant (no ranking to compare).

    >>> spearman(np.array([[1.0, 2.0, 3.0]]), np.array([[10.0, 20.0, 30.0]]))
    1.0
    """
    a, b = _pair(a, b)
    x, y = a.ravel(), b.ravel()
    if np.ptp(x) <= 0 or np.ptp(y) <= 0:
        return 0.0
    return float(stats.spearmanr(x, y).statistic)


def ssim(a: np.ndarray, b: np.ndarray, sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03) -> float:
    """Structural similarity of two 2-D maps after min-max normalisation to [0, 1].

    >>> x = np.random.default_rng(0).random((32, 32))
    >>> round(ssim(x, x), 6)
    1.0
    """
    a, b = _pair(a, b)
    if a.ndim != 2:
        raise MethodError(f"ssim: expected 2-D maps, got shape {a.shape}.")
    truncate = 3.5
    radius = int(truncate * sigma + 0.5)
    if min(a.shape) < 2 * radius + 1:
        raise MethodError(f"ssim: maps of shape {a.shape} are smaller than the {2 * radius + 1}-pixel window.")
    x = normalize(a).astype(np.float64)
    y = normalize(b).astype(np.float64)

    def blur(v: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(v, sigma=sigma, truncate=truncate, mode="reflect")

    ux, uy = blur(x), blur(y)
    vx = blur(x * x) - ux * ux
    vy = blur(y * y) - uy * uy
    vxy = blur(x * y) - ux * uy
    c1, c2 = k1**2, k2**2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return float(s[radius:-radius, radius:-radius].mean())
