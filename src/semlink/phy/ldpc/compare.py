"""Comparing LDPC decoders on common random numbers: paired block errors, a paired test, the SNR at a BLER.

Decoders are compared on the *same* received LLRs (:meth:`semlink.phy.DigitalLink.channel_llrs`
from one seed), so most of the Monte Carlo noise cancels: blocks that both decode or both fail
say nothing about the difference; only the discordant ones do (McNemar's test). An SNR offset is
tested by giving the candidate decoder the same draws at ``ebno + offset`` (the noise scales with
the SNR, the draws stay the same).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.stats import binom

from semlink.seeding import seed_everything

if TYPE_CHECKING:  # pragma: no cover
    from semlink.phy.coding import LdpcCodec
    from semlink.phy.digital import DigitalLink

__all__ = ["DecodeRun", "decode_runs", "worse_pvalue", "ebno_at_bler"]


@dataclass(frozen=True)
class DecodeRun:
    """One decoder on one set of LLRs: ``errors [N] bool`` (any information bit wrong),
    ``iterations [N] int32`` (layered decoders; None for Sionna's BP) and the decoding seconds."""

    errors: np.ndarray
    iterations: np.ndarray | None
    seconds: float

    @property
    def bler(self) -> float:
        return float(self.errors.mean())


def decode_runs(
    link: DigitalLink,
    codecs: Mapping[str, LdpcCodec],
    ebno_db: float,
    num_blocks: int,
    seed: int,
    batch_size: int = 500,
) -> dict[str, DecodeRun]:
    """Decode the same ``num_blocks`` LLRs of ``link`` at ``ebno_db`` with every codec of ``codecs``.

    The LLRs are drawn after ``seed_everything(seed)`` in batches of ``batch_size``: the same seed
    gives the same bits, channel and noise at every SNR. Only decoding is timed.
    """
    seed_everything(seed)
    snr_db = link.ebno_to_snr_db(ebno_db)
    errors: dict[str, list[np.ndarray]] = {name: [] for name in codecs}
    iters: dict[str, list[np.ndarray]] = {name: [] for name in codecs}
    seconds = dict.fromkeys(codecs, 0.0)
    done = 0
    while done < num_blocks:
        batch = min(batch_size, num_blocks - done)
        bits, llr = link.channel_llrs(batch, snr_db)
        for name, codec in codecs.items():
            start = time.perf_counter()
            bits_hat, _ = codec.decode(llr)
            seconds[name] += time.perf_counter() - start
            errors[name].append((bits_hat != bits).any(dim=-1).cpu().numpy())
            if codec.last_iterations is not None:
                iters[name].append(codec.last_iterations.cpu().numpy())
        done += batch
    return {
        name: DecodeRun(
            np.concatenate(errors[name]), np.concatenate(iters[name]) if iters[name] else None, seconds[name]
        )
        for name in codecs
    }


def worse_pvalue(candidate_errors: np.ndarray, reference_errors: np.ndarray) -> float:
    """One-sided exact McNemar test that the candidate fails *more* often than the reference.

    Over paired blocks, ``c`` = candidate wrong and reference right, ``b`` = the reverse. If the
    candidate is no worse, ``c`` given ``b + c`` is at most Binomial(b + c, 1/2) (stochastically),
    so ``P(X >= c)`` is a valid p-value: rejecting when it is below ``alpha`` fails a decoder that
    is truly no worse with probability at most ``alpha``.
    """
    cand, ref = np.asarray(candidate_errors, bool), np.asarray(reference_errors, bool)
    c = int((cand & ~ref).sum())
    b = int((ref & ~cand).sum())
    if b + c == 0:
        return 1.0
    return float(binom.sf(c - 1, b + c, 0.5))


def ebno_at_bler(
    ebno_db: Sequence[float], bler: Sequence[float], target: float, zero_floor: float = 0.0
) -> float:
    """Eb/N0 where a waterfall crosses ``target``: linear interpolation of log10(BLER) between the
    last point above and the first point below it (points sorted by Eb/N0); NaN if not bracketed.

    A point without errors has no logarithm: it counts as ``zero_floor`` (e.g. half a block error,
    ``0.5 / num_blocks``) when that is positive, else the crossing is put at that point.
    """
    pairs = sorted((x, y if y > 0 else zero_floor) for x, y in zip(ebno_db, bler))
    for (x0, y0), (x1, y1) in zip(pairs, pairs[1:]):
        if y0 >= target > y1:
            if y1 <= 0:
                return x1
            t = (math.log10(y0) - math.log10(target)) / (math.log10(y0) - math.log10(y1))
            return x0 + t * (x1 - x0)
    return math.nan
