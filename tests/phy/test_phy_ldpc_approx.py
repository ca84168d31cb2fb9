"""The vectorisable float32 exp and log against NumPy over their whole range."""

from __future__ import annotations

import numpy as np
from numba import njit

from semlink.phy.ldpc.approx import exp_neg, log_pos


@njit(cache=True)
def _apply(x: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    e = np.empty_like(x)
    g = np.empty_like(v)
    for i in range(x.size):
        e[i] = exp_neg(x[i])
    for i in range(v.size):
        g[i] = log_pos(v[i])
    return e, g


def test_exp_and_log_accuracy() -> None:
    x = np.concatenate([np.linspace(0, 17, 20001), np.logspace(-9, 0, 500)]).astype(np.float32)
    v = np.logspace(-37, 38, 20001).astype(np.float32)
    e, g = _apply(x, v)
    ref_e = np.exp(-x.astype(np.float64))
    ref_g = np.log(v.astype(np.float64))
    assert np.max(np.abs(e - ref_e) / ref_e) < 1.5e-6
    assert np.max(np.abs(g - ref_g) / np.maximum(np.abs(ref_g), 1.0)) < 2e-7
    far, _ = _apply(np.array([80.0, 1e4, 3e38], np.float32), np.ones(1, np.float32))
    assert np.all(far >= 0) and np.all(far < 1e-30)  # clamped, no overflow into garbage
