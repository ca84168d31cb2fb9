"""5G NR LDPC code blocks (Sionna ``LDPC5GEncoder``) and their decoders, with a receiver-side syndrome check.

Decoders (:data:`~semlink.phy.config.DECODERS`):

- ``sionna-bp``: Sionna's ``LDPC5GDecoder``, flooding sum-product (boxplus-phi), always all
  ``num_iter`` iterations; runs on the block's device (GPU included). The reference.
- ``layered-bp`` / ``layered-nms``: semlink's layered sum-product / normalised min-sum
  (:mod:`semlink.phy.ldpc`) on the same graph, compiled for the CPU with numba, each block stopping
  at a zero syndrome (``num_iter`` is the maximum). Inputs on another device are decoded on the
  CPU and the results moved back.

All three take the demapper's logits ``log p(1)/p(0)`` and report ``ok``: the syndrome check of
the final hard decisions of every variable of the (pruned) decoding graph.

Encoding of CPU tensors uses :class:`~semlink.phy.ldpc.encoding.FastEncoder` (numba, only the sent
bits, bit-identical to Sionna's encoder, which encodes tensors on other devices).

Sionna's BP decoder returns hard decisions only. To tell the receiver whether a block decoded, the
decoder is given a variable-node update (:class:`_RecordingVnUpdate`) that is Sionna's own
``vn_update_sum`` and keeps the a-posteriori LLRs of the last iteration; the hard decisions of all
(pruned-graph) variable nodes are then checked against every parity check: ``H c = 0 (mod 2)``.
This is exactly the codeword the info bits were read from, so ``block_ok`` is what a real receiver
knows (an undetected error, a BP fixed point on a wrong codeword, stays possible but is rare).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch
from sionna.phy import Block
from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
from sionna.phy.fec.ldpc.decoding import vn_update_sum

from semlink.errors import SemlinkError, choice_error
from semlink.phy.code_rules import check_code_params
from semlink.phy.config import DECODERS
from semlink.phy.ldpc import DEFAULT_NMS_SCALE, FastEncoder, LayeredDecoder, graph_from_encoder

__all__ = ["check_code_params", "LdpcCodec"]  # check_code_params: re-exported from code_rules

class _RecordingVnUpdate:
    """Sionna's ``vn_update_sum`` that remembers the last a-posteriori LLRs ``[batch, num_vns]``."""

    def __init__(self) -> None:
        self.last_llr: torch.Tensor | None = None

    def __call__(self, msg_c2v, mask, llr_ch, llr_clipping=None):  # noqa: ANN001 - Sionna callback
        msg_out, x_tot = vn_update_sum(msg_c2v, mask, llr_ch, llr_clipping)
        self.last_llr = x_tot
        return msg_out, x_tot


class LdpcCodec(Block):
    """One 5G LDPC code block per row: ``encode`` and ``decode`` (see the module docstring).

    :param k: information bits per block.
    :param n: codeword bits per block (rate matched, with the 38.212 output interleaver for
        ``bits_per_symbol``).
    :param bits_per_symbol: modulation order used by the output interleaver.
    :param num_iter: iterations (``sionna-bp``: always all of them; layered: the most per block).
    :param decoder: one of :data:`~semlink.phy.config.DECODERS`.
    :param nms_scale: normalisation factor of ``layered-nms``'s min-sum messages.

    ``encode(bits [B, k] float32) -> [B, n] float32``;
    ``decode(llr [B, n] float32 logits log p(1)/p(0)) -> (bits_hat [B, k] float32, ok [B] bool)``
    on the input's device, where ``ok`` is the syndrome check of the decoded codeword. After a
    layered decode, :attr:`last_iterations` holds the iterations each block used (``[B] int32``;
    None for ``sionna-bp``).
    """

    def __init__(
        self,
        k: int,
        n: int,
        bits_per_symbol: int,
        num_iter: int = 20,
        device: str | None = None,
        decoder: str = "sionna-bp",
        nms_scale: float = DEFAULT_NMS_SCALE,
    ) -> None:
        super().__init__(device=device)
        if decoder not in DECODERS:
            raise choice_error("LDPC decoder", decoder, DECODERS)
        check_code_params(k, n, bits_per_symbol)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            self.encoder = LDPC5GEncoder(
                k, n, num_bits_per_symbol=bits_per_symbol, check_input=False, device=self.device
            )
        self.k, self.n = int(k), int(n)
        self.decoder_name = decoder
        self.last_iterations: torch.Tensor | None = None
        graph = graph_from_encoder(self.encoder)
        self._fast_encoder = FastEncoder(graph)
        self._layered: LayeredDecoder | None = None
        if decoder != "sionna-bp":
            self._layered = LayeredDecoder(graph, decoder.removeprefix("layered-"), int(num_iter), nms_scale)
            return
        self._vn_update = _RecordingVnUpdate()
        self.decoder = LDPC5GDecoder(
            self.encoder, num_iter=int(num_iter), hard_out=True, vn_update=self._vn_update, device=self.device
        )
        # Parity checks of the (pruned) decoding graph as padded gather indices [num_cns, max_deg];
        # padding points at an extra always-zero variable node.
        pcm = sp.csr_matrix(self.decoder.pcm)
        num_cns, num_vns = pcm.shape
        degrees = np.diff(pcm.indptr)
        idx = np.full((num_cns, int(degrees.max())), num_vns, dtype=np.int64)
        for row in range(num_cns):
            cols = pcm.indices[pcm.indptr[row] : pcm.indptr[row + 1]]
            idx[row, : len(cols)] = cols
        self.register_buffer("_check_idx", torch.as_tensor(idx, device=self.device), persistent=False)

    def encode(self, bits: torch.Tensor) -> torch.Tensor:
        if bits.device.type == "cpu":
            return self._fast_encoder(bits)
        return self.encoder(bits)

    def decode(self, llr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self._layered is not None:
            result = self._layered(llr)
            self.last_iterations = result.iterations
            return result.bits, result.ok
        self._vn_update.last_llr = None
        bits_hat = self.decoder(llr)
        app = self._vn_update.last_llr
        self._vn_update.last_llr = None
        assert app is not None, "the BP decoder ran no iteration"
        hard = (app <= 0).to(torch.uint8)  # true-LLR sign convention inside Sionna's decoder
        hard = torch.nn.functional.pad(hard, (0, 1))
        syndrome = hard[:, self._check_idx].sum(dim=-1, dtype=torch.int32) & 1
        ok = ~syndrome.any(dim=-1)
        return bits_hat, ok

    def call(self, llr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.decode(llr)
