""":class:`LayeredDecoder`: the torch-facing wrapper of the numba layered decoders.

It takes the same input as Sionna's ``LDPC5GDecoder`` (the demapper's logits ``log p(1)/p(0)``
of the ``n`` rate-matched, interleaved bits) and returns hard information bits, the syndrome check
and the iterations each block used, on the input's device. The kernels run on the CPU: tensors on
another device (CUDA) are copied to the host and the results copied back, so every device gets the
same decoder and the same numbers (use ``sionna-bp`` to keep decoding on a GPU).
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np
import torch

from semlink.errors import SemlinkError
from semlink.phy.config import DEFAULT_NMS_SCALE
from semlink.phy.ldpc.graph import QcGraph
from semlink.phy.ldpc.layered import RULE_BP, RULE_NMS, decode_blocks

__all__ = ["LayeredDecoder", "LayeredResult", "LAYERED_RULES", "DEFAULT_NMS_SCALE", "LLR_MAX"]

#: Check-node rules of :class:`LayeredDecoder`: sum-product and normalised min-sum.
LAYERED_RULES: dict[str, int] = {"bp": RULE_BP, "nms": RULE_NMS}
#: Clipping of channel LLRs (and min-sum messages), as Sionna's ``llr_max``.
LLR_MAX = 20.0


class LayeredResult(NamedTuple):
    """``bits [B, k] float32`` hard decisions, ``ok [B] bool`` zero syndrome, ``iterations [B] int32``."""

    bits: torch.Tensor
    ok: torch.Tensor
    iterations: torch.Tensor


class LayeredDecoder:
    """Layered BP or normalised min-sum decoding of a :class:`~semlink.phy.ldpc.graph.QcGraph`.

    :param graph: the code's decoding graph (:func:`~semlink.phy.ldpc.graph.qc_graph`).
    :param rule: ``"bp"`` (sum-product) or ``"nms"`` (normalised min-sum).
    :param max_iter: most iterations per block; each block stops at a zero syndrome.
    :param nms_scale: min-sum normalisation factor in (0, 1] (ignored for ``bp``).

    ``decoder(llr [B, n] float) -> LayeredResult``; ``llr`` are logits ``log p(1)/p(0)``.

    >>> from semlink.phy.ldpc.graph import qc_graph
    >>> dec = LayeredDecoder(qc_graph(456, 912, 2), "nms", max_iter=20)
    >>> res = dec(torch.full((3, 912), -9.0))  # all-zero codeword, confident
    >>> res.bits.shape, bool(res.ok.all()), res.iterations.tolist()
    (torch.Size([3, 456]), True, [1, 1, 1])
    """

    def __init__(self, graph: QcGraph, rule: str = "nms", max_iter: int = 20, nms_scale: float = DEFAULT_NMS_SCALE):
        if rule not in LAYERED_RULES:
            raise SemlinkError(f"unknown layered decoding rule {rule!r}; accepted: {', '.join(LAYERED_RULES)}")
        if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
            raise SemlinkError(f"max_iter must be an integer >= 1, got {max_iter!r}")
        scale = float(nms_scale)
        if not 0.0 < scale <= 1.0:
            raise SemlinkError(f"nms_scale must be in (0, 1], got {nms_scale!r}")
        self.graph, self.rule, self.max_iter, self.nms_scale = graph, rule, int(max_iter), scale
        u64 = np.uint64
        self._graph_arrays = (
            graph.llr_index.astype(np.int64),
            graph.layer_ptr.astype(u64),
            graph.entry_col.astype(u64) * u64(graph.z),
            graph.entry_shift.astype(u64),
            graph.layer_rows.astype(u64),
        )

    def __call__(self, llr: torch.Tensor) -> LayeredResult:
        if llr.dim() != 2 or llr.shape[1] != self.graph.n:
            raise SemlinkError(f"llr must have shape [batch, n={self.graph.n}], got {list(llr.shape)}")
        home = llr.device
        x = np.ascontiguousarray(llr.detach().to("cpu", torch.float32).numpy())
        bits, ok, iters = self.decode_numpy(x)
        return LayeredResult(
            torch.from_numpy(bits).to(home), torch.from_numpy(ok).to(home), torch.from_numpy(iters).to(home)
        )

    def decode_numpy(self, llr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The kernel on ``llr [B, n] float32`` (C-contiguous): ``(bits, ok, iterations)`` arrays."""
        g = self.graph
        batch = llr.shape[0]
        bits = np.empty((batch, g.k), np.float32)
        ok = np.empty(batch, np.bool_)
        iters = np.empty(batch, np.int32)
        if batch:
            decode_blocks(
                llr, *self._graph_arrays, np.uint64(g.z), np.uint64(g.k), self.max_iter, LAYERED_RULES[self.rule],
                np.float32(self.nms_scale), np.float32(LLR_MAX), bits, ok, iters,
            )
        return bits, ok, iters

    @staticmethod
    def warm_up() -> float:
        """Compile (or load from numba's cache) the kernel; returns the seconds it took."""
        from semlink.phy.ldpc.graph import qc_graph

        start = time.perf_counter()
        LayeredDecoder(qc_graph(40, 80, None), "nms", max_iter=1).decode_numpy(np.zeros((1, 80), np.float32))
        return time.perf_counter() - start
