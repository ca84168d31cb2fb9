"""Digital link: bits -> 5G LDPC -> QAM -> (OFDM slots) -> channel -> CSI -> LMMSE -> APP demapping -> LDPC decoding.

CSI is perfect, LS or LMMSE (:mod:`semlink.phy.estimation`); the equaliser is always Sionna's unbiased
LMMSE, the model the APP demapper assumes.

Payloads of any length are cut into ``k``-bit code blocks (the last one zero-padded); the coded
symbols of one example are laid out back to back and zero-padded to whole OFDM slots, each slot an
independent channel realisation (in flat mode, one coefficient per example). A payload of at most
half a slot takes one of the places in its slot that back-to-back packing would give it, at random
(see :meth:`semlink.phy.symbol_link.OfdmSymbolLink.send_rows`), exactly as the analog link does.
SNR convention: see :mod:`semlink.phy.snr`.

``block_ok`` (in :class:`Transmission`) is what the receiver knows: the LDPC syndrome check of each
decoded block (:mod:`semlink.phy.coding`). Uncoded links have no error detection, so every block
is reported as accepted (True); use :meth:`DigitalLink.simulate` (ground truth) to count errors.
Uncoded links send ``ceil(L / bits_per_symbol)`` symbols (padded to whole slots on a grid); their
"blocks" are only accounting units of ``k = n`` bits for ``block_ok`` and :meth:`simulate`: one
OFDM slot's data REs times the bits per symbol, or :data:`FLAT_UNCODED_BLOCK_SYMBOLS` symbols in
flat mode.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from sionna.phy import Block
from sionna.phy.mapping import BinarySource, Constellation, Mapper

from semlink.errors import SemlinkError
from semlink.phy.budget import CodeLayout
from semlink.phy.coding import LdpcCodec
from semlink.phy.config import DigitalLinkConfig
from semlink.phy.demapping import make_demapper
from semlink.phy.snr import ebno_db_to_snr_db, is_noiseless, noise_var_per_example
from semlink.phy.symbol_link import make_symbol_link

__all__ = ["DigitalLink", "BlockResult", "PayloadTransmission", "Transmission", "FLAT_UNCODED_BLOCK_SYMBOLS"]

#: Symbols per uncoded accounting block in flat mode (no slots to align to).
FLAT_UNCODED_BLOCK_SYMBOLS = 1024


class BlockResult(NamedTuple):
    """One code block per example (:meth:`DigitalLink.simulate`).

    ``bits``/``bits_hat``: ``[B, k] float32``; ``block_ok``: ``[B] bool``, True where the decoded block
    equals the sent one (ground truth, also for uncoded links).
    """

    bits: torch.Tensor
    bits_hat: torch.Tensor
    block_ok: torch.Tensor


class Transmission(NamedTuple):
    """A payload through the link (:meth:`DigitalLink.transmit`).

    ``bits_hat``: ``[B, L] float32``; ``block_ok``: ``[B, num_blocks] bool`` receiver-side syndrome
    check per code block (all True when uncoded); ``channel_uses_with_padding``: ``[B] int64`` data
    REs spent per example, slot padding included.
    """

    bits_hat: torch.Tensor
    block_ok: torch.Tensor
    channel_uses_with_padding: torch.Tensor


class PayloadTransmission(NamedTuple):
    """Variable-length payloads through the link (:meth:`DigitalLink.transmit_payloads`), one entry each.

    ``bits_hat``: received ``[L_i] uint8`` bits; ``block_ok``: ``[num_blocks_i] bool`` receiver-side
    syndrome check per code block (all True when uncoded); ``channel_uses``: ``[P] int64`` complex
    symbols each payload occupied (whole code blocks; no slot padding: the symbols that carry it).
    """

    bits_hat: list[np.ndarray]
    block_ok: list[np.ndarray]
    channel_uses: np.ndarray


class DigitalLink(Block):
    """Coded (or uncoded) QAM over a Sionna PHY; a ``torch.nn.Module``. See the module docstring.

    :param cfg: :class:`~semlink.phy.config.DigitalLinkConfig`.
    :param device: torch device; default ``sionna.phy.config.device``. Inputs on another device
        are moved here and the outputs moved back.
    """

    # Sionna's Block.__call__ casts and moves every input to the block's device first; the links
    # validate inputs themselves and return outputs on the caller's device, so they skip it.
    __call__ = torch.nn.Module.__call__

    def __init__(self, cfg: DigitalLinkConfig | None = None, device: str | None = None) -> None:
        super().__init__(device=device)
        cfg = DigitalLinkConfig() if cfg is None else DigitalLinkConfig.from_dict(cfg)
        self.cfg = cfg
        self._bps = cfg.bits_per_symbol
        # The APP demapper models its input as x + independent noise: the unbiased LMMSE equaliser.
        self._core = make_symbol_link(
            cfg.channel, cfg.ofdm, cfg.csi, cfg.interpolation, equalizer="lmmse", device=self.device
        )
        constellation = Constellation("qam", self._bps, device=self.device)
        self._mapper = Mapper(constellation=constellation, device=self.device)
        self._demapper = make_demapper(constellation, device=self.device)  # exact APP, per real dimension
        self._source = BinarySource(device=self.device)
        if cfg.coded:
            assert cfg.code_k is not None and cfg.code_n is not None
            self._codec: LdpcCodec | None = LdpcCodec(
                cfg.code_k, cfg.code_n, self._bps, num_iter=cfg.bp_iterations, device=self.device,
                decoder=cfg.decoder, nms_scale=cfg.nms_scale,
            )
            self._k, self._n = cfg.code_k, cfg.code_n
        else:
            self._codec = None
            slot = self._core.symbols_per_slot or FLAT_UNCODED_BLOCK_SYMBOLS
            self._k = self._n = slot * self._bps
        self._layout = CodeLayout(self._bps, (self._k, self._n) if cfg.coded else None, self._core.symbols_per_slot)

    # -- properties -------------------------------------------------------------------------------
    @property
    def bits_per_symbol(self) -> int:
        return self._bps

    @property
    def k(self) -> int:
        """Information bits per code block."""
        return self._k

    @property
    def n(self) -> int:
        """Coded bits per code block."""
        return self._n

    @property
    def code_rate(self) -> float:
        return self._k / self._n

    @property
    def resource_grid(self):  # noqa: ANN201 - sionna ResourceGrid or None
        """The Sionna ``ResourceGrid`` of one slot, or None in flat mode."""
        return self._core.resource_grid

    # -- conversions ------------------------------------------------------------------------------
    def ebno_to_snr_db(self, ebno_db: float) -> float:
        """Es/N0 per data RE [dB] for Eb/N0 per information bit [dB] (rate, bits/symbol, pilots, CP)."""
        return ebno_db_to_snr_db(ebno_db, self._bps, self.code_rate, self.resource_grid)

    @property
    def layout(self) -> CodeLayout:
        """How payload bits map onto this link's channel uses (:class:`~semlink.phy.budget.CodeLayout`)."""
        return self._layout

    def channel_uses(self, num_bits: int) -> int:
        """Complex symbols that carry a ``num_bits`` payload: whole code blocks (uncoded: whole symbols)."""
        return self._layout.symbols(num_bits)

    def channel_uses_with_padding(self, num_bits: int) -> int:
        """Data REs a ``num_bits`` payload occupies: :meth:`channel_uses` rounded up to whole OFDM slots."""
        if isinstance(num_bits, bool) or not isinstance(num_bits, int) or num_bits < 1:
            raise SemlinkError(f"num_bits must be an integer >= 1, got {num_bits!r}")
        return self._layout.padded(num_bits)

    # -- simulation -------------------------------------------------------------------------------
    @torch.no_grad()
    def simulate(self, batch_size: int, snr_db: float | torch.Tensor) -> BlockResult:
        """Random information bits, one code block per example, through the link (for BER/BLER sweeps)."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise SemlinkError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        bits = self._source([batch_size, self._k])
        out = self.transmit(bits, snr_db)
        return BlockResult(bits, out.bits_hat, (out.bits_hat == bits).all(dim=-1))

    @torch.no_grad()
    def channel_llrs(self, batch_size: int, snr_db: float | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The decoder's input for decoder studies: ``(bits [B, k] float32, llr [B, n] float32)``.

        Random information bits, one code block per example, through encoder, mapper, channel,
        equaliser and demapper (logits ``log p(1)/p(0)``). It draws exactly the random numbers
        :meth:`simulate` draws, and the noise scales with ``snr_db``: from one seed, any decoder
        at any SNR sees the same bits, channel and noise (common random numbers). Coded links only.
        """
        if self._codec is None:
            raise SemlinkError("channel_llrs needs a coded link (code_k, code_n); this link is uncoded")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise SemlinkError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        bits = self._source([batch_size, self._k])
        no = noise_var_per_example(snr_db, batch_size, self.device)
        return bits, self._coded_llrs(bits.unsqueeze(1), no)

    @property
    def codec(self) -> LdpcCodec | None:
        """The link's :class:`~semlink.phy.coding.LdpcCodec` (None when uncoded)."""
        return self._codec

    @torch.no_grad()
    def transmit(self, bits: torch.Tensor, snr_db: float | torch.Tensor) -> Transmission:
        """Send ``bits [B, L]`` (0/1, any real dtype) at ``snr_db`` (float or ``[B]``); see :class:`Transmission`.

        ``snr_db = inf`` means no channel: the bits arrive as sent and every block is whole.
        """
        bits, home = self._check_bits(bits)
        batch, length = bits.shape
        num_blocks = math.ceil(length / self._k)
        uses = torch.full((batch,), self.channel_uses_with_padding(length), dtype=torch.int64, device=home)
        if is_noiseless(snr_db):  # no channel: the receiver gets the payload as sent, every block whole
            ok = torch.ones(batch, num_blocks, dtype=torch.bool, device=home)
            return Transmission(bits.to(home), ok, uses)
        no = noise_var_per_example(snr_db, batch, self.device)
        if self._codec is None:  # no blocks on air: pad to a whole symbol (and, below, to whole slots)
            padded = math.ceil(length / self._bps) * self._bps
        else:
            padded = num_blocks * self._k
        if padded != length:
            bits = torch.nn.functional.pad(bits, (0, padded - length))
        if self._codec is None:
            x = self._mapper(bits)  # [B, padded / bps]
            x_hat, no_eff = self._through_channel(x, no)
            u_hat = (self._demapper(x_hat, no_eff) > 0).to(bits.dtype)  # logits log p(1)/p(0)
            ok = torch.ones(batch, num_blocks, dtype=torch.bool, device=bits.device)
        else:
            llr = self._coded_llrs(bits.reshape(batch, num_blocks, self._k), no)
            u_hat, ok = self._codec.decode(llr)
        bits_hat = u_hat.reshape(batch, padded)[:, :length]
        return Transmission(bits_hat.to(home), ok.reshape(batch, num_blocks).to(home), uses)

    @torch.no_grad()
    def transmit_payloads(
        self, payloads: Sequence[np.ndarray | torch.Tensor], snr_db: float, batch_size: int = 1024
    ) -> PayloadTransmission:
        """Send variable-length payloads (``[L_i]`` 0/1 bits each), each in code blocks of its own.

        Payloads that take the same number of code blocks travel together (rows of
        :meth:`transmit`, each its own channel realisation); an empty payload sends nothing and
        comes back empty with no blocks. What comes back is what the receiver has: the decoded bits
        and the syndrome check of every block (it learns a payload's length from the payload itself,
        e.g. a header in the first block, as a real receiver would).
        """
        bits = [np.asarray(p.detach().cpu().numpy() if isinstance(p, torch.Tensor) else p, dtype=np.uint8).reshape(-1)
                for p in payloads]
        lengths = np.array([b.size for b in bits], dtype=np.int64)
        blocks = np.array([math.ceil(n / self._k) for n in lengths], dtype=np.int64)
        received: list[np.ndarray] = [np.zeros(0, np.uint8) for _ in bits]
        checks: list[np.ndarray] = [np.zeros(0, bool) for _ in bits]
        for count in sorted(set(blocks.tolist()) - {0}):
            rows = np.flatnonzero(blocks == count)
            width = int(lengths[rows].max()) if self._codec is None else count * self._k
            for start in range(0, len(rows), batch_size):
                chunk = rows[start : start + batch_size]
                frame = np.zeros((len(chunk), width), dtype=np.float32)
                for r, i in enumerate(chunk):
                    frame[r, : lengths[i]] = bits[i]
                out = self.transmit(torch.from_numpy(frame), snr_db)
                hat = out.bits_hat.cpu().numpy().astype(np.uint8)
                ok = out.block_ok.cpu().numpy()
                for r, i in enumerate(chunk):
                    received[i] = hat[r, : lengths[i]]
                    checks[i] = ok[r, :count] if self._codec is not None else np.ones(count, bool)
        uses = np.array([self.channel_uses(int(n)) for n in lengths], dtype=np.int64)
        return PayloadTransmission(received, checks, uses)

    def call(self, bits: torch.Tensor, snr_db: float | torch.Tensor) -> Transmission:
        return self.transmit(bits, snr_db)

    # -- internals --------------------------------------------------------------------------------
    def _coded_llrs(self, bits: torch.Tensor, no: torch.Tensor) -> torch.Tensor:
        """``bits [B, num_blocks, k]`` -> demapper logits ``[B * num_blocks, n]``; blocks of a row share its slots."""
        assert self._codec is not None
        batch, num_blocks, _ = bits.shape
        c = self._codec.encode(bits.reshape(batch * num_blocks, self._k))
        x = self._mapper(c).reshape(batch, -1)  # [B, num_blocks * n / bps]
        x_hat, no_eff = self._through_channel(x, no)
        sym_per_block = self._n // self._bps
        return self._demapper(
            x_hat.reshape(batch * num_blocks, sym_per_block), no_eff.reshape(batch * num_blocks, sym_per_block)
        )

    def _through_channel(self, x: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x [B, M]`` -> equalised ``(x_hat, no_eff)`` ``[B, M]``, each row in slots of its own."""
        return self._core.send_rows(x, no)

    def _check_bits(self, bits: torch.Tensor) -> tuple[torch.Tensor, torch.device]:
        if not isinstance(bits, torch.Tensor):
            raise SemlinkError(
                f"bits must be a torch.Tensor [batch, num_bits] of 0/1, got {type(bits).__name__}"
            )
        if bits.dim() != 2 or bits.shape[0] < 1 or bits.shape[1] < 1:
            raise SemlinkError(f"bits must have shape [batch >= 1, num_bits >= 1], got {list(bits.shape)}")
        if bits.is_complex():
            raise SemlinkError(f"bits must be real 0/1 values, got dtype {bits.dtype}")
        home = bits.device
        bits = bits.to(device=self.device, dtype=torch.float32)
        if not bool(((bits == 0) | (bits == 1)).all()):
            raise SemlinkError("bits must contain only 0 and 1")
        return bits, home
