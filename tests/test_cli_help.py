"""``--help`` is complete (every option described, its default said, flags shown as flags), ``semlink
list`` prints what exists, and no message suggests an option that no command has."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from semlink.cli import app

SRC = Path(__file__).parents[1] / "src" / "semlink"
COMMAND = typer.main.get_command(app)


def _commands(command=COMMAND, path=("semlink",)):
    subcommands = getattr(command, "commands", None)
    if subcommands:
        for name, sub in subcommands.items():
            yield from _commands(sub, (*path, name))
    else:
        yield " ".join(path), command


COMMANDS = dict(_commands())


def _options(command):
    return [p for p in command.params if p.param_type_name == "option"]


def test_every_option_is_described_with_its_default():
    problems = []
    for name, command in COMMANDS.items():
        for option in _options(command):
            flag = "/".join(option.opts)
            help_text = (option.help or "").lower()
            if not help_text.strip():
                problems.append(f"{name} {flag}: no description")
            elif option.default is None and not option.required and not option.is_flag and not any(
                    word in help_text for word in ("default", "optional", "also", "instead", "repeatable")):
                problems.append(f"{name} {flag}: says neither its default nor that it is optional")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_shows_flags_as_flags_and_every_option(name):
    result = CliRunner().invoke(app, [*name.split()[1:], "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    for option in _options(COMMANDS[name]):
        assert option.opts[0] in result.output


def test_help_prints_every_word_of_the_descriptions():
    """Units in brackets are text, not markup: "[dB]" must not vanish from ``--help``."""
    for name, command in COMMANDS.items():
        result = CliRunner().invoke(app, [*name.split()[1:], "--help"], terminal_width=400)
        shown = " ".join(result.output.split())
        for option in _options(command):
            for unit in re.findall(r"\[[^\]\s]+\]", option.help or ""):
                assert unit in shown, f"{name} {option.opts[0]}: {unit} missing from --help"


def test_a_flag_takes_no_value():
    result = CliRunner().invoke(app, ["run", "x.toml", "--out", "o", "--resume", "true"])
    assert result.exit_code != 0  # `true` is an extra argument, as the help (a plain flag) says


def test_semlink_list_prints_every_kind():
    runner = CliRunner()
    systems = runner.invoke(app, ["list", "systems"]).output.splitlines()
    assert {line.split()[0] for line in systems} >= {"kbsc", "kbsc-digital", "raw", "noiseless", "bpg+ldpc",
                                                    "bpg+capacity", "deep-jscc", "multi-sc"}
    channels = runner.invoke(app, ["list", "channels"]).output
    assert "tdl-a" in channels and "awgn" in channels
    keys = runner.invoke(app, ["list", "keys"]).output
    for key in ("seed", "data.dataset", "link.ofdm.fft_size", "eval.top_k", "plugins", 'type = "kbsc"',
                "train.ema_decay"):
        assert key in keys, key
    everything = runner.invoke(app, ["list"]).output
    for heading in ("systems:", "datasets:", "encoders:", "codecs:", "channels:"):
        assert heading in everything
    assert "fashion-mnist" in everything and "bpg" in everything and "efficientnet-lite0" in everything
    bad = runner.invoke(app, ["list", "schemes"])
    assert bad.exit_code != 0 and "systems, datasets, encoders, codecs, channels, keys" in str(bad.exception)


# Flags of programs semlink runs (x265) and of pip, not of semlink.
FOREIGN = {"tx/codecs/hevc.py"}


def _flags_in_messages() -> dict[str, list[str]]:
    """``--flag`` → where a string literal of semlink's source mentions it."""
    found: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = str(path.relative_to(SRC))
        if rel in FOREIGN:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "pip install" not in node.value:
                for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", node.value):
                    found.setdefault(flag, []).append(f"{rel}:{node.lineno}")
    return found


def test_messages_suggest_only_options_that_exist():
    existing = {"--help", "--version"} | {opt for command in COMMANDS.values() for option in command.params
                                         for opt in (*option.opts, *option.secondary_opts)}
    unknown = {flag: where for flag, where in _flags_in_messages().items() if flag not in existing}
    assert not unknown, f"messages name options no command has: {unknown}"
