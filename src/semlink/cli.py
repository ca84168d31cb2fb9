"""The ``semlink`` command line (typer).

Subcommands::

    semlink phy ber      Monte Carlo BER/BLER sweep of a 5G-style link
    semlink run          an experiment from a TOML config (systems x channels x SNRs)
    semlink features     extract image features into a file (for the kb commands)
    semlink kb build     build a FAISS knowledge base from a features file
    semlink kb query     query a knowledge base
    semlink export-onnx  export a trained KBSC or deep-JSCC transmitter/receiver as ONNX
    semlink report       one self-contained HTML page overlaying runs (figures, tables, config diffs)
    semlink version      package versions

Bad input prints one line ``error: ...`` on stderr and exits with status 2, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from semlink.errors import SemlinkError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Semantic image transmission over a real PHY.")
phy_app = typer.Typer(add_completion=False, no_args_is_help=True, help="Physical-layer link simulations.")
app.add_typer(phy_app, name="phy")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version as installed

        typer.echo(f"semlink {installed('semlink')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print semlink's version and exit."),
) -> None:
    """Semantic image transmission over a real PHY (heavy libraries load only inside the commands)."""


EXECUTOR_HELP = "Where points run: local (this process) | process (a local pool) | ray (a Ray cluster)."


def parse_db_list(text: str, name: str) -> list[float]:
    """``"0,2,4"`` or ``"0:10:2"`` (start:stop:step, stop included) → list of floats.

    >>> parse_db_list("0:4:2", "--snr-db")
    [0.0, 2.0, 4.0]
    """
    import math

    text = text.strip()
    try:
        if ":" in text:
            parts = [float(p) for p in text.split(":")]
            if len(parts) != 3 or parts[2] <= 0:
                raise ValueError
            start, stop, step = parts
            count = int(math.floor((stop - start) / step + 1e-9)) + 1
            values = [round(start + i * step, 10) for i in range(max(count, 0))]
        else:
            values = [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise SemlinkError(
            f"{name} {text!r} is not a list of dB values; accepted: '0,2,4' or 'start:stop:step' with step > 0"
        ) from None
    if not values:
        raise SemlinkError(f"{name} {text!r} gives no values; accepted: '0,2,4' or 'start:stop:step'")
    if not all(math.isfinite(v) for v in values):
        raise SemlinkError(f"{name} {text!r} contains non-finite values; every value must be a finite dB number")
    return values


def _set(tree: dict[str, Any], key: str, value: Any) -> None:
    """Overlay a flag on the TOML tree when the flag was given."""
    if value is not None:
        tree[key] = value


def _parse_ints(text: str, name: str) -> list[int]:
    try:
        return [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise SemlinkError(f"{name} {text!r} is not a list of integers; accepted e.g. '2,11'") from None


@phy_app.command("ber")
def phy_ber(
    out: Path = typer.Option(..., "--out", help="Output folder (results.csv/.parquet, manifest.json, ber_bler.png)."),
    config: Path | None = typer.Option(None, "--config", help="TOML file; flags given here override it."),
    snr_db: str | None = typer.Option(None, "--snr-db", help="Es/N0 per symbol [dB]: '0,2,4' or '0:10:1'."),
    ebno_db: str | None = typer.Option(None, "--ebno-db", help="Eb/N0 [dB]: '0,2,4' or '0:10:1'."),
    channel: str | None = typer.Option(None, "--channel", help="awgn | rayleigh | tdl-a..tdl-e | cdl-a..cdl-e"),
    modulation: str | None = typer.Option(None, "--modulation", help="qpsk | 16qam | 64qam | 256qam"),
    code: str | None = typer.Option(None, "--code", help="LDPC 'K,N' (5G NR BG1/BG2), e.g. '1024,2048'."),
    uncoded: bool = typer.Option(False, "--uncoded", help="No channel code."),
    ofdm: bool | None = typer.Option(None, "--ofdm/--flat", help="OFDM resource grid, or flat symbols."),
    fft_size: int | None = typer.Option(None, "--fft-size"),
    subcarrier_spacing_hz: float | None = typer.Option(None, "--subcarrier-spacing"),
    num_ofdm_symbols: int | None = typer.Option(None, "--num-ofdm-symbols"),
    cyclic_prefix_length: int | None = typer.Option(None, "--cp-length"),
    pilots: str | None = typer.Option(None, "--pilots", help="Pilot OFDM symbol indices, e.g. '2,11'."),
    csi: str | None = typer.Option(None, "--csi", help="perfect | ls | lmmse"),
    interpolation: str | None = typer.Option(None, "--interpolation", help="nn | lin (LS CSI)"),
    delay_spread_ns: float | None = typer.Option(None, "--delay-spread-ns"),
    speed_mps: float | None = typer.Option(None, "--speed-mps"),
    carrier_frequency_hz: float | None = typer.Option(None, "--carrier-frequency-hz"),
    bp_iterations: int | None = typer.Option(
        None, "--bp-iterations", help="LDPC iterations (the most per block for layered decoders)."
    ),
    decoder: str | None = typer.Option(
        None, "--decoder", help="LDPC decoder: sionna-bp | layered-bp | layered-nms (numba, CPU, early stop)."
    ),
    nms_scale: float | None = typer.Option(None, "--nms-scale", help="min-sum normalisation of layered-nms."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Code blocks per Monte Carlo batch."),
    target_block_errors: int | None = typer.Option(None, "--target-block-errors"),
    max_iter: int | None = typer.Option(None, "--max-iter", help="Maximum batches per SNR point."),
    seed: int | None = typer.Option(None, "--seed"),
    resume: bool = typer.Option(False, "--resume", help="Continue a killed sweep in --out."),
    executor: str = typer.Option("local", "--executor", help=EXECUTOR_HELP),
    workers: int | None = typer.Option(None, "--workers", help="Worker processes (process) or actors (ray)."),
    address: str | None = typer.Option(None, "--address", help="Address of an existing Ray cluster (ray)."),
) -> None:
    """Monte Carlo BER/BLER sweep: bits → LDPC → QAM → (OFDM) → channel → estimation → decoding."""
    from semlink.config import read_toml, validate
    from semlink.sim.ber import run_ber_sweep
    from semlink.sim.config import BerSweepConfig
    from semlink.sim.executors import create_executor

    runner = create_executor(executor, workers, address)

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
        ("batch_size", batch_size), ("target_block_errors", target_block_errors), ("max_iter", max_iter), ("seed", seed)
    ):
        _set(tree, key, value)
    cfg = validate(BerSweepConfig, tree, source="phy ber settings")
    frame = run_ber_sweep(cfg, out, resume=resume, executor=runner)
    cols = [c for c in ("snr_db", "ebno_db", "ber", "bler", "n_bits", "n_block_errors") if c in frame.columns]
    typer.echo(frame[cols].to_string(index=False))
    typer.echo(f"wrote {out}/results.csv, results.parquet, manifest.json, ber_bler.png")


@app.command("report")
def report(
    runs: list[Path] | None = typer.Argument(None, help="Run folders (written by `semlink run` or `semlink phy ber`)."),
    out: Path = typer.Option(..., "--out", help="The HTML file to write (one self-contained page)."),
    label: list[str] | None = typer.Option(
        None, "--label", help="A name for each run, in order (default: its config name, else its folder name)."
    ),
    title: str | None = typer.Option(None, "--title", help="Page title (default: the runs' names)."),
) -> None:
    """One HTML page overlaying runs: interactive figures of every metric, tables, config differences."""
    from semlink.sim.report import write_report

    if not runs:
        raise SemlinkError("no run folders given; usage: semlink report RUN_DIR... --out report.html")
    path = write_report(runs, out, labels=label or None, title=title)
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) from {len(runs)} run(s)")


@app.command("version")
def version() -> None:
    """Print the versions of semlink and the packages that shape its results."""
    from semlink.io import package_versions

    for name, ver in package_versions().items():
        typer.echo(f"{name} {ver}")


def _register_commands() -> None:
    """Subcommands whose modules live with their layer (each imports its heavy libraries only when run)."""
    from semlink.kb.cli import app as kb_app
    from semlink.sim.cli import register as register_run
    from semlink.systems.cli import register as register_systems

    app.add_typer(kb_app, name="kb", help="FAISS knowledge base: build and query.")
    register_run(app)
    register_systems(app)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning :class:`SemlinkError` into one line and exit status 2."""
    try:
        app(args=argv, standalone_mode=False)
    except SemlinkError as err:
        typer.echo(f"error: {err}", err=True)
        sys.exit(2)
    except typer.Exit as exit_:
        sys.exit(exit_.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except typer.TyperException as err:  # usage errors (bad flag, missing option): one line, status 2
        from typer._click.exceptions import NoArgsIsHelpError

        if isinstance(err, NoArgsIsHelpError):  # a bare group: its help is the answer
            typer.echo(err.format_message())
            sys.exit(0)
        hint = getattr(getattr(err, "ctx", None), "command_path", "semlink")
        typer.echo(f"error: {err.format_message()} (see {hint} --help)", err=True)
        sys.exit(2)
    sys.exit(0)


if __name__ == "__main__":
    main()
