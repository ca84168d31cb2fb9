"""Monte Carlo BER/BLER sweeps of :class:`semlink.phy.DigitalLink`.

Each SNR point is an independent task seeded from the run seed; blocks are simulated in batches
until ``target_block_errors`` block errors or ``max_iter`` batches, whichever comes first. Errors
are counted against the transmitted bits (the simulator knows the truth), so a block error is any
wrong information bit in the block, whether or not the receiver's check noticed it.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd
import torch

from semlink.seeding import seed_everything
from semlink.sim.config import BerSweepConfig
from semlink.sim.plots import plot_waterfall
from semlink.sim.runner import Point, make_points, run_points


def ber_point(link, snr_db: float, batch_size: int, target_block_errors: int, max_iter: int) -> dict[str, Any]:
    """Count bit and block errors at one SNR until enough block errors or ``max_iter`` batches."""
    n_bits = n_bit_errors = n_blocks = n_block_errors = 0
    with torch.no_grad():
        for _ in range(max_iter):
            result = link.simulate(batch_size, snr_db)
            wrong = result.bits != result.bits_hat
            n_bit_errors += int(wrong.sum())
            n_bits += wrong.numel()
            n_block_errors += int(wrong.any(dim=-1).sum())
            n_blocks += wrong.shape[0]
            if n_block_errors >= target_block_errors:
                break
    return {
        "ber": n_bit_errors / n_bits,
        "bler": n_block_errors / n_blocks,
        "n_bits": n_bits,
        "n_bit_errors": n_bit_errors,
        "n_blocks": n_blocks,
        "n_block_errors": n_block_errors,
    }


def run_ber_sweep(
    cfg: BerSweepConfig, out: str | os.PathLike[str], resume: bool = False, progress: bool | None = None
) -> pd.DataFrame:
    """Run the sweep described by ``cfg`` into ``out`` (CSV, Parquet, manifest, waterfall PNG)."""
    from semlink.phy import DigitalLink

    link = DigitalLink(cfg.link.digital())
    axis = "snr_db" if cfg.snr_db is not None else "ebno_db"
    values = cfg.snr_db if cfg.snr_db is not None else cfg.ebno_db
    points = make_points(cfg.seed, ({axis: float(v)} for v in values))
    describe = {
        "channel": cfg.link.channel.name,
        "modulation": cfg.link.modulation,
        "code_k": cfg.link.code_k,
        "code_n": cfg.link.code_n,
        "csi": cfg.link.csi,
        "ofdm": cfg.link.ofdm is not None,
        "decoder": cfg.link.decoder if cfg.link.code != "uncoded" else None,
        "bp_iterations": cfg.link.bp_iterations if cfg.link.code != "uncoded" else None,
        "code_rate": link.code_rate,
        "bits_per_symbol": link.bits_per_symbol,
    }

    def evaluate(point: Point) -> dict[str, Any]:
        seed_everything(point.seed)
        if axis == "snr_db":
            snr_db = point.params["snr_db"]
            ebno_db = snr_db - (link.ebno_to_snr_db(0.0))
        else:
            ebno_db = point.params["ebno_db"]
            snr_db = link.ebno_to_snr_db(ebno_db)
        metrics = ber_point(link, snr_db, cfg.batch_size, cfg.target_block_errors, cfg.max_iter)
        return {**describe, "snr_db": float(snr_db), "ebno_db": float(ebno_db), **metrics}

    def refresh(frame: pd.DataFrame) -> None:
        plot_waterfall(frame, os.path.join(out, "ber_bler.png"), x=axis, title=_title(cfg))

    config = cfg.model_dump(mode="json")
    return run_points(
        points, evaluate, out, config=config, seed=cfg.seed, resume=resume, progress=progress,
        desc="SNR points", on_row=refresh,
    )


def _title(cfg: BerSweepConfig) -> str:
    code = "uncoded" if cfg.link.code == "uncoded" else f"LDPC ({cfg.link.code_k},{cfg.link.code_n})"
    grid = "OFDM" if cfg.link.ofdm is not None else "flat"
    return f"{cfg.link.modulation.upper()} {code}, {cfg.link.channel.name} ({grid}, CSI {cfg.link.csi})"
