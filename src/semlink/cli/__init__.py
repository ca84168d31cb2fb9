"""The ``semlink`` command line (typer).

Subcommands::

    semlink phy ber      Monte Carlo BER/BLER sweep of a 5G-style link
    semlink run          an experiment from a TOML config (systems x channels x SNRs)
    semlink features     extract image features into a file (for the kb commands)
    semlink kb build     build a FAISS knowledge base from a features file
    semlink kb query     query a knowledge base
    semlink export-onnx  export a trained KBSC or deep-JSCC transmitter/receiver as ONNX
    semlink report       one self-contained HTML page overlaying runs (figures, tables, config diffs)
    semlink list         system types, datasets, encoders, codecs, channels, config keys (plug-ins included)
    semlink version      package versions

Bad input prints one line ``error: ...`` on stderr and exits with status 2, never a traceback.
The commands live in this package (the top layer: it imports every other): ``phy`` (``phy ber``),
``run``, ``models`` (``features``, ``export-onnx``), ``kb``; ``common`` holds what they share.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from semlink.errors import SemlinkError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Semantic image transmission over a real PHY.")


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
    """The commands of the other modules of this package (each imports its heavy libraries only when run)."""
    from semlink.cli import common, kb, listing, models, phy, run

    common.show_flags_plainly()

    app.add_typer(phy.app, name="phy")
    app.add_typer(kb.app, name="kb", help="FAISS knowledge base: build and query.")
    run.register(app)
    models.register(app)
    listing.register(app)


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
