"""Transport-block sizing of 5G NR (TS 38.214 5.1.3.2, TS 38.212 5.1-5.4, 7.2), without torch.

An allocation is ``channel_uses`` data REs (complex symbols) of one layer at an :class:`~semlink.phy.mcs.Mcs`
``(Qm, R)``; it carries ``G = channel_uses * Qm`` coded bits. The allocation granularity is one RE:
budgets here go down to 64 REs, far below a PRB-granular 5G grant, and TS 38.214's ``N_RE`` is
taken as ``channel_uses`` itself (no 156-RE-per-PRB cap, no overhead REs: pilots are outside the
data REs already).

TS 38.214 5.1.3.2: ``N_info = N_RE R Qm``; for ``N_info <= 3824`` it is quantised to
``N'_info = max(24, 2^n floor(N_info / 2^n))``, ``n = max(3, floor(log2 N_info) - 6)``, and the TBS
is the smallest entry of Table 5.1.3.2-1 not below it; above, ``N'_info = max(3840, 2^n
round((N_info - 24) / 2^n))``, ``n = floor(log2(N_info - 24)) - 5`` (ties round up), and ``TBS = 8 C
ceil((N'_info + 24) / (8 C)) - 24`` with ``C`` code blocks (``C = ceil((N'_info + 24) / 3816)`` when
``R <= 1/4``, ``ceil((N'_info + 24) / 8424)`` above 8424 bits, else 1).

TS 38.212 then attaches the TB CRC (CRC24A above 3824 bits, else CRC16: 7.2.1), picks the LDPC base
graph from ``A = TBS`` and ``R`` (7.2.2: BG2 if ``A <= 292``, or ``A <= 3824`` and ``R <= 0.67``, or
``R <= 0.25``; else BG1), segments ``B = A + L_TB`` into ``C`` blocks of ``K'`` bits, each with a
CRC24B when ``C > 1`` (5.2.2), pads each to ``K = 22 Z`` (BG1) or ``10 Z`` (BG2) with filler bits,
and rate-matches code block ``r`` to ``E_r`` bits (5.4.2.1, one layer): ``Qm floor(N_RE / C)`` for
the first ``C - (N_RE mod C)`` blocks, ``Qm ceil(N_RE / C)`` for the rest, read cyclically from the
full circular buffer (``N_cb = 66 Z`` or ``50 Z``, no limited-buffer rate matching, redundancy
version 0), so rates below the mother code's (MCS 0 to 2 of table 1: below 1/5) repeat bits.

An allocation is usable when its effective code rate, ``(TBS + CRC bits) / G``, is at most 0.95
(TS 38.214 5.1.3.1: a UE does not decode above it); :func:`tb_size` is 0 otherwise. That limit
makes ``tb_size`` non-monotone in a few places at high MCS (one RE more can push the quantised TBS
past it), so :func:`channel_uses_for` searches for the smallest usable allocation rather than
inverting a formula, and :func:`max_tb_size` gives the largest TBS within a budget.

>>> from semlink.phy.mcs import mcs_from_table
>>> mcs0 = mcs_from_table("38.214-1", 0)                 # QPSK 120/1024
>>> layout = tb_layout(mcs0, 392)
>>> layout.tbs, layout.tb_crc_bits, layout.num_cbs, layout.base_graph, layout.cb_bits, layout.lifting
(88, 16, 1, 'bg2', 104, 18)
>>> layout.cw_lengths, round(layout.code_rate, 4)
((784,), 0.1327)
>>> tb_size(mcs0, 64), channel_uses_for(mcs0, 89)
(24, 410)
"""

from __future__ import annotations

import bisect
import functools
import math
from dataclasses import dataclass

from semlink.errors import SemlinkError
from semlink.phy.code_rules import lifting
from semlink.phy.mcs import Mcs

__all__ = [
    "TBS_TABLE",
    "MAX_EFFECTIVE_RATE",
    "TbLayout",
    "tb_base_graph",
    "quantized_tbs",
    "tb_layout",
    "tb_size",
    "channel_uses_for",
    "max_tb_size",
]

#: TS 38.214 Table 5.1.3.2-1: TBS for ``N_info <= 3824``.
TBS_TABLE: tuple[int, ...] = (
    24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120, 128, 136, 144, 152, 160, 168, 176, 184, 192, 208, 224,
    240, 256, 272, 288, 304, 320, 336, 352, 368, 384, 408, 432, 456, 480, 504, 528, 552, 576, 608, 640, 672, 704,
    736, 768, 808, 848, 888, 928, 984, 1032, 1064, 1128, 1160, 1192, 1224, 1256, 1288, 1320, 1352, 1416, 1480,
    1544, 1608, 1672, 1736, 1800, 1864, 1928, 2024, 2088, 2152, 2216, 2280, 2408, 2472, 2536, 2600, 2664, 2728,
    2792, 2856, 2976, 3104, 3240, 3368, 3496, 3624, 3752, 3824,
)
#: Highest effective code rate a UE decodes (TS 38.214 5.1.3.1).
MAX_EFFECTIVE_RATE = 0.95
#: CRC lengths (TS 38.212 5.1): CRC24A / CRC16 on the TB, CRC24B on each of several code blocks.
TB_CRC_LARGE, TB_CRC_SMALL, CB_CRC = 24, 16, 24
#: Largest code block (TS 38.212 5.2.2) and base-graph columns (circular buffer ``N = (cols - 2) Z``).
MAX_CB_BITS = {"bg1": 8448, "bg2": 3840}
_BASE_COLUMNS = {"bg1": 68, "bg2": 52}


@dataclass(frozen=True)
class TbLayout:
    """One transport block of an allocation (see the module docstring; bit counts per TB unless said).

    - ``tbs``: payload bits ``A``; ``tb_crc_bits``: 16 or 24; ``num_cbs``: ``C``; ``cb_crc_bits``:
      0 (one block) or 24 per block; ``cb_bits``: ``K'``, the bits of one code block with its CRCs.
    - ``base_graph``: ``"bg1"``/``"bg2"``; ``lifting``: ``Z``; ``filler_bits``: ``K - K'`` per block
      (known zeros, never sent); ``buffer_bits``: circular buffer per block without fillers,
      ``N_cb - F``.
    - ``cw_lengths``: ``E_r`` per block (sum ``coded_bits = channel_uses * Qm``).
    """

    mcs: Mcs
    channel_uses: int
    tbs: int
    tb_crc_bits: int
    num_cbs: int
    cb_crc_bits: int
    cb_bits: int
    base_graph: str
    lifting: int
    filler_bits: int
    buffer_bits: int
    cw_lengths: tuple[int, ...]

    @property
    def coded_bits(self) -> int:
        """``G``: coded bits the allocation carries."""
        return self.channel_uses * self.mcs.bits_per_symbol

    @property
    def crc_bits(self) -> int:
        """CRC bits paid per TB: the TB CRC and one CRC24B per code block when there are several."""
        return self.tb_crc_bits + self.num_cbs * self.cb_crc_bits

    @property
    def code_rate(self) -> float:
        """The real code rate after rate matching, ``(TBS + CRC bits) / G`` (38.214's effective rate)."""
        return (self.tbs + self.crc_bits) / self.coded_bits

    @property
    def payload_bits_per_use(self) -> float:
        """``TBS / channel_uses``: payload bits per channel use, CRC and coding paid."""
        return self.tbs / self.channel_uses

    @property
    def repeated_bits(self) -> int:
        """Coded bits that repeat the circular buffer (rates below the mother code's)."""
        return sum(max(0, e - self.buffer_bits) for e in self.cw_lengths)


def tb_base_graph(tbs: int, target_rate: float) -> str:
    """TS 38.212 7.2.2: the LDPC base graph of a transport block of ``tbs`` bits at target rate ``R``."""
    if tbs <= 292 or (tbs <= 3824 and target_rate <= 0.67) or target_rate <= 0.25:
        return "bg2"
    return "bg1"


def _floor_log2(x: float) -> int:
    """``floor(log2 x)`` for ``x > 0``, exact for floats (``frexp``: ``x = m 2^e``, ``1/2 <= m < 1``)."""
    return math.frexp(x)[1] - 1


def _check_uses(channel_uses: object) -> int:
    if isinstance(channel_uses, bool) or not isinstance(channel_uses, int) or channel_uses < 0:
        raise SemlinkError(f"channel_uses must be an integer >= 0, got {channel_uses!r}")
    return channel_uses


def quantized_tbs(mcs: Mcs, channel_uses: int) -> tuple[int, int]:
    """``(TBS, C)`` of TS 38.214 5.1.3.2 for ``channel_uses`` REs, before the 0.95 rate limit.

    Non-decreasing in ``channel_uses``; at least 24 bits (the smallest TBS) whatever the allocation.
    """
    n_info = _check_uses(channel_uses) * mcs.target_rate * mcs.bits_per_symbol
    if n_info <= 3824:
        n = max(3, _floor_log2(n_info) - 6) if n_info >= 1 else 3
        n_info_q = max(24, 2**n * math.floor(n_info / 2**n))
        return TBS_TABLE[bisect.bisect_left(TBS_TABLE, n_info_q)], 1
    n = _floor_log2(n_info - 24) - 5
    n_info_q = max(3840, 2**n * math.floor((n_info - 24) / 2**n + 0.5))
    if mcs.target_rate <= 0.25:
        blocks = -(-(n_info_q + 24) // 3816)
    elif n_info_q > 8424:
        blocks = -(-(n_info_q + 24) // 8424)
    else:
        blocks = 1
    return 8 * blocks * -(-(n_info_q + 24) // (8 * blocks)) - 24, blocks


@functools.lru_cache(maxsize=65536)
def _layout(mcs: Mcs, channel_uses: int) -> TbLayout | None:
    tbs, _ = quantized_tbs(mcs, channel_uses)
    tb_crc = TB_CRC_LARGE if tbs > 3824 else TB_CRC_SMALL
    graph = tb_base_graph(tbs, mcs.target_rate)
    b = tbs + tb_crc
    max_cb = MAX_CB_BITS[graph]
    if b <= max_cb:
        blocks, cb_crc = 1, 0
    else:
        cb_crc = CB_CRC
        blocks = -(-b // (max_cb - cb_crc))
    total = b + blocks * cb_crc
    coded = channel_uses * mcs.bits_per_symbol
    if coded == 0 or total > MAX_EFFECTIVE_RATE * coded:
        return None
    if total % blocks:  # pragma: no cover - 38.214 sizes the TBS so that the blocks are equal
        raise AssertionError(f"TBS {tbs} does not split into {blocks} equal code blocks")
    cb_bits = total // blocks
    z, info_columns = lifting(cb_bits, graph)
    fillers = info_columns * z - cb_bits
    qm = mcs.bits_per_symbol
    short = channel_uses // blocks
    num_long = channel_uses % blocks
    lengths = (qm * short,) * (blocks - num_long) + (qm * (short + 1),) * num_long
    return TbLayout(
        mcs=mcs, channel_uses=channel_uses, tbs=tbs, tb_crc_bits=tb_crc, num_cbs=blocks, cb_crc_bits=cb_crc,
        cb_bits=cb_bits, base_graph=graph, lifting=z, filler_bits=fillers,
        buffer_bits=(_BASE_COLUMNS[graph] - 2) * z - fillers, cw_lengths=lengths,
    )


def tb_layout(mcs: Mcs, channel_uses: int) -> TbLayout:
    """The :class:`TbLayout` of ``channel_uses`` REs at ``mcs``; SemlinkError if too small to carry a TB."""
    layout = _layout(mcs, _check_uses(channel_uses))
    if layout is None:
        raise SemlinkError(
            f"an allocation of {channel_uses} channel uses at {mcs.label} carries no transport block: "
            f"{quantized_tbs(mcs, channel_uses)[0]} bits with their CRC exceed {MAX_EFFECTIVE_RATE} of its "
            f"{channel_uses * mcs.bits_per_symbol} coded bits (smallest usable: "
            f"{channel_uses_for(mcs, 1)} channel uses)"
        )
    return layout


def tb_size(mcs: Mcs, channel_uses: int) -> int:
    """Payload bits (the TBS) that ``channel_uses`` REs carry at ``mcs``; 0 if no TB fits."""
    layout = _layout(mcs, _check_uses(channel_uses))
    return 0 if layout is None else layout.tbs


def channel_uses_for(mcs: Mcs, payload_bits: int) -> int:
    """The fewest REs whose TB carries ``payload_bits`` (0 for an empty payload): ``tb_size`` inverted.

    ``tb_size(mcs, u) >= payload_bits`` at the returned ``u`` and for no smaller ``u``.
    """
    if isinstance(payload_bits, bool) or not isinstance(payload_bits, int) or payload_bits < 0:
        raise SemlinkError(f"payload_bits must be an integer >= 0, got {payload_bits!r}")
    if payload_bits == 0:
        return 0
    # quantized_tbs is non-decreasing: bisect for the first allocation whose TBS is large enough,
    # then step over allocations the 0.95 limit refuses.
    hi = 1
    while quantized_tbs(mcs, hi)[0] < payload_bits:
        hi *= 2
    lo = hi // 2  # quantized_tbs(lo) < payload_bits, or lo = 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if quantized_tbs(mcs, mid)[0] >= payload_bits:
            hi = mid
        else:
            lo = mid
    uses = hi
    while _layout(mcs, uses) is None:
        uses += 1
    return uses


def max_tb_size(mcs: Mcs, budget: int) -> int:
    """The largest TBS of any allocation of at most ``budget`` REs (0 if none carries a TB).

    Equals ``tb_size(mcs, budget)`` except where the 0.95 limit refuses ``budget`` itself but not a
    smaller allocation; ``channel_uses_for(mcs, max_tb_size(mcs, budget)) <= budget``.
    """
    budget = _check_uses(budget)
    best = tb_size(mcs, budget)
    if best:
        return best
    uses = budget
    while uses > 0:  # the refused stretch below a budget is short: walk down to a usable allocation
        uses -= 1
        best = tb_size(mcs, uses)
        if best:
            return best
    return 0
