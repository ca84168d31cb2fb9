"""The modulations semlink names, and their bits per symbol (the one list :mod:`~semlink.phy.config`
and :mod:`~semlink.phy.mcs` both read).

>>> MODULATIONS["16qam"]
4
"""

from __future__ import annotations

__all__ = ["MODULATIONS"]

#: Accepted modulation names and their bits per symbol (Gray-labelled square QAM, unit energy).
MODULATIONS: dict[str, int] = {"qpsk": 2, "16qam": 4, "64qam": 6, "256qam": 8}
