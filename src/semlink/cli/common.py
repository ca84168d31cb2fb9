"""What several commands share: the executor flag's help, dB lists from the command line."""

from __future__ import annotations

from semlink.errors import SemlinkError

__all__ = ["EXECUTOR_HELP", "parse_db_list"]


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
