"""The engine's outputs stay what they were recorded as (``tests/regression/outputs.py`` says how and why).

Maps must agree within 1e-6, scores within 1e-6, boxes exactly as recorded within 1e-4 px, and the audit's
``results.csv`` cell for cell.
"""

from __future__ import annotations

import numpy as np
import pytest
from regression.outputs import BASELINE, compute

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def baseline() -> dict[str, np.ndarray]:
    with np.load(BASELINE) as npz:
        return {k: npz[k] for k in npz.files}


@pytest.mark.parametrize("part", ["classification", "vit", "detection", "audit"])
def test_outputs_match_the_recorded_baseline(baseline, part):
    prefix = {"classification": "cls/", "vit": "vit/", "detection": "det/", "audit": "audit/"}[part]
    now = compute((part,))
    expected = {k: v for k, v in baseline.items() if k.startswith(prefix)}
    assert sorted(now) == sorted(expected), "the set of recorded outputs changed"
    for key, value in expected.items():
        got = now[key]
        assert got.shape == value.shape, key
        if value.dtype.kind in "US":
            assert (got == value).all(), f"{key}: {np.argwhere(got != value)[:5].tolist()}"
        elif key.endswith("/boxes"):
            np.testing.assert_allclose(got, value, atol=1e-4, err_msg=key)
        else:
            np.testing.assert_allclose(got, value, rtol=0, atol=1e-6, err_msg=key)
