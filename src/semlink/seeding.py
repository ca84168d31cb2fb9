"""One seed drives torch, NumPy and Sionna.

A run has one integer seed. Each simulation point (system x channel x SNR) gets its own seed
derived from it with :class:`numpy.random.SeedSequence`, keyed by the point's position in the
run grid, so points can run anywhere, in any order, and still give identical results.

>>> point_seed(7, 0) == point_seed(7, 0)
True
>>> point_seed(7, 0) != point_seed(7, 1)
True
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch


def point_seed(run_seed: int, *key: int) -> int:
    """A 63-bit seed for the point with integer ``key`` (e.g. its index) under ``run_seed``."""
    seq = np.random.SeedSequence(entropy=int(run_seed), spawn_key=tuple(int(k) for k in key))
    return int(seq.generate_state(1, dtype=np.uint64)[0]) & ((1 << 63) - 1)


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy, torch (CPU and CUDA) and Sionna's global generators; return a NumPy Generator.

    Sionna 2 keeps its own torch generator (``sionna.phy.config``); it is seeded here too so that
    channel realisations and noise depend on ``seed`` alone.
    """
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    torch.manual_seed(seed)
    try:
        from sionna.phy import config as sionna_config

        sionna_config.seed = seed
    except ImportError:  # pragma: no cover - sionna is a hard dependency; kept for partial installs
        pass
    return np.random.default_rng(seed)


@contextmanager
def fixed_sionna_stream(seed: int, device: str | torch.device | None = None) -> Iterator[None]:
    """Inside the block, Sionna's generator for ``device`` starts from ``seed``; its state is restored after.

    For random draws that are part of a link's *definition* (pilot sequences, a Monte Carlo channel
    covariance) rather than of a run: they come out the same whatever the run seed, and building a
    link neither depends on nor disturbs the run's random stream.
    """
    from sionna.phy import config as sionna_config

    generator = sionna_config.torch_rng(None if device is None else str(device))
    state = generator.get_state()
    generator.manual_seed(int(seed))
    try:
        yield
    finally:
        generator.set_state(state)
