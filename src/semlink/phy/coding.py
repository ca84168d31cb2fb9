"""5G NR LDPC code blocks (Sionna ``LDPC5GEncoder``/``LDPC5GDecoder``) with a receiver-side syndrome check.

Sionna's BP decoder returns hard decisions only. To tell the receiver whether a block decoded, the
decoder is given a variable-node update (:class:`_RecordingVnUpdate`) that is Sionna's own
``vn_update_sum`` and keeps the a-posteriori LLRs of the last iteration; the hard decisions of all
(pruned-graph) variable nodes are then checked against every parity check: ``H c = 0 (mod 2)``.
This is exactly the codeword the info bits were read from, so ``block_ok`` is what a real receiver
knows (an undetected error, a BP fixed point on a wrong codeword, stays possible but is rare).
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import scipy.sparse as sp
import torch
from sionna.phy import Block
from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
from sionna.phy.fec.ldpc.decoding import vn_update_sum

from semlink.errors import SemlinkError

__all__ = ["check_code_params", "LdpcCodec"]

_CODE_RULES = (
    "accepted (TS 38.212 via Sionna LDPC5GEncoder): integers 12 <= k <= 8448, k < n, "
    "1/5 <= k/n <= 0.95, k <= 3840 when k/n < 1/3, n a multiple of the bits per symbol"
)


@functools.lru_cache(maxsize=64)
def _build_encoder_checked(k: int, n: int, bits_per_symbol: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            enc = LDPC5GEncoder(k, n, num_bits_per_symbol=bits_per_symbol, device="cpu")
        except (ValueError, TypeError) as exc:
            raise SemlinkError(f"unsupported LDPC code k={k}, n={n}: {exc}; {_CODE_RULES}") from None
    if n > enc.n_cb_comp:
        raise SemlinkError(
            f"unsupported LDPC code k={k}, n={n}: n exceeds the circular buffer; {_CODE_RULES}"
        )


def check_code_params(k: object, n: object, bits_per_symbol: int) -> None:
    """Raise :class:`SemlinkError` unless (k, n) is a 5G LDPC code Sionna supports for this modulation."""
    for name, v in (("code_k", k), ("code_n", n)):
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise SemlinkError(f"{name} must be a positive integer, got {v!r}; {_CODE_RULES}")
    assert isinstance(k, int) and isinstance(n, int)
    if k >= n:
        raise SemlinkError(f"code_k must be smaller than code_n, got k={k}, n={n}; {_CODE_RULES}")
    if n % bits_per_symbol:
        raise SemlinkError(
            f"code_n={n} is not a multiple of {bits_per_symbol} bits per symbol; {_CODE_RULES}"
        )
    _build_encoder_checked(k, n, bits_per_symbol)


class _RecordingVnUpdate:
    """Sionna's ``vn_update_sum`` that remembers the last a-posteriori LLRs ``[batch, num_vns]``."""

    def __init__(self) -> None:
        self.last_llr: torch.Tensor | None = None

    def __call__(self, msg_c2v, mask, llr_ch, llr_clipping=None):  # noqa: ANN001 - Sionna callback
        msg_out, x_tot = vn_update_sum(msg_c2v, mask, llr_ch, llr_clipping)
        self.last_llr = x_tot
        return msg_out, x_tot


class LdpcCodec(Block):
    """One 5G LDPC code block per row: ``encode`` and ``decode`` (BP, boxplus-phi, flooding).

    :param k: information bits per block.
    :param n: codeword bits per block (rate matched, with the 38.212 output interleaver for
        ``bits_per_symbol``).
    :param bits_per_symbol: modulation order used by the output interleaver.
    :param num_iter: BP iterations (no early stop).

    ``encode(bits [B, k] float32) -> [B, n] float32``;
    ``decode(llr [B, n] float32 logits log p(1)/p(0)) -> (bits_hat [B, k] float32, ok [B] bool)``
    where ``ok`` is the syndrome check of the decoded codeword.
    """

    def __init__(
        self, k: int, n: int, bits_per_symbol: int, num_iter: int = 20, device: str | None = None
    ) -> None:
        super().__init__(device=device)
        check_code_params(k, n, bits_per_symbol)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            self.encoder = LDPC5GEncoder(
                k, n, num_bits_per_symbol=bits_per_symbol, check_input=False, device=self.device
            )
        self._vn_update = _RecordingVnUpdate()
        self.decoder = LDPC5GDecoder(
            self.encoder, num_iter=int(num_iter), hard_out=True, vn_update=self._vn_update, device=self.device
        )
        self.k, self.n = int(k), int(n)
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
        return self.encoder(bits)

    def decode(self, llr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
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
