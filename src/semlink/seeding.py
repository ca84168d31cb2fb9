"""One seed drives torch, NumPy and Sionna; every point's seed derives from its identity.

A run has one integer seed. Each simulation point gets its own seed derived from the run seed and
the point's *identity* (e.g. system, budget, channel and SNR) with
:class:`numpy.random.SeedSequence`, never from its position in the grid: adding a system or an SNR
to a run changes no other row, and points can run anywhere, in any order.

For *common random numbers*, the channel (fading, noise, placement on the grid) is driven by
:func:`channel_seed`, which depends on the channel and SNR only: at one (channel, SNR) every
system sees the same channel realisations and noise where the shapes allow (the same number of
OFDM slots per image and the same evaluation batches), so paired comparisons are tighter.

>>> point_seed(7, {"snr_db": 0.0}) == point_seed(7, "snr_db=0.0")
True
>>> point_seed(7, {"snr_db": 0.0}) != point_seed(7, {"snr_db": 1.0})
True
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

__all__ = ["channel_seed", "fixed_sionna_stream", "identity_key", "point_seed", "seed_everything", "seed_channel"]


def identity_key(params: Mapping[str, Any]) -> str:
    """Canonical text of a point's identity: ``key=value`` pairs in key order, joined by commas.

    >>> identity_key({"system": "kbsc", "snr_db": 4.0, "budget": None})
    'budget=None,snr_db=4.0,system=kbsc'
    """
    return ",".join(f"{k}={params[k]}" for k in sorted(params))


def point_seed(run_seed: int, identity: str | Mapping[str, Any]) -> int:
    """A 63-bit seed for the point named by ``identity`` (its :func:`identity_key` or parameters)."""
    text = identity if isinstance(identity, str) else identity_key(identity)
    words = np.frombuffer(hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest(), dtype="<u4")
    seq = np.random.SeedSequence(entropy=int(run_seed), spawn_key=tuple(int(w) for w in words))
    return int(seq.generate_state(1, dtype=np.uint64)[0]) & ((1 << 63) - 1)


def channel_seed(run_seed: int, channel: str, snr_db: float, split: str = "test") -> int:
    """The seed of the channel's randomness at (``channel``, ``snr_db``), shared by every system; the
    validation points of a run (``split``) draw their own, independent of the test queries'."""
    identity = {"stream": "channel", "channel": channel, "snr_db": float(snr_db)}
    return point_seed(run_seed, identity if split == "test" else {**identity, "split": split})


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy, torch (CPU and CUDA) and Sionna's global generators; return a NumPy Generator.

    Sionna 2 keeps its own torch generator (``sionna.phy.config``); it is seeded here too so that
    channel realisations and noise depend on ``seed`` alone.
    """
    import torch

    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    torch.manual_seed(seed)
    seed_channel(seed)
    return np.random.default_rng(seed)


def seed_channel(seed: int) -> None:
    """Seed only Sionna's generators: the channel's fading, noise and grid placement.

    Sionna's ``config.seed`` also reseeds torch's default CPU generator; its state is restored, so
    the system's own randomness stays that of its point seed.
    """
    import torch
    from sionna.phy import config as sionna_config

    state = torch.random.get_rng_state()
    sionna_config.seed = int(seed)
    torch.random.set_rng_state(state)


@contextmanager
def fixed_sionna_stream(seed: int, device: Any = None) -> Iterator[None]:
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
