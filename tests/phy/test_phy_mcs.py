"""The 38.214 MCS tables: against numbers typed from the standard and against Sionna's decode_mcs_index."""

from __future__ import annotations

import dataclasses
import doctest
import subprocess
import sys

import pytest

import semlink.phy.mcs
from semlink.errors import SemlinkError
from semlink.phy.mcs import MCS_TABLES, Mcs, mcs_from_table, mcs_table

# (table, MCS index) -> (modulation, R x 1024), typed from TS 38.214 V17 Tables 5.1.3.1-1 and -2.
STANDARD = {
    ("38.214-1", 0): ("qpsk", 120), ("38.214-1", 9): ("qpsk", 679), ("38.214-1", 10): ("16qam", 340),
    ("38.214-1", 16): ("16qam", 658), ("38.214-1", 17): ("64qam", 438), ("38.214-1", 28): ("64qam", 948),
    ("38.214-2", 0): ("qpsk", 120), ("38.214-2", 4): ("qpsk", 602), ("38.214-2", 5): ("16qam", 378),
    ("38.214-2", 11): ("64qam", 466), ("38.214-2", 20): ("256qam", 682.5), ("38.214-2", 26): ("256qam", 916.5),
    ("38.214-2", 27): ("256qam", 948),
}


@pytest.mark.parametrize(("table", "index"), sorted(STANDARD))
def test_entries_equal_the_standard(table: str, index: int) -> None:
    mcs = mcs_from_table(table, index)
    assert (mcs.modulation, mcs.rate_x1024) == STANDARD[table, index]
    assert (mcs.table, mcs.index) == (table, index)


def test_every_entry_equals_sionnas_decode_mcs_index() -> None:
    from sionna.phy.nr.utils import decode_mcs_index

    for number, table in ((1, "38.214-1"), (2, "38.214-2")):
        assert len(mcs_table(table)) == (29 if number == 1 else 28)
        for mcs in mcs_table(table):
            qm, rate = decode_mcs_index(mcs.index, table_index=number, is_pusch=False, device="cpu")
            assert (int(qm), float(rate)) == (mcs.bits_per_symbol, mcs.target_rate), mcs


def test_hand_written_mcs_and_round_trip() -> None:
    mcs = Mcs("16-QAM", 0.5)
    assert (mcs.modulation, mcs.bits_per_symbol, mcs.spectral_efficiency, mcs.table) == ("16qam", 4, 2.0, None)
    assert Mcs.from_dict(dataclasses.asdict(mcs)) == mcs
    row = mcs_from_table("38.214-1", 9)
    assert Mcs.from_dict(dataclasses.asdict(row)) == row == Mcs.from_dict({"table": "38.214-1", "index": 9})
    assert Mcs("qpsk", 679 / 1024, "38.214-1", 9) == row


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: mcs_from_table("38.214-9", 0), "unknown MCS table '38.214-9'; accepted: 38.214-1, 38.214-2"),
        (lambda: mcs_from_table("38.214-1", 29), r"MCS index 29 .* accepted: integers 0-28"),
        (lambda: mcs_from_table("38.214-2", 28), r"MCS index 28 .* accepted: integers 0-27"),
        (lambda: mcs_from_table("38.214-1", -1), "MCS index -1"),
        (lambda: mcs_from_table("38.214-1", True), "MCS index True"),
        (lambda: Mcs("8psk", 0.5), "unknown modulation '8psk'"),
        (lambda: Mcs("qpsk", 0.96), r"target_rate must be a number in \(0, 948/1024"),
        (lambda: Mcs("qpsk", 0), "target_rate"),
        (lambda: Mcs("qpsk", 0.5, "38.214-1", 3), "38.214-1 MCS 3 is qpsk 251/1024, not qpsk 512/1024"),
        (lambda: Mcs("qpsk", 0.5, "38.214-1"), "both table and index or neither"),
        (lambda: Mcs.from_dict({"table": "38.214-1", "mcs": 3}), "unknown MCS field"),
    ],
)
def test_refusals_name_the_value_and_what_is_accepted(call, fragment: str) -> None:  # noqa: ANN001
    with pytest.raises(SemlinkError, match=fragment):
        call()


def test_torch_free_and_doctests() -> None:
    code = ("import sys; import semlink.phy.mcs, semlink.phy.transport_size; "
            "assert 'torch' not in sys.modules and 'sionna' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert doctest.testmod(semlink.phy.mcs).failed == 0
    assert set(MCS_TABLES) == {"38.214-1", "38.214-2"}
