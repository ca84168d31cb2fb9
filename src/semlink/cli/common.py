"""What several commands share: the executor flag's help, dB lists from the command line, how flags show."""

from __future__ import annotations

from semlink.errors import SemlinkError

__all__ = ["EXECUTOR_HELP", "parse_db_list", "show_flags_plainly"]


EXECUTOR_HELP = "Where points run: local (this process) | process (a local pool) | ray (a Ray cluster)."


def show_flags_plainly() -> None:
    """Show boolean flags in ``--help`` as flags: ``--resume``, not ``--resume <bool>``.

    Typer (0.2x) prints a ``<bool>`` type beside every flag, as if it took a value; it takes none
    (``--resume true`` is a usage error). A flag's help row then shows no type at all.
    """
    from typer.core import TyperOption

    if getattr(TyperOption, "_semlink_plain_flags", False):
        return
    shown = TyperOption.display_type_rich

    def display_type_rich(self, ctx):
        if getattr(self, "is_flag", False) and not getattr(self, "count", False) and self.metavar is None:
            return None
        return shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich
    TyperOption._semlink_plain_flags = True


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
