"""Modulation and coding schemes: the 3GPP TS 38.214 PDSCH MCS tables, or hand-written pairs (no torch).

An :class:`Mcs` is a modulation (named as the rest of :mod:`semlink.phy` names them) and a target
code rate ``R``; one that came from a table also carries the table's name and the MCS index. Two
tables of TS 38.214 (V17, PDSCH without transform precoding) are known:

- ``"38.214-1"``: Table 5.1.3.1-1, the 64-QAM table, MCS 0-28 (29-31 are reserved for
  retransmissions and carry no rate);
- ``"38.214-2"``: Table 5.1.3.1-2, the 256-QAM table, MCS 0-27 (28-31 reserved).

Rates are stored as 3GPP writes them, ``R x 1024`` (682.5 and 916.5 included), so ``target_rate``
is exact. The entries equal what ``sionna.phy.nr.utils.decode_mcs_index`` returns for PDSCH
(``tests/phy/test_phy_mcs.py`` checks every one, and a handful against numbers typed from the
standard).

>>> mcs_from_table("38.214-1", 0)
Mcs(modulation='qpsk', target_rate=0.1171875, table='38.214-1', index=0)
>>> m = mcs_from_table("38.214-2", 20)
>>> m.modulation, m.bits_per_symbol, m.rate_x1024, m.label
('256qam', 8, 682.5, '38.214-2 MCS 20 (256qam 682.5/1024)')
>>> Mcs("16qam", 0.5).label
'16qam r=0.5'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from semlink.errors import SemlinkError, choice_error
from semlink.phy.modulations import MODULATIONS

__all__ = ["Mcs", "MCS_TABLES", "MAX_TARGET_RATE", "mcs_from_table", "mcs_table"]

#: Highest target code rate of the 38.214 tables (and of Sionna's TB encoder): 948/1024.
MAX_TARGET_RATE = 948 / 1024

_QM_NAME = {bits: name for name, bits in MODULATIONS.items()}

#: ``table name -> ((bits per symbol, R x 1024) per MCS index)``; reserved indices are left out.
MCS_TABLES: dict[str, tuple[tuple[int, float], ...]] = {
    # TS 38.214 Table 5.1.3.1-1 (MCS index table 1 for PDSCH), MCS 0-28.
    "38.214-1": (
        (2, 120), (2, 157), (2, 193), (2, 251), (2, 308), (2, 379), (2, 449), (2, 526), (2, 602), (2, 679),
        (4, 340), (4, 378), (4, 434), (4, 490), (4, 553), (4, 616), (4, 658),
        (6, 438), (6, 466), (6, 517), (6, 567), (6, 616), (6, 666), (6, 719), (6, 772), (6, 822), (6, 873),
        (6, 910), (6, 948),
    ),
    # TS 38.214 Table 5.1.3.1-2 (MCS index table 2 for PDSCH), MCS 0-27.
    "38.214-2": (
        (2, 120), (2, 193), (2, 308), (2, 449), (2, 602),
        (4, 378), (4, 434), (4, 490), (4, 553), (4, 616), (4, 658),
        (6, 466), (6, 517), (6, 567), (6, 616), (6, 666), (6, 719), (6, 772), (6, 822), (6, 873),
        (8, 682.5), (8, 711), (8, 754), (8, 797), (8, 841), (8, 885), (8, 916.5), (8, 948),
    ),
}


@dataclass(frozen=True)
class Mcs:
    """A modulation and a target code rate, optionally a row of a 38.214 table.

    - ``modulation``: one of :data:`~semlink.phy.modulations.MODULATIONS` (``qpsk`` ... ``256qam``;
      ``16-QAM`` and upper case are accepted and normalised).
    - ``target_rate``: ``R`` in ``(0, 948/1024]``, the rate TS 38.214 sizes the transport block
      with (the real rate after CRC and rate matching is :attr:`TbLayout.code_rate
      <semlink.phy.transport_size.TbLayout.code_rate>`).
    - ``table``/``index``: the 38.214 table and MCS index it came from, both or neither; given,
      they must agree with the modulation and rate (:func:`mcs_from_table` fills them in).
    """

    modulation: str
    target_rate: float
    table: str | None = None
    index: int | None = None

    def __post_init__(self) -> None:
        mod = self.modulation.lower().replace("-", "").strip() if isinstance(self.modulation, str) else None
        if mod not in MODULATIONS:
            raise choice_error("modulation", self.modulation, MODULATIONS)
        object.__setattr__(self, "modulation", mod)
        rate = self.target_rate
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate <= MAX_TARGET_RATE:
            raise SemlinkError(f"target_rate must be a number in (0, 948/1024 = {MAX_TARGET_RATE:.4f}], got {rate!r}")
        object.__setattr__(self, "target_rate", float(rate))
        if (self.table is None) != (self.index is None):
            raise SemlinkError(f"an MCS gives both table and index or neither, got table={self.table!r}, "
                               f"index={self.index!r}")
        if self.table is not None:
            row = mcs_from_table(self.table, self.index)
            if (row.modulation, row.target_rate) != (mod, self.target_rate):
                raise SemlinkError(
                    f"{self.table} MCS {self.index} is {row.modulation} {row.rate_x1024:g}/1024, "
                    f"not {mod} {self.target_rate * 1024:g}/1024"
                )

    @property
    def bits_per_symbol(self) -> int:
        """``Qm``: 2, 4, 6 or 8."""
        return MODULATIONS[self.modulation]

    @property
    def rate_x1024(self) -> float:
        """``R x 1024`` as the 38.214 tables write it."""
        return self.target_rate * 1024

    @property
    def spectral_efficiency(self) -> float:
        """``Qm R``: target information bits per channel use."""
        return self.bits_per_symbol * self.target_rate

    @property
    def label(self) -> str:
        """A short name for tables and logs: ``38.214-1 MCS 9 (qpsk 679/1024)`` or ``16qam r=0.5``."""
        if self.table is not None:
            return f"{self.table} MCS {self.index} ({self.modulation} {self.rate_x1024:g}/1024)"
        return f"{self.modulation} r={self.target_rate:.4g}"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | Mcs) -> Mcs:
        """From ``{"table": ..., "index": ...}`` or ``{"modulation": ..., "target_rate": ...}`` (or an Mcs)."""
        if isinstance(data, Mcs):
            return data
        if not isinstance(data, Mapping):
            raise SemlinkError(f"an MCS must be given as a mapping, got {type(data).__name__}")
        names = ("modulation", "target_rate", "table", "index")
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise SemlinkError(f"unknown MCS field(s) {', '.join(unknown)}; accepted: {', '.join(names)}")
        if set(data) == {"table", "index"}:
            return mcs_from_table(data["table"], data["index"])
        return cls(**dict(data))


def _table_rows(table: object) -> tuple[tuple[int, float], ...]:
    if not isinstance(table, str) or table not in MCS_TABLES:
        raise choice_error("MCS table", table, MCS_TABLES)
    return MCS_TABLES[table]


def mcs_from_table(table: str, index: int) -> Mcs:
    """The :class:`Mcs` of ``index`` in ``table`` (``"38.214-1"`` or ``"38.214-2"``)."""
    rows = _table_rows(table)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(rows):
        raise SemlinkError(
            f"MCS index {index!r} is not a usable entry of table {table}; accepted: integers 0-{len(rows) - 1} "
            f"({len(rows)}-31 are reserved for retransmissions)"
        )
    bits, x1024 = rows[index]
    mcs = object.__new__(Mcs)  # the table is its own validation; avoids re-entering __post_init__
    for name, value in (("modulation", _QM_NAME[bits]), ("target_rate", x1024 / 1024), ("table", table),
                        ("index", index)):
        object.__setattr__(mcs, name, value)
    return mcs


def mcs_table(table: str) -> list[Mcs]:
    """Every usable entry of ``table``, by MCS index."""
    return [mcs_from_table(table, i) for i in range(len(_table_rows(table)))]

