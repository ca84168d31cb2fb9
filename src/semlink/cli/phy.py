"""``semlink phy ber``: a Monte Carlo BER/BLER sweep of one link from flags and/or a TOML file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from semlink.cli.common import EXECUTOR_HELP, THREADS_HELP, parse_db_list, resumable
from semlink.errors import SemlinkError

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Physical-layer link simulations.")  # no markup: "[dB]" is a unit, not a style


def _set(tree: dict[str, Any], key: str, value: Any) -> None:
    """Overlay a flag on the TOML tree when the flag was given."""
    if value is not None:
        tree[key] = value


def _parse_ints(text: str, name: str) -> list[int]:
    try:
        return [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise SemlinkError(f"{name} {text!r} is not a list of integers; accepted e.g. '2,11'") from None


@app.command("ber")
def phy_ber(
    out: Path = typer.Option(..., "--out", help="Output folder (results.csv/.parquet, manifest.json, ber_bler.png)."),
    config: Path | None = typer.Option(None, "--config", help="Optional TOML file of the sweep (keys as the flags: snr_db, "
                                  "[link]...); flags given here override it."),
    snr_db: str | None = typer.Option(None, "--snr-db", help="Es/N0 per symbol [dB]: '0,2,4' or '0:10:1' (start:stop:step). "
                                  "Give this, or instead --ebno-db (or snr_db in --config)."),
    ebno_db: str | None = typer.Option(None, "--ebno-db", help="Eb/N0 [dB]: '0,2,4' or '0:10:1'; instead of --snr-db."),
    channel: str | None = typer.Option(None, "--channel", help="awgn | rayleigh | tdl-a..tdl-e | cdl-a..cdl-e (TDL/CDL need "
                                   "OFDM); default: awgn. `semlink list channels`"),
    modulation: str | None = typer.Option(None, "--modulation", help="qpsk | 16qam | 64qam | 256qam; default: qpsk."),
    code: str | None = typer.Option(None, "--code", help="LDPC 'K,N' (5G NR BG1/BG2); default: '1024,2048'."),
    uncoded: bool = typer.Option(False, "--uncoded", help="No channel code (instead of --code)."),
    ofdm: bool | None = typer.Option(None, "--ofdm/--flat", help="OFDM resource grid (72 subcarriers x 14 symbols unless "
                                       "the grid options say otherwise), or flat symbols; default: flat, "
                                       "OFDM when a grid option is given."),
    fft_size: int | None = typer.Option(None, "--fft-size", help="OFDM subcarriers; default: 72."),
    subcarrier_spacing_hz: float | None = typer.Option(None, "--subcarrier-spacing", help="OFDM subcarrier spacing [Hz]; default: 30000."),
    num_ofdm_symbols: int | None = typer.Option(None, "--num-ofdm-symbols", help="OFDM symbols per slot; default: 14."),
    cyclic_prefix_length: int | None = typer.Option(None, "--cp-length", help="Cyclic prefix [samples]; default: 6."),
    pilots: str | None = typer.Option(None, "--pilots", help="Pilot OFDM symbol indices; default: '2,11'."),
    csi: str | None = typer.Option(None, "--csi", help="Channel knowledge at the receiver: perfect | ls | lmmse; default: perfect."),
    interpolation: str | None = typer.Option(None, "--interpolation", help="LS channel interpolation in time: nn | lin; default: nn."),
    delay_spread_ns: float | None = typer.Option(None, "--delay-spread-ns", help="RMS delay spread of TDL/CDL [ns]; default: 100."),
    speed_mps: float | None = typer.Option(None, "--speed-mps", help="Receiver speed [m/s] (Doppler of TDL/CDL); default: 0."),
    carrier_frequency_hz: float | None = typer.Option(None, "--carrier-frequency-hz", help="Carrier frequency [Hz]; default: 3.5e9."),
    bp_iterations: int | None = typer.Option(
        None, "--bp-iterations", help="LDPC iterations (the most per block for layered decoders); default: 20."
    ),
    decoder: str | None = typer.Option(
        None, "--decoder", help="LDPC decoder: sionna-bp | layered-bp | layered-nms (numba, CPU, early stop); default: sionna-bp."
    ),
    nms_scale: float | None = typer.Option(None, "--nms-scale", help="Min-sum normalisation of layered-nms; default: 0.75."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Code blocks per Monte Carlo batch; default: 1000."),
    target_block_errors: int | None = typer.Option(None, "--target-block-errors", help="Stop an SNR point after this many block errors; "
                                                 "default: 100."),
    max_iter: int | None = typer.Option(None, "--max-iter", help="Maximum batches per SNR point; default: 100."),
    seed: int | None = typer.Option(None, "--seed", help="Run seed (every point's seed derives from it); default: 42."),
    device: str | None = typer.Option(None, "--device", help="Where the link runs: cpu | cuda | cuda:N | mps | auto; "
                                      "default: cpu (the layered decoders are CPU kernels)."),
    resume: bool = typer.Option(False, "--resume", help="Continue a killed sweep in --out (also with added SNR points)."),
    executor: str = typer.Option("local", "--executor", help=EXECUTOR_HELP),
    workers: int | None = typer.Option(None, "--workers", help="Worker processes (process; default: the CPU count) or actors "
                                   "(ray; default: the cluster's CPUs)."),
    address: str | None = typer.Option(None, "--address", help="Address of an existing Ray cluster (ray; default: start a local one)."),
    threads: str = typer.Option("auto", "--threads", help=THREADS_HELP),
) -> None:
    """Monte Carlo BER/BLER sweep: bits → LDPC → QAM → (OFDM) → channel → estimation → decoding."""
    from semlink.config import read_toml, validate
    from semlink.io import check_output_folder
    from semlink.sim.ber import run_ber_sweep
    from semlink.sim.config import BerSweepConfig
    from semlink.sim.executors import create_executor, set_up_threads

    runner = create_executor(executor, workers, address, threads)

    tree: dict[str, Any] = read_toml(config) if config else {}
    if snr_db is not None and ebno_db is not None:
        raise SemlinkError("give --snr-db or --ebno-db, not both")
    if snr_db is not None:
        tree["snr_db"], _ = parse_db_list(snr_db, "--snr-db"), tree.pop("ebno_db", None)
    if ebno_db is not None:
        tree["ebno_db"], _ = parse_db_list(ebno_db, "--ebno-db"), tree.pop("snr_db", None)
    if "snr_db" not in tree and "ebno_db" not in tree:
        raise SemlinkError("no SNR points: give --snr-db or --ebno-db (e.g. '0:10:1'), or snr_db in --config")
    link = tree.setdefault("link", {})
    if code is not None and uncoded:
        raise SemlinkError("give --code K,N or --uncoded, not both")
    if uncoded:
        link["code"] = "uncoded"
    elif code is not None:
        try:
            k, n = (int(p) for p in code.split(","))
        except ValueError:
            raise SemlinkError(f"--code {code!r} is not 'K,N'; accepted: two integers, e.g. '1024,2048'") from None
        link["code"] = [k, n]
    for key, value in (
        ("modulation", modulation), ("csi", csi), ("interpolation", interpolation), ("bp_iterations", bp_iterations),
        ("decoder", decoder), ("nms_scale", nms_scale),
    ):
        _set(link, key, value)
    for key, value in (
        ("name", channel), ("delay_spread_ns", delay_spread_ns), ("speed_mps", speed_mps),
        ("carrier_frequency_hz", carrier_frequency_hz),
    ):
        _set(link.setdefault("channel", {}), key, value)
    grid_flags = {
        "fft_size": fft_size, "subcarrier_spacing_hz": subcarrier_spacing_hz,
        "num_ofdm_symbols": num_ofdm_symbols, "cyclic_prefix_length": cyclic_prefix_length,
        "pilot_ofdm_symbol_indices": _parse_ints(pilots, "--pilots") if pilots else None,
    }
    if ofdm is False:
        if any(v is not None for v in grid_flags.values()):
            raise SemlinkError("OFDM grid options were given together with --flat; drop --flat or the grid options")
        link["ofdm"] = None
    elif ofdm or any(v is not None for v in grid_flags.values()):
        grid = link.get("ofdm") or {}
        for key, value in grid_flags.items():
            _set(grid, key, value)
        link["ofdm"] = grid
    for key, value in (
        ("batch_size", batch_size), ("target_block_errors", target_block_errors), ("max_iter", max_iter), ("seed", seed),
        ("device", device),
    ):
        _set(tree, key, value)
    cfg = validate(BerSweepConfig, tree, source="phy ber settings")
    from semlink.devices import resolve_device

    resolve_device(cfg.device)  # a device this machine lacks fails here, before the output folder exists
    check_output_folder(out)
    set_up_threads(executor, threads)
    from semlink.sim.run_directory import RunDirectory

    with resumable(out), RunDirectory(out).writing():  # the lock is taken as the sweep opens the folder
        frame = run_ber_sweep(cfg, out, resume=resume, executor=runner)
    cols = [c for c in ("snr_db", "ebno_db", "ber", "bler", "n_bits", "n_block_errors") if c in frame.columns]
    typer.echo(frame[cols].to_string(index=False))
    typer.echo(f"wrote {out}/results.csv, results.parquet, manifest.json, ber_bler.png")
