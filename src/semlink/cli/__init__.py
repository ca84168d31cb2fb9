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

Exit status (one line on stderr for each failure, never a traceback):

- 0: done;
- 1: an internal error, i.e. a bug in semlink: ``error: internal error ...`` names the exception
  and the file its traceback was saved to (``SEMLINK_DEBUG=1`` prints it instead);
- 2: a problem the user can fix: a bad value, flag, config or input file, an output path that
  cannot be written, a full disk, a run folder another process is writing (``error: ...``);
- 130 (128 + 2): stopped by Ctrl-C, 143 (128 + 15): stopped by SIGTERM (``interrupted: ...``);
  ``run`` and ``phy ber`` say what their folder keeps and the command that continues it.

The commands live in this package (the top layer: it imports every other): ``phy`` (``phy ber``),
``run``, ``models`` (``features``, ``export-onnx``), ``kb``, ``listing`` (``list``); ``common`` holds what they
share.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import typer

from semlink.errors import SemlinkError

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,  # "[dB]" is a unit, not a style
                  help="Semantic image transmission over a real PHY.")


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
    from semlink.io import check_output_file

    if not runs:
        raise SemlinkError("no run folders given; usage: semlink report RUN_DIR... --out report.html")
    check_output_file(out, example="report.html")
    from semlink.sim.report import write_report

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
    """Entry point: run the app and exit with the status documented above (module docstring)."""
    from semlink.cli.common import Interrupted, set_invocation

    argv = list(sys.argv[1:] if argv is None else argv)
    set_invocation(argv)
    previous = _stop_on_sigterm()
    try:
        code = app(args=argv, standalone_mode=False)
    except Interrupted as stop:
        _fail(f"interrupted: {stop}", 128 + stop.signal_number)
    except SemlinkError as err:
        _fail(f"error: {err}", 2)
    except typer.Exit as exit_:
        sys.exit(exit_.exit_code)
    except typer.Abort:
        _fail("interrupted: aborted", 130)
    except typer.TyperException as err:  # usage errors (bad flag, missing option): one line, status 2
        from typer._click.exceptions import NoArgsIsHelpError

        if isinstance(err, NoArgsIsHelpError):  # a bare group: its help is the answer
            typer.echo(err.format_message())
            sys.exit(0)
        hint = getattr(getattr(err, "ctx", None), "command_path", "semlink")
        _fail(f"error: {err.format_message()} (see {hint} --help)", 2)
    except KeyboardInterrupt as stop:  # a second Ctrl-C while the first was being handled
        _fail("interrupted: stopped before finishing (files are written whole: none is left half-written)",
              128 + getattr(stop, "signal_number", 2))
    except OSError as err:  # a file operation no command foresaw: the environment's, not semlink's
        from semlink.io import describe_os_error

        _fail(f"error: {describe_os_error(err)}", 2)
    except MemoryError:
        _fail("error: out of memory; give the run less to hold at once (smaller batches or fewer items)", 2)
    except Exception as err:  # noqa: BLE001 - a bug: one line, the traceback saved for the report
        _internal_error(err)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if code == 130:  # typer turned a Ctrl-C in a command without its own guard into Exit(130)
        command = " ".join(argv[: 2 if argv and argv[0] in ("kb", "phy") else 1])
        _fail(f"interrupted: semlink {command} stopped before finishing (files are written whole: none is left "
              "half-written); run it again", 130)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(line: str, status: int) -> None:
    typer.echo(line, err=True)
    sys.exit(status)


def _stop_on_sigterm():
    """Turn SIGTERM (batch schedulers, ``kill``) into :class:`~semlink.cli.common.Terminated`, so a run
    stops as on Ctrl-C: its manifest says so and the line says what is kept. Returns the previous
    handler (None when it was left alone). Only this process: a child that inherited the handler dies
    as by default."""
    from semlink.cli.common import Terminated

    me = os.getpid()

    def stop(signum, frame):
        if os.getpid() != me:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise Terminated()

    try:
        return signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread (an embedding application): leave signals alone
        return None


def _internal_error(err: Exception) -> None:
    """A bug: re-raised with ``SEMLINK_DEBUG=1``, else one line naming the file that keeps the traceback."""
    import tempfile
    import traceback

    if os.environ.get("SEMLINK_DEBUG"):
        raise err
    text = "".join(traceback.format_exception(err))
    saved = ""
    try:
        fd, name = tempfile.mkstemp(prefix="semlink-error-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f"semlink {' '.join(sys.argv[1:])}\n\n{text}")
        saved = f"; its traceback is in {name}"
    except OSError:
        pass
    message = " ".join(str(err).split())[:300]
    _fail(f"error: internal error ({type(err).__name__}: {message}), a bug in semlink{saved}; please report it "
          "(SEMLINK_DEBUG=1 prints the traceback)", 1)


if __name__ == "__main__":
    main()
