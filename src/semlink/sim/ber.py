"""Monte Carlo BER/BLER sweeps of :class:`semlink.phy.DigitalLink`.

Each SNR point is an independent task seeded from the run seed and its SNR; blocks are simulated in
batches until ``target_block_errors`` block errors or ``max_iter`` batches, whichever comes first.
Errors are counted against the transmitted bits (the simulator knows the truth), so a block error
is any wrong information bit in the block, whether or not the receiver's check noticed it. Points
run on any executor (:mod:`semlink.sim.executors`) with identical results.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pandas as pd
import torch

from semlink.seeding import seed_everything
from semlink.sim.config import BerSweepConfig
from semlink.sim.runner import SECONDS, Point, make_points, run_points


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


class BerEvaluator:
    """``evaluate(point) -> row`` for a sweep (picklable: rebuilt from the config in each worker)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    def build(self):
        from semlink.config import validate
        from semlink.devices import resolve_device
        from semlink.phy import DigitalLink

        cfg = validate(BerSweepConfig, self.config)
        device = resolve_device(cfg.device)
        link = DigitalLink(cfg.link.digital(), device=str(device))
        describe = {
            "channel": cfg.link.channel.name,
            **cfg.link.describe(digital=True),
            "bits_per_symbol": link.bits_per_symbol,
            "device": device.type,
        }

        def evaluate(point: Point) -> dict[str, Any]:
            seed_everything(point.seed)
            if "snr_db" in point.params:
                snr_db = point.params["snr_db"]
                ebno_db = snr_db - link.ebno_to_snr_db(0.0)
            else:
                ebno_db = point.params["ebno_db"]
                snr_db = link.ebno_to_snr_db(ebno_db)
            tic = time.perf_counter()
            metrics = ber_point(link, snr_db, cfg.batch_size, cfg.target_block_errors, cfg.max_iter)
            seconds = time.perf_counter() - tic
            return {**describe, "snr_db": float(snr_db), "ebno_db": float(ebno_db), **metrics, SECONDS: seconds}

        return evaluate


def run_ber_sweep(
    cfg: BerSweepConfig, out: str | os.PathLike[str], resume: bool = False, progress: bool | None = None,
    executor=None,
) -> pd.DataFrame:
    """Run the sweep described by ``cfg`` into ``out`` (CSV, Parquet, manifest, waterfall PNG/PDF/SVG)."""
    from semlink.sim.executors import LocalExecutor
    from semlink.sim.plots import plot_waterfall
    from semlink.sim.run_record import command_line, host_facts

    axis = "snr_db" if cfg.snr_db is not None else "ebno_db"
    values = cfg.snr_db if cfg.snr_db is not None else cfg.ebno_db
    points = make_points(cfg.seed, ({axis: float(v)} for v in values))
    config = cfg.model_dump(mode="json")
    evaluator = BerEvaluator(config)
    executor = executor or LocalExecutor()
    host, threads = host_facts(executor.describe())

    def refresh(frame: pd.DataFrame, formats=("png",)) -> None:
        plot_waterfall(frame, os.path.join(out, "ber_bler.png"), x=axis, title=_title(cfg), formats=formats)

    frame = run_points(
        points, evaluator, out, config=config, seed=cfg.seed, resume=resume, progress=progress,
        executor=executor, desc="SNR points", on_row=refresh,
        manifest={"command": command_line(), "working_directory": os.getcwd(), "host": host, "threads": threads},
    )
    refresh(frame, formats=("png", "pdf", "svg"))
    return frame


def _title(cfg: BerSweepConfig) -> str:
    code = "uncoded" if cfg.link.code == "uncoded" else f"LDPC ({cfg.link.code_k},{cfg.link.code_n})"
    grid = "OFDM" if cfg.link.ofdm is not None else "flat"
    return f"{cfg.link.modulation.upper()} {code}, {cfg.link.channel.name} ({grid}, CSI {cfg.link.csi})"
