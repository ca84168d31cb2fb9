"""The 5G NR transport-block chain as two blocks: TB CRC, segmentation, LDPC, rate matching, scrambling.

:class:`TransportBlockEncoder` follows TS 38.212 for the :class:`~semlink.phy.transport_size.TbLayout`
of an allocation: the TB CRC (CRC24A, or CRC16 up to 3824 bits), segmentation into ``C`` code
blocks with a CRC24B each when ``C > 1``, LDPC encoding of each block on the TB's base graph
(filler bits as known zeros), rate matching by bit selection from the circular buffer (redundancy
version 0, cyclically, so rates below the mother code's repeat bits), the bit interleaver over
each block's ``E_r`` bits, concatenation and the PDSCH scrambling of TS 38.211 7.3.1.1.
:class:`TransportBlockDecoder` undoes it from the demapper's logits: descrambling, deinterleaving,
rate recovery (repeated bits' LLRs added), LDPC decoding of every block with any of
:data:`~semlink.phy.config.DECODERS`, then the CB and TB CRC checks.

Sionna's ``TBEncoder``/``TBDecoder`` do the same steps, and their pieces are reused here: the CRC
encoders and decoders, ``TB5GScrambler``'s sequence, ``LDPC5GEncoder``'s base graphs, lifting and
interleaver pattern, ``calculate_tb_size``'s sizes (restated torch-free in
:mod:`~semlink.phy.transport_size` and tested against it). They cannot be subclassed for this
link because ``LDPC5GEncoder`` refuses code rates below 1/5 (MCS 0-2 of table 1, and small
blocks whose filler bits lower the rate; 38.212's circular buffer repeats bits there), picks the
base graph from the code block and its rate rather than from the TB size and the MCS's target
rate (38.212 7.2.2), and ``TBDecoder`` only runs Sionna's BP. Where Sionna's encoder accepts the
allocation and chooses the same base graph, the coded bits here are identical to ``TBEncoder``'s
(``tests/phy/test_phy_transport.py``).

The decoder returns what a real receiver has: the decoded TB bits whatever they are (an error the
CRCs miss passes through as it is), the TB CRC result, and each code block's CRC24B result (with
one code block, the TB CRC it carries). Nothing uses the sent bits.

>>> from semlink.phy.mcs import mcs_from_table
>>> from semlink.phy.transport_size import tb_layout
>>> encoder = TransportBlockEncoder(tb_layout(mcs_from_table("38.214-1", 0), 200))   # QPSK 120/1024
>>> decoder = TransportBlockDecoder(encoder, "layered-bp")
>>> bits = torch.randint(0, 2, (3, encoder.layout.tbs)).float()
>>> out = decoder(6.0 * (2.0 * encoder(bits) - 1.0))                              # confident logits
>>> bool(torch.equal(out.bits, bits)), out.tb_ok.tolist(), out.cb_ok.shape
(True, [True, True, True], torch.Size([3, 1]))
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
import torch
from sionna.phy import Block
from sionna.phy.fec.crc import CRCDecoder, CRCEncoder
from sionna.phy.fec.scrambling import TB5GScrambler

from semlink.errors import SemlinkError, choice_error
from semlink.phy.coding import LdpcCodec
from semlink.phy.config import DECODERS, DEFAULT_NMS_SCALE
from semlink.phy.ldpc import FastEncoder, code_block_graph, mother_encoder
from semlink.phy.transport_size import TbLayout

__all__ = ["TransportBlockEncoder", "TransportBlockDecoder", "DecodedTransportBlocks"]


class DecodedTransportBlocks(NamedTuple):
    """What the receiver has after :class:`TransportBlockDecoder`.

    ``bits [B, tbs] float32``: the decoded TB, errors included; ``tb_ok [B] bool``: the TB CRC
    check; ``cb_ok [B, C] bool``: each code block's CRC24B check (``C = 1``: the TB CRC).
    """

    bits: torch.Tensor
    tb_ok: torch.Tensor
    cb_ok: torch.Tensor


@functools.lru_cache(maxsize=64)
def _interleaver(length: int, bits_per_symbol: int) -> np.ndarray:
    """TS 38.212 5.4.2.2 bit interleaver of ``length`` bits (Sionna's pattern): ``f[i] = e[perm[i]]``.

    ``LDPC5GEncoder.generate_out_int`` does not depend on the encoder's code; any instance serves.
    """
    return np.asarray(mother_encoder(24, "bg2").generate_out_int(length, bits_per_symbol)[0], dtype=np.int64)


def _check_bits(bits: torch.Tensor, length: int, what: str) -> None:
    if not isinstance(bits, torch.Tensor) or bits.dim() != 2 or bits.shape[1] != length:
        shape = list(bits.shape) if isinstance(bits, torch.Tensor) else type(bits).__name__
        raise SemlinkError(f"{what} must be a tensor [batch, {length}], got {shape}")


class TransportBlockEncoder(Block):
    """One transport block per row: ``[B, tbs] float32`` 0/1 -> ``[B, coded_bits] float32`` 0/1.

    :param layout: the allocation's :class:`~semlink.phy.transport_size.TbLayout`.
    :param n_rnti: RNTI (0-65535) and ``n_id``: data scrambling identity (0-1023) of the PDSCH
        scrambling sequence (TS 38.211 7.3.1.1, codeword 0).

    The steps are also callable on their own: :meth:`attach_crcs` (TB bits -> code blocks with
    their CRCs, ``[B, C, K']``) and :meth:`encode_code_blocks` (code blocks -> coded bits).
    """

    def __init__(self, layout: TbLayout, n_rnti: int = 1, n_id: int = 1, device: str | None = None) -> None:
        super().__init__(device=device)
        if not isinstance(layout, TbLayout):
            raise SemlinkError(f"layout must be a TbLayout (semlink.phy.transport_size.tb_layout), got {layout!r}")
        self.layout = layout
        tb_crc = "CRC24A" if layout.tb_crc_bits == 24 else "CRC16"
        self._tb_crc = CRCEncoder(tb_crc, k=layout.tbs, device=self.device)
        self._cb_crc = (
            CRCEncoder("CRC24B", k=layout.cb_bits - layout.cb_crc_bits, device=self.device)
            if layout.cb_crc_bits else None
        )
        # The mother codeword of a block, read in circular-buffer order without fillers.
        self._buffer_encoder = FastEncoder(code_block_graph(layout.cb_bits, layout.base_graph, layout.buffer_bits))
        # Bit selection (repetition), bit interleaver and concatenation as one gather from the C
        # buffers laid end to end: output bit i of block r is buffer bit perm_r[i] mod N_buf.
        qm, buf = layout.mcs.bits_per_symbol, layout.buffer_bits
        select = [r * buf + _interleaver(e, qm) % buf for r, e in enumerate(layout.cw_lengths)]
        self.register_buffer("_select", torch.as_tensor(np.concatenate(select), device=self.device),
                             persistent=False)
        scrambler = TB5GScrambler(n_rnti=n_rnti, n_id=n_id, binary=True, channel_type="PDSCH", device=self.device)
        sequence = scrambler(torch.zeros(1, layout.coded_bits, device=self.device))[0]
        self.register_buffer("_scrambling", sequence, persistent=False)

    def attach_crcs(self, bits: torch.Tensor) -> torch.Tensor:
        """``bits [B, tbs]`` -> ``[B, C, K']``: TB CRC, segmentation, a CRC24B per block when ``C > 1``."""
        _check_bits(bits, self.layout.tbs, "transport-block bits")
        with_crc = self._tb_crc(bits.to(device=self.device, dtype=torch.float32))
        blocks = with_crc.reshape(bits.shape[0], self.layout.num_cbs, -1)
        return blocks if self._cb_crc is None else self._cb_crc(blocks)

    def encode_code_blocks(self, blocks: torch.Tensor) -> torch.Tensor:
        """``[B, C, K']`` code blocks -> ``[B, coded_bits]``: LDPC, rate matching, interleaving, scrambling."""
        layout = self.layout
        batch = blocks.shape[0]
        buffers = self._buffer_encoder(blocks.reshape(-1, layout.cb_bits).cpu()).to(self.device)
        coded = buffers.reshape(batch, -1)[:, self._select]
        return (coded - self._scrambling).abs()  # XOR with the scrambling sequence

    def call(self, bits: torch.Tensor) -> torch.Tensor:
        return self.encode_code_blocks(self.attach_crcs(bits))


class TransportBlockDecoder(Block):
    """Logits ``[B, coded_bits]`` (``log p(1)/p(0)``) -> :class:`DecodedTransportBlocks`.

    :param encoder: the :class:`TransportBlockEncoder` of the allocation.
    :param decoder: one of :data:`~semlink.phy.config.DECODERS`; every code block is decoded by it.
    :param num_iter: LDPC iterations (``sionna-bp``: all; layered: the most per block).
    :param nms_scale: ``layered-nms``'s normalisation factor.

    The steps are also callable on their own: :meth:`recover` (logits -> each code block's LLRs
    after rate recovery, ``[B, C, n_r]`` per group of equal length), :meth:`decode_code_blocks`
    (logits -> ``[B, C, K']`` hard decisions) and :meth:`check_crcs`.
    """

    def __init__(
        self,
        encoder: TransportBlockEncoder,
        decoder: str = "sionna-bp",
        num_iter: int = 20,
        nms_scale: float = DEFAULT_NMS_SCALE,
        device: str | None = None,
    ) -> None:
        super().__init__(device=device if device is not None else encoder.device)
        if decoder not in DECODERS:
            raise choice_error("LDPC decoder", decoder, DECODERS)
        layout = encoder.layout
        self.layout = layout
        self.decoder_name = decoder
        self.register_buffer("_select", encoder._select.to(self.device), persistent=False)
        self.register_buffer("_sign", 1.0 - 2.0 * encoder._scrambling.to(self.device), persistent=False)
        self._tb_crc = CRCDecoder(encoder._tb_crc, device=self.device)
        self._cb_crc = CRCDecoder(encoder._cb_crc, device=self.device) if encoder._cb_crc is not None else None
        # Blocks whose rate-recovered length n_r = min(E_r, N_buf) is equal share a decoder.
        lengths = [min(e, layout.buffer_bits) for e in layout.cw_lengths]
        self._groups: list[tuple[torch.Tensor, LdpcCodec]] = []
        for length in sorted(set(lengths)):
            rows = torch.tensor([r for r, n in enumerate(lengths) if n == length], device=self.device)
            codec = LdpcCodec(layout.cb_bits, length, None, int(num_iter), device=self.device, decoder=decoder,
                              nms_scale=nms_scale, base_graph=layout.base_graph)
            self._groups.append((rows, codec))
        self.last_iterations: torch.Tensor | None = None

    def recover(self, llr: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``llr [B, coded_bits]`` -> ``[(block indices [c], llr [B, c, n_r])]``, one entry per length.

        Descrambling (sign flips), deinterleaving and rate recovery: each buffer bit's LLR is the sum
        over the received bits that repeat it; buffer bits never sent get 0 and are cut off.
        """
        _check_bits(llr, self.layout.coded_bits, "logits")
        layout = self.layout
        batch = llr.shape[0]
        signed = llr.to(device=self.device, dtype=torch.float32) * self._sign
        buffers = torch.zeros(batch, layout.num_cbs * layout.buffer_bits, device=self.device)
        buffers.index_add_(1, self._select, signed)
        buffers = buffers.reshape(batch, layout.num_cbs, layout.buffer_bits)
        return [(rows, buffers[:, rows, : codec.n]) for rows, codec in self._groups]

    def decode_code_blocks(self, llr: torch.Tensor) -> torch.Tensor:
        """``llr [B, coded_bits]`` -> hard decisions ``[B, C, K']`` of every code block (CRCs included)."""
        layout = self.layout
        batch = llr.shape[0]
        blocks = torch.empty(batch, layout.num_cbs, layout.cb_bits, device=self.device)
        iterations = []
        for (rows, group_llr), (_, codec) in zip(self.recover(llr), self._groups):
            bits, _ = codec.decode(group_llr.reshape(-1, codec.n))
            blocks[:, rows] = bits.reshape(batch, len(rows), layout.cb_bits).to(self.device)
            if codec.last_iterations is not None:
                iterations.append((rows, codec.last_iterations.reshape(batch, len(rows))))
        self.last_iterations = None
        if iterations:
            self.last_iterations = torch.empty(batch, layout.num_cbs, dtype=torch.int32)
            for rows, its in iterations:
                self.last_iterations[:, rows.cpu()] = its.cpu()
        return blocks

    def check_crcs(self, blocks: torch.Tensor) -> DecodedTransportBlocks:
        """Decoded code blocks ``[B, C, K']`` -> TB bits and the CRC checks (see :class:`DecodedTransportBlocks`)."""
        batch = blocks.shape[0]
        if self._cb_crc is not None:
            blocks, cb_ok = self._cb_crc(blocks)
            cb_ok = cb_ok.reshape(batch, -1)
        bits, tb_ok = self._tb_crc(blocks.reshape(batch, -1))
        tb_ok = tb_ok.reshape(batch)
        if self._cb_crc is None:
            cb_ok = tb_ok.reshape(batch, 1)
        return DecodedTransportBlocks(bits, tb_ok, cb_ok)

    def call(self, llr: torch.Tensor) -> DecodedTransportBlocks:
        return self.check_crcs(self.decode_code_blocks(llr))
