"""How payload bits map onto channel uses on a digital link: :class:`CodeLayout`, and its inverse.

One place answers both directions for every digital payload of semlink: ``symbols(bits)`` (the
complex symbols that carry a payload), ``padded(bits)`` (the same rounded up to whole OFDM slots) and
``max_bits(uses)`` (the largest payload a budget carries), for the two ways a payload is coded:

- :class:`TransportLayout`: 5G NR transport blocks at an MCS (TS 38.212/38.214: TB CRC, code-block
  segmentation and CRCs, LDPC, rate matching to the allocation; :mod:`semlink.phy.transport_size`),
  each payload in the smallest allocation whose transport block carries it: how every digital payload
  of the systems is sent;
- :class:`CodeLayout`: standalone 5G LDPC code blocks of a fixed ``(k, n)`` (or uncoded symbols), the
  code studies of ``semlink phy ber``. A coded payload of ``L`` bits takes
``ceil(L / k)`` code blocks of ``n / bits_per_symbol`` symbols each; an uncoded one
``ceil(L / bits_per_symbol)`` symbols. The budget counts either

- the symbols that carry the payload (``symbols_per_slot=None``, the default): flat links, and on
  an OFDM grid the ``channel_uses`` a run reports per image (README "SNR convention"); the rest of
  the last slot is padding, reported beside it as ``channel_uses_with_padding``; or
- whole OFDM slots (``symbols_per_slot`` = data REs per slot): the budget is data REs including
  the padding of the last slot, as :meth:`DigitalLink.channel_uses` counts on a grid.

Example (5G LDPC (1024, 2048), 16-QAM: a code block is 512 symbols)::

    >>> payload_bits_for_budget(1500, 4, 1024, 2048)
    2048
    >>> payload_bits_for_budget(1500, 4, 1024, 2048, symbols_per_slot=864)   # one whole slot
    1024
    >>> payload_bits_for_budget(100, 2, None, None)                          # uncoded QPSK
    200
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from semlink.errors import SemlinkError

__all__ = ["CodeLayout", "TransportLayout", "code_for_budget", "payload_bits_for_budget"]

#: Largest information block of one 5G LDPC code block (TS 38.212: 8448 for base graph 1, 3840 below rate 1/3).
MAX_BLOCK_BITS, MAX_BLOCK_BITS_LOW_RATE = 8448, 3840


def _count(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SemlinkError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def payload_bits_for_budget(
    channel_uses: int,
    bits_per_symbol: int,
    code_k: int | None,
    code_n: int | None,
    symbols_per_slot: int | None = None,
) -> int:
    """Largest payload (bits) whose channel uses do not exceed ``channel_uses``; 0 if none fits.

    :param channel_uses: the budget in complex symbols (see the module docstring for what it counts).
    :param bits_per_symbol: 2, 4, 6 or 8 (QPSK ... 256-QAM).
    :param code_k: information bits per LDPC code block; ``None`` (with ``code_n``) for uncoded.
    :param code_n: coded bits per block (a multiple of ``bits_per_symbol``).
    :param symbols_per_slot: data REs per OFDM slot to budget whole slots; ``None`` to budget the
        symbols that carry the payload.
    """
    budget = _count(channel_uses, "channel_uses", 0)
    bps = _count(bits_per_symbol, "bits_per_symbol", 1)
    if symbols_per_slot is not None:
        budget = budget // _count(symbols_per_slot, "symbols_per_slot", 1) * symbols_per_slot
    if code_k is None and code_n is None:
        return budget * bps
    k, n = _count(code_k, "code_k", 1), _count(code_n, "code_n", 2)
    if k >= n or n % bps:
        raise SemlinkError(
            f"need code_k < code_n and code_n a multiple of bits_per_symbol, got k={k}, n={n}, "
            f"bits_per_symbol={bps}"
        )
    return budget // (n // bps) * k


def code_for_budget(channel_uses: int, bits_per_symbol: int, rate: float) -> tuple[int, int]:
    """The 5G LDPC code ``(k, n)`` whose whole code blocks fill a budget of ``channel_uses`` symbols.

    As few equal blocks as the 5G limits allow (``k`` at most 8448, or 3840 below rate 1/3), each of
    ``n`` coded bits (a multiple of ``bits_per_symbol``) and ``k = floor(rate · n)`` information bits;
    ``payload_bits_for_budget(channel_uses, bits_per_symbol, k, n)`` then carries the most payload.
    Raises :class:`SemlinkError` when the budget is too small for a code block of that rate.

    >>> code_for_budget(128, 4, 0.5)            # 512 coded bits in one block
    (256, 512)
    >>> code_for_budget(4000, 6, 0.75)          # 24000 coded bits: 3 blocks of 7998 (a multiple of 6)
    (5998, 7998)
    """
    from semlink.phy.code_rules import check_code_params

    budget = _count(channel_uses, "channel_uses", 1)
    bps = _count(bits_per_symbol, "bits_per_symbol", 1)
    if not 0.0 < rate < 1.0:
        raise SemlinkError(f"code rate must lie in (0, 1), got {rate!r}")
    max_k = MAX_BLOCK_BITS if rate > 1 / 3 + 1e-9 else MAX_BLOCK_BITS_LOW_RATE  # floor(rate·n)/n < 1/3 at 1/3
    coded = budget * bps
    blocks = max(1, -(-int(coded * rate) // max_k))
    n = coded // blocks // bps * bps
    k = int(n * rate)
    while blocks < coded and k > max_k:  # rounding pushed k over the limit: one more block
        blocks += 1
        n = coded // blocks // bps * bps
        k = int(n * rate)
    try:
        check_code_params(k, n, bps)
    except SemlinkError as err:
        raise SemlinkError(
            f"a budget of {budget} channel uses at {bps} bits per symbol and rate {rate:.3g} gives no valid 5G LDPC "
            f"code block (k={k}, n={n}): {err}"
        ) from None
    return k, n


@dataclass(frozen=True)
class CodeLayout:
    """Modulation, code and slot of a digital payload: how many channel uses its bits take, and back.

    :param bits_per_symbol: 2, 4, 6 or 8 (QPSK ... 256-QAM).
    :param code: ``(k, n)``: 5G LDPC code blocks of ``k`` information and ``n`` coded bits (a payload
        takes whole blocks, the last one zero-padded); None: uncoded (whole symbols).
    :param slot: data REs per OFDM slot (payloads are sent in whole slots); None: a flat link.

    ``symbols(bits)`` counts the symbols that carry the payload (a result's ``channel_uses``),
    ``padded(bits)`` the data REs of the slots it occupies (``channel_uses_with_padding``) and
    ``max_bits(uses)`` is the exact inverse of ``symbols``.

    >>> layout = CodeLayout(4, (1024, 2048), slot=864)   # 16-QAM, a code block is 512 symbols
    >>> layout.symbols(1500), layout.padded(1500), layout.max_bits(1500)
    (1024, 1728, 2048)
    >>> CodeLayout(2).symbols(13), CodeLayout(2).max_bits(100)   # uncoded QPSK
    (7, 200)
    """

    bits_per_symbol: int
    code: tuple[int, int] | None = None
    slot: int | None = None

    def __post_init__(self) -> None:
        _count(self.bits_per_symbol, "bits_per_symbol", 1)
        if self.code is not None:
            k, n = (_count(v, name, 1) for v, name in zip(self.code, ("code_k", "code_n")))
            if k >= n or n % self.bits_per_symbol:
                raise SemlinkError(f"need code_k < code_n and code_n a multiple of bits_per_symbol, got k={k}, n={n}, "
                                   f"bits_per_symbol={self.bits_per_symbol}")
            object.__setattr__(self, "code", (k, n))
        if self.slot is not None:
            _count(self.slot, "slot", 1)

    @classmethod
    def filling(cls, channel_uses: int, bits_per_symbol: int, rate: float, slot: int | None = None) -> CodeLayout:
        """The layout whose 5G code (:func:`code_for_budget`) fills ``channel_uses`` symbols at ``rate``."""
        return cls(bits_per_symbol, code_for_budget(channel_uses, bits_per_symbol, rate), slot)

    @property
    def code_rate(self) -> float:
        return 1.0 if self.code is None else self.code[0] / self.code[1]

    def blocks(self, bits: int) -> int:
        """Code blocks a ``bits`` payload takes (0 uncoded or for an empty payload)."""
        _count(bits, "bits", 0)
        return 0 if self.code is None else math.ceil(bits / self.code[0])

    def symbols(self, bits: int) -> int:
        """Complex symbols that carry a ``bits`` payload: whole code blocks (uncoded: whole symbols); 0 for 0."""
        _count(bits, "bits", 0)
        if self.code is None:
            return math.ceil(bits / self.bits_per_symbol)
        k, n = self.code
        return math.ceil(bits / k) * (n // self.bits_per_symbol)

    def padded(self, bits: int) -> int:
        """:meth:`symbols` rounded up to whole slots (data REs occupied; flat links: no padding)."""
        symbols = self.symbols(bits)
        return symbols if self.slot is None else math.ceil(symbols / self.slot) * self.slot

    def max_bits(self, channel_uses: int, *, whole_slots: bool = False) -> int:
        """The largest payload whose :meth:`symbols` fit ``channel_uses`` (0 if none); with ``whole_slots``
        the budget counts data REs of whole slots, as :meth:`padded` does."""
        k, n = (None, None) if self.code is None else self.code
        slot = self.slot if whole_slots else None
        return payload_bits_for_budget(channel_uses, self.bits_per_symbol, k, n, symbols_per_slot=slot)


@dataclass(frozen=True)
class TransportLayout:
    """Transport blocks at ``mcs`` (:class:`~semlink.phy.mcs.Mcs`), on a grid of ``slot`` data REs (None: flat).

    ``symbols(bits)`` is the smallest allocation whose transport block carries a ``bits`` payload (CRCs
    paid, padding to the TBS included; :func:`~semlink.phy.transport_size.channel_uses_for`),
    ``max_bits(uses)`` the largest transport block an allocation of at most ``uses`` REs carries
    (:func:`~semlink.phy.transport_size.max_tb_size`), ``padded`` as :class:`CodeLayout`'s.

    >>> from semlink.phy.mcs import mcs_from_table
    >>> layout = TransportLayout(mcs_from_table("38.214-1", 4))   # QPSK 308/1024
    >>> layout.max_bits(392), layout.symbols(layout.max_bits(392)) <= 392
    (240, True)
    """

    mcs: object  # semlink.phy.mcs.Mcs
    slot: int | None = None

    @property
    def bits_per_symbol(self) -> int:
        return self.mcs.bits_per_symbol

    def symbols(self, bits: int) -> int:
        from semlink.phy.transport_size import channel_uses_for

        return 0 if _count(bits, "bits", 0) == 0 else channel_uses_for(self.mcs, bits)

    def padded(self, bits: int) -> int:
        symbols = self.symbols(bits)
        return symbols if self.slot is None else math.ceil(symbols / self.slot) * self.slot

    def max_bits(self, channel_uses: int, *, whole_slots: bool = False) -> int:
        from semlink.phy.transport_size import max_tb_size

        budget = _count(channel_uses, "channel_uses", 0)
        if whole_slots and self.slot is not None:
            budget = budget // self.slot * self.slot
        return max_tb_size(self.mcs, budget) if budget else 0

    def allocation(self, channel_uses: int) -> int:
        """The allocation a budget of ``channel_uses`` REs sends its transport block in: all of them (5G sizes
        the transport block from its allocation, so the real code rate stays near the MCS's target), or,
        where the 0.95 rate limit refuses that size, the largest smaller one that carries
        :meth:`max_bits` (0 when the budget carries no transport block).

        >>> from semlink.phy.mcs import mcs_from_table
        >>> TransportLayout(mcs_from_table("38.214-1", 0)).allocation(128)   # not the 22 REs 24 bits need
        128
        """
        from semlink.phy.transport_size import tb_size

        target = self.max_bits(channel_uses)
        if not target:
            return 0
        uses = _count(channel_uses, "channel_uses", 1)
        while tb_size(self.mcs, uses) != target:
            uses -= 1
        return uses
