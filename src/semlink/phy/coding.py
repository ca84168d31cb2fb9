"""5G NR LDPC code blocks and their decoders, with a receiver-side syndrome check.

A codec is either a standalone code, ``(k, n)`` as Sionna's ``LDPC5GEncoder(k, n,
num_bits_per_symbol)`` builds it (base graph from ``k`` and ``k/n``, the 38.212 output interleaver,
within :data:`~semlink.phy.code_rules.CODE_RULES`), or, with ``base_graph`` given, one code block of
a transport block (:mod:`semlink.phy.transport`): ``k`` bits on the base graph TS 38.212 chose for
the TB, the first ``n`` bits of its circular buffer at any rate that gives (the TB chain does the
repetition, the bit interleaver and the rate recovery itself).

Decoders (:data:`~semlink.phy.config.DECODERS`):

- ``sionna-bp``: Sionna's flooding sum-product (boxplus-phi, ``LDPCBPDecoder``, the decoder
  ``LDPC5GDecoder`` runs), always all ``num_iter`` iterations; runs on the block's device (GPU
  included). The reference.
- ``layered-bp`` / ``layered-nms``: semlink's layered sum-product / normalised min-sum
  (:mod:`semlink.phy.ldpc`) on the same graph, compiled for the CPU with numba, each block stopping
  at a zero syndrome (``num_iter`` is the maximum). Inputs on another device are decoded on the
  CPU and the results moved back.

All three take the demapper's logits ``log p(1)/p(0)`` of the ``n`` received bits and report
``ok``: the syndrome check of the final hard decisions of every variable of the (pruned) decoding
graph, ``H c = 0 (mod 2)``. That is exactly the codeword the information bits are read from, so
``ok`` is what a real receiver knows (an undetected error, a BP fixed point on a wrong codeword,
stays possible but is rare; transport blocks add CRCs).

``sionna-bp`` does what ``LDPC5GDecoder`` does: rate recovery (punctured bits 0, filler bits known
zeros at ``-llr_max``, the rest from the received LLRs through the output interleaver), then
``LDPCBPDecoder`` on the pcm pruned as ``LDPC5GDecoder`` prunes it, here through the
:class:`~semlink.phy.ldpc.graph.QcGraph`'s ``llr_index``; unlike ``LDPC5GDecoder`` it also works
below rate 1/5 and returns the hard decisions of every variable, which the syndrome check reads.
The tests check it against ``LDPC5GDecoder`` bit for bit.

Encoding of CPU tensors uses :class:`~semlink.phy.ldpc.encoding.FastEncoder` (numba, only the sent
bits, bit-identical to Sionna's encoder); standalone codes encode tensors on other devices with
Sionna's encoder, code blocks on the CPU (moved back).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch
from sionna.phy import Block
from sionna.phy.fec.ldpc import LDPC5GEncoder, LDPCBPDecoder

from semlink.errors import SemlinkError, choice_error
from semlink.phy.code_rules import check_code_params
from semlink.phy.config import DECODERS
from semlink.phy.ldpc import (
    DEFAULT_NMS_SCALE,
    LLR_MAX,
    FastEncoder,
    LayeredDecoder,
    code_block_graph,
    graph_from_encoder,
    mother_encoder,
)

__all__ = ["check_code_params", "LdpcCodec"]  # check_code_params: re-exported from code_rules


class LdpcCodec(Block):
    """One 5G LDPC code block per row: ``encode`` and ``decode`` (see the module docstring).

    :param k: information bits per block.
    :param n: codeword bits per block (rate matched; standalone codes with the 38.212 output
        interleaver for ``bits_per_symbol``).
    :param bits_per_symbol: modulation order used by the output interleaver; None for code blocks.
    :param num_iter: iterations (``sionna-bp``: always all of them; layered: the most per block).
    :param decoder: one of :data:`~semlink.phy.config.DECODERS`.
    :param nms_scale: normalisation factor of ``layered-nms``'s min-sum messages.
    :param base_graph: ``"bg1"``/``"bg2"``: a code block of a transport block (see the module
        docstring; ``n`` up to the circular buffer without fillers); None: a standalone code.

    ``encode(bits [B, k] float32) -> [B, n] float32``;
    ``decode(llr [B, n] float32 logits log p(1)/p(0)) -> (bits_hat [B, k] float32, ok [B] bool)``
    on the input's device, where ``ok`` is the syndrome check of the decoded codeword. After a
    layered decode, :attr:`last_iterations` holds the iterations each block used (``[B] int32``;
    None for ``sionna-bp``).

    >>> codec = LdpcCodec(40, 600, None, base_graph="bg2")            # rate 1/15: below Sionna's 1/5
    >>> bits = torch.randint(0, 2, (2, 40)).float()
    >>> bits_hat, ok = codec.decode(8.0 * (2 * codec.encode(bits) - 1))
    >>> bool(torch.equal(bits_hat, bits)), ok.tolist()
    (True, [True, True])
    """

    def __init__(
        self,
        k: int,
        n: int,
        bits_per_symbol: int | None,
        num_iter: int = 20,
        device: str | None = None,
        decoder: str = "sionna-bp",
        nms_scale: float = DEFAULT_NMS_SCALE,
        base_graph: str | None = None,
    ) -> None:
        super().__init__(device=device)
        if decoder not in DECODERS:
            raise choice_error("LDPC decoder", decoder, DECODERS)
        self.encoder: LDPC5GEncoder | None
        if base_graph is None:
            check_code_params(k, n, bits_per_symbol)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                self.encoder = LDPC5GEncoder(
                    k, n, num_bits_per_symbol=bits_per_symbol, check_input=False, device=self.device
                )
            graph = graph_from_encoder(self.encoder)
            pcm = self.encoder.pcm
        else:
            if base_graph not in ("bg1", "bg2"):
                raise choice_error("base graph", base_graph, ("bg1", "bg2"))
            if bits_per_symbol is not None:
                raise SemlinkError("a code block has no output interleaver of its own: bits_per_symbol must be None")
            self.encoder = None
            graph = code_block_graph(int(k), base_graph, int(n))
            pcm = mother_encoder(int(k), base_graph).pcm
        self.k, self.n = int(k), int(n)
        self.graph = graph
        self.decoder_name = decoder
        self.last_iterations: torch.Tensor | None = None
        self._fast_encoder = FastEncoder(graph)
        self._layered: LayeredDecoder | None = None
        if decoder != "sionna-bp":
            self._layered = LayeredDecoder(graph, decoder.removeprefix("layered-"), int(num_iter), nms_scale)
            return
        pruned = sp.csr_matrix(pcm)[: graph.num_checks, : graph.num_vns]  # as LDPC5GDecoder prunes it
        self.decoder = LDPCBPDecoder(pruned, num_iter=int(num_iter), hard_out=True, llr_max=LLR_MAX,
                                     device=self.device)
        # Rate recovery as one gather: received LLRs, then a punctured 0 and a filler -llr_max.
        index = np.where(graph.llr_index >= 0, graph.llr_index, np.where(graph.llr_index == -1, graph.n,
                                                                          graph.n + 1))
        self.register_buffer("_vn_source", torch.as_tensor(index, device=self.device), persistent=False)
        self.register_buffer("_known", torch.tensor([0.0, -LLR_MAX], device=self.device), persistent=False)
        # Parity checks of the pruned graph as padded gather indices [num_cns, max_deg]; padding
        # points at an extra always-zero variable node.
        check = sp.csr_matrix(pruned)
        degrees = np.diff(check.indptr)
        idx = np.full((graph.num_checks, int(degrees.max())), graph.num_vns, dtype=np.int64)
        for row in range(graph.num_checks):
            cols = check.indices[check.indptr[row] : check.indptr[row + 1]]
            idx[row, : len(cols)] = cols
        self.register_buffer("_check_idx", torch.as_tensor(idx, device=self.device), persistent=False)

    def encode(self, bits: torch.Tensor) -> torch.Tensor:
        if bits.device.type == "cpu" or self.encoder is None:
            return self._fast_encoder(bits)
        return self.encoder(bits)

    def decode(self, llr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self._layered is not None:
            result = self._layered(llr)
            self.last_iterations = result.iterations
            return result.bits, result.ok
        llr = llr.to(torch.float32)
        batch = llr.shape[0]
        source = torch.cat([llr, self._known.to(llr.device).expand(batch, 2)], dim=1)
        hard = self.decoder(source[:, self._vn_source.to(llr.device)])  # [B, num_vns] 0/1
        padded = torch.nn.functional.pad(hard.to(torch.uint8), (0, 1))
        syndrome = padded[:, self._check_idx.to(llr.device)].sum(dim=-1, dtype=torch.int32) & 1
        return hard[:, : self.k], ~syndrome.any(dim=-1)

    def call(self, llr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.decode(llr)
