"""Digital link: bits -> 5G LDPC -> QAM -> (OFDM slots) -> channel -> CSI -> LMMSE -> APP demapping -> LDPC decoding.

CSI is perfect, LS or LMMSE (:mod:`semlink.phy.estimation`); the equaliser is always Sionna's unbiased
LMMSE, the model the APP demapper assumes.

**Transport blocks** (``DigitalLinkConfig.mcs`` set): the 5G NR chain of :mod:`semlink.phy.transport`
at that MCS. :meth:`DigitalLink.transmit_transport_blocks` sends ``[B, TBS]`` bits in an allocation
of ``channel_uses`` data REs (TBS from :func:`~semlink.phy.transport_size.tb_size`);
:meth:`DigitalLink.transmit_transport_payloads` sends variable-length payloads, each in the smallest
allocation whose TBS carries it (:func:`~semlink.phy.transport_size.channel_uses_for`), zero-padded to
that TBS (the padding is paid). The receiver reports the TB and CB CRC checks, and gives back the
decoded TB whatever it holds. An allocation's symbols are placed on the slots exactly as a payload's
symbols below.

**Standalone code blocks** (``code_k``/``code_n``; code studies):
payloads of any length are cut into ``k``-bit code blocks (the last one zero-padded); the coded
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
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import torch
from sionna.phy import Block
from sionna.phy.mapping import BinarySource, Constellation, Mapper

from semlink.errors import SemlinkError
from semlink.phy.budget import CodeLayout, TransportLayout
from semlink.phy.coding import LdpcCodec
from semlink.phy.config import DigitalLinkConfig
from semlink.phy.demapping import make_demapper
from semlink.phy.mcs import Mcs
from semlink.phy.snr import ebno_db_to_snr_db, is_noiseless, noise_var_per_example
from semlink.phy.symbol_link import make_symbol_link
from semlink.phy.transmission import (
    BlockResult,
    PayloadTransmission,
    Transmission,
    TransportBlockTransmission,
    TransportPayloadTransmission,
    payload_bits,
    payload_frames,
)
from semlink.phy.transport import TransportBlockDecoder, TransportBlockEncoder
from semlink.phy.transport_size import TbLayout, tb_layout

__all__ = ["DigitalLink", "FLAT_UNCODED_BLOCK_SYMBOLS"]

#: Symbols per uncoded accounting block in flat mode (no slots to align to).
FLAT_UNCODED_BLOCK_SYMBOLS = 1024
#: Allocations whose TB encoder and decoder a link keeps (payloads of many sizes need many).
TB_CACHE_SIZE = 256


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
        self._mcs: Mcs | None = cfg.mcs
        self._tb_chains: OrderedDict[int, tuple[TransportBlockEncoder, TransportBlockDecoder]] = OrderedDict()
        self._codec: LdpcCodec | None = None
        if self._mcs is not None:
            self._k = self._n = 0
        elif cfg.code_k is not None:
            assert cfg.code_n is not None
            self._codec = LdpcCodec(
                cfg.code_k, cfg.code_n, self._bps, num_iter=cfg.bp_iterations, device=self.device,
                decoder=cfg.decoder, nms_scale=cfg.nms_scale,
            )
            self._k, self._n = cfg.code_k, cfg.code_n
        else:
            slot = self._core.symbols_per_slot or FLAT_UNCODED_BLOCK_SYMBOLS
            self._k = self._n = slot * self._bps
        slot = self._core.symbols_per_slot
        self._layout: CodeLayout | TransportLayout = (
            TransportLayout(self._mcs, slot) if self._mcs is not None
            else CodeLayout(self._bps, (self._k, self._n) if cfg.code_k is not None else None, slot)
        )

    # -- properties -------------------------------------------------------------------------------
    @property
    def bits_per_symbol(self) -> int:
        return self._bps

    @property
    def mcs(self) -> Mcs | None:
        """The MCS of a transport-block link, else None."""
        return self._mcs

    @property
    def k(self) -> int:
        """Information bits per code block (standalone blocks and uncoded links)."""
        self._no_mcs("k")
        return self._k

    @property
    def n(self) -> int:
        """Coded bits per code block (standalone blocks and uncoded links)."""
        self._no_mcs("n")
        return self._n

    @property
    def code_rate(self) -> float:
        """``k / n``; a transport-block link's target rate (the real one: :meth:`transport_block_layout`)."""
        return self._mcs.target_rate if self._mcs is not None else self._k / self._n

    @property
    def resource_grid(self):  # noqa: ANN201 - sionna ResourceGrid or None
        """The Sionna ``ResourceGrid`` of one slot, or None in flat mode."""
        return self._core.resource_grid

    # -- conversions ------------------------------------------------------------------------------
    def ebno_to_snr_db(self, ebno_db: float, channel_uses: int | None = None) -> float:
        """Es/N0 per data RE [dB] for Eb/N0 per information bit [dB] (rate, bits/symbol, pilots, CP).

        The rate is ``k / n``; on a transport-block link, ``TBS / G`` of an allocation of
        ``channel_uses`` REs (the payload bits per coded bit, CRCs charged), or the MCS's target rate.
        """
        rate = self.code_rate
        if self._mcs is not None and channel_uses is not None:
            layout = self.transport_block_layout(channel_uses)
            rate = layout.tbs / layout.coded_bits
        return ebno_db_to_snr_db(ebno_db, self._bps, rate, self.resource_grid)

    @property
    def layout(self) -> CodeLayout | TransportLayout:
        """How payload bits map onto this link's channel uses (:mod:`semlink.phy.budget`)."""
        return self._layout

    def channel_uses(self, num_bits: int) -> int:
        """Complex symbols that carry a ``num_bits`` payload (0 for none): its transport block's smallest
        allocation; standalone coded: whole code blocks; uncoded: whole symbols."""
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
        self._no_mcs("simulate")
        _check_batch(batch_size)
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
        self._no_mcs("channel_llrs")
        if self._codec is None:
            raise SemlinkError("channel_llrs needs a coded link (code_k, code_n); this link is uncoded")
        _check_batch(batch_size)
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
        self._no_mcs("transmit")
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
        self._no_mcs("transmit_payloads")
        bits = payload_bits(payloads)
        lengths = np.array([b.size for b in bits], dtype=np.int64)
        blocks = np.array([math.ceil(n / self._k) for n in lengths], dtype=np.int64)
        received: list[np.ndarray] = [np.zeros(0, np.uint8) for _ in bits]
        checks: list[np.ndarray] = [np.zeros(0, bool) for _ in bits]

        def width(count: int, rows: np.ndarray) -> int:
            return int(lengths[rows].max()) if self._codec is None else count * self._k

        for count, chunk, frame in payload_frames(bits, blocks, width, batch_size):
            out = self.transmit(frame, snr_db)
            hat = out.bits_hat.cpu().numpy().astype(np.uint8)
            ok = out.block_ok.cpu().numpy()
            for r, i in enumerate(chunk):
                received[i] = hat[r, : lengths[i]]
                checks[i] = ok[r, :count] if self._codec is not None else np.ones(count, bool)
        uses = np.array([self.channel_uses(int(n)) for n in lengths], dtype=np.int64)
        return PayloadTransmission(received, checks, uses)

    # -- transport blocks -------------------------------------------------------------------------
    def transport_block_layout(self, channel_uses: int) -> TbLayout:
        """The :class:`~semlink.phy.transport_size.TbLayout` of an allocation of ``channel_uses`` REs."""
        return tb_layout(self._require_mcs("transport_block_layout"), channel_uses)

    def transport_block_chain(self, channel_uses: int) -> tuple[TransportBlockEncoder, TransportBlockDecoder]:
        """The TB encoder and decoder (the link's decoder settings) of an allocation, built once."""
        chain = self._tb_chains.get(channel_uses)
        if chain is None:
            encoder = TransportBlockEncoder(self.transport_block_layout(channel_uses), device=self.device)
            decoder = TransportBlockDecoder(encoder, self.cfg.decoder, self.cfg.bp_iterations, self.cfg.nms_scale)
            chain = self._tb_chains[channel_uses] = (encoder, decoder)
            if len(self._tb_chains) > TB_CACHE_SIZE:
                self._tb_chains.popitem(last=False)
        else:
            self._tb_chains.move_to_end(channel_uses)
        return chain

    @torch.no_grad()
    def transport_block_llrs(
        self, batch_size: int, snr_db: float | torch.Tensor, channel_uses: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Random TBs through encoder, channel and demapper: ``(bits [B, TBS], llr [B, G])``, for decoder
        studies (common random numbers as :meth:`channel_llrs`: the noise scales with ``snr_db``)."""
        _check_batch(batch_size)
        encoder, _ = self.transport_block_chain(channel_uses)
        bits = self._source([batch_size, encoder.layout.tbs])
        no = noise_var_per_example(snr_db, batch_size, self.device)
        return bits, self._tb_llrs(encoder, bits, no)

    @torch.no_grad()
    def transmit_transport_blocks(
        self, bits: torch.Tensor, snr_db: float | torch.Tensor, channel_uses: int
    ) -> TransportBlockTransmission:
        """Send ``bits [B, TBS]`` (0/1), one TB per row in ``channel_uses`` REs, at ``snr_db`` (float or ``[B]``)."""
        encoder, decoder = self.transport_block_chain(channel_uses)
        bits, home = self._check_bits(bits)
        if bits.shape[1] != encoder.layout.tbs:
            raise SemlinkError(
                f"an allocation of {channel_uses} channel uses at {encoder.layout.mcs.label} carries transport "
                f"blocks of {encoder.layout.tbs} bits, got {bits.shape[1]} bits per row"
            )
        uses = torch.full((bits.shape[0],), channel_uses, dtype=torch.int64, device=home)
        if is_noiseless(snr_db):  # no channel: every transport block arrives as sent
            ok = torch.ones(bits.shape[0], dtype=torch.bool, device=home)
            cb_ok = torch.ones(bits.shape[0], encoder.layout.num_cbs, dtype=torch.bool, device=home)
            return TransportBlockTransmission(bits.to(home), ok, cb_ok, uses)
        no = noise_var_per_example(snr_db, bits.shape[0], self.device)
        out = decoder(self._tb_llrs(encoder, bits, no))
        return TransportBlockTransmission(out.bits.to(home), out.tb_ok.to(home), out.cb_ok.to(home), uses)

    @torch.no_grad()
    def transmit_transport_payloads(
        self, payloads: Sequence[np.ndarray | torch.Tensor], snr_db: float, batch_size: int = 1024
    ) -> TransportPayloadTransmission:
        """Send variable-length payloads (``[L_i]`` 0/1 bits each), each in a transport block of its own.

        Payload ``i`` takes the smallest allocation whose TBS carries it and is zero-padded to that
        TBS; payloads of equal allocation travel together (rows of :meth:`transmit_transport_blocks`,
        each its own channel realisation). See :class:`TransportPayloadTransmission`.
        """
        self._require_mcs("transmit_transport_payloads")
        bits = payload_bits(payloads)
        uses = np.array([self._layout.symbols(b.size) for b in bits], dtype=np.int64)
        received = [np.zeros(0, np.uint8) for _ in bits]
        cb_ok = [np.zeros(0, bool) for _ in bits]
        tb_ok = np.ones(len(bits), dtype=bool)
        sizes = np.zeros(len(bits), dtype=np.int64)

        def tb_size(allocation: int, rows: np.ndarray) -> int:
            return self.transport_block_chain(allocation)[0].layout.tbs

        for allocation, chunk, frame in payload_frames(bits, uses, tb_size, batch_size):
            sizes[chunk] = frame.shape[1]
            out = self.transmit_transport_blocks(frame, snr_db, allocation)
            hat = out.bits_hat.cpu().numpy().astype(np.uint8)
            for r, i in enumerate(chunk):
                received[i], cb_ok[i] = hat[r], out.cb_ok[r].cpu().numpy()
            tb_ok[chunk] = out.tb_ok.cpu().numpy()
        return TransportPayloadTransmission(received, tb_ok, cb_ok, uses, sizes)

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

    def _tb_llrs(self, encoder: TransportBlockEncoder, bits: torch.Tensor, no: torch.Tensor) -> torch.Tensor:
        """``bits [B, TBS]`` -> demapper logits ``[B, G]``: one TB per row, its allocation in slots of its own."""
        x = self._mapper(encoder(bits))  # [B, channel_uses]
        x_hat, no_eff = self._through_channel(x, no)
        return self._demapper(x_hat, no_eff)

    def _require_mcs(self, what: str) -> Mcs:
        if self._mcs is None:
            raise SemlinkError(f"{what} needs a transport-block link (DigitalLinkConfig.mcs); this link sends "
                               "standalone code blocks (code_k, code_n) or uncoded bits")
        return self._mcs

    def _no_mcs(self, what: str) -> None:
        if self._mcs is not None:
            raise SemlinkError(
                f"{what} belongs to standalone code blocks; this link sends transport blocks at {self._mcs.label}: "
                "use transmit_transport_blocks / transmit_transport_payloads / transport_block_layout"
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


def _check_batch(batch_size: object) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise SemlinkError(f"batch_size must be an integer >= 1, got {batch_size!r}")
