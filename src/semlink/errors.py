"""Exceptions raised for bad user input.

Every user-facing failure is a :class:`SemlinkError` (a ``ValueError``) whose message names the bad
value and what is accepted, so the CLI can print it on one line and exit with status 2.
"""

from __future__ import annotations

from collections.abc import Iterable


class SemlinkError(ValueError):
    """A bad value given by the user (config, flag, file). The message says what is accepted."""


class MissingResourceError(SemlinkError):
    """Weights, data or an index that cannot be found offline."""


class CorruptFileError(SemlinkError):
    """A file that exists but fails its checksum or format check."""


def choice_error(what: str, value: object, accepted: Iterable[object]) -> SemlinkError:
    """Build the standard "unknown X" error: ``unknown channel 'foo'; accepted: awgn, rayleigh``."""
    accepted_text = ", ".join(str(a) for a in accepted)
    return SemlinkError(f"unknown {what} {value!r}; accepted: {accepted_text}")


def require(condition: bool, message: str) -> None:
    """Raise :class:`SemlinkError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise SemlinkError(message)
