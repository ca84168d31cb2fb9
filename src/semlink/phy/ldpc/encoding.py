"""5G LDPC encoding on the pruned quasi-cyclic graph (numba, CPU), bit-identical to ``LDPC5GEncoder``.

Sionna's encoder computes all ``n_ldpc`` mother-code bits with float gathers; only the ``n`` sent
ones matter, and the parity of a 5G code follows from its structure (TS 38.212 5.3.2):

- the first four base rows (the *core*) involve the systematic columns and four parity columns
  ``kb .. kb+3``; with ``lambda`` the core rows' sums over the systematic bits, the core parity is
  ``B^-1 lambda`` where ``B`` is the lifted ``4Z x 4Z`` core parity block. ``B^-1`` is computed
  once by Gauss-Jordan elimination over GF(2) and is sparse (a few ones per row);
- every further base row ``r`` has its own parity column ``kb + r`` (an identity), so its parity
  bits are the XOR of the row's other entries; rows and columns that Sionna's decoder prunes are
  never sent and are skipped.

:class:`FastEncoder` checks that structure when it is built (a code without it is refused), and
the tests compare its output with Sionna's for both base graphs and several rates and modulations.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit, prange

from semlink.phy.ldpc.graph import QcGraph

__all__ = ["FastEncoder", "gf2_inverse"]

#: Base rows of the 5G core (double-diagonal parity part) in both base graphs.
NUM_CORE_ROWS = 4


def gf2_inverse(matrix: np.ndarray) -> np.ndarray:
    """Inverse over GF(2) of a square 0/1 matrix ``[m, m]`` (uint8 out); ValueError if singular.

    Gauss-Jordan on rows packed 64 columns to a word (``[A | I]`` becomes ``[I | A^-1]``).
    """
    m = matrix.shape[0]
    aug = np.concatenate([matrix.astype(bool), np.eye(m, dtype=bool)], axis=1)
    width = -(-2 * m // 64) * 64
    aug = np.pad(aug, ((0, 0), (0, width - 2 * m)))
    packed = np.packbits(aug, axis=1, bitorder="little").view(np.uint64)  # [m, width / 64]
    one = np.uint64(1)
    for col in range(m):
        word, bit = divmod(col, 64)
        has_bit = ((packed[:, word] >> np.uint64(bit)) & one).astype(bool)
        candidates = np.flatnonzero(has_bit[col:])
        if candidates.size == 0:
            raise ValueError("matrix is singular over GF(2)")
        pivot = col + int(candidates[0])
        if pivot != col:
            packed[[col, pivot]] = packed[[pivot, col]]
            has_bit[[col, pivot]] = has_bit[[pivot, col]]
        has_bit[col] = False
        packed[has_bit] ^= packed[col]
    bits = np.unpackbits(packed.view(np.uint8), axis=1, bitorder="little")
    return bits[:, m : 2 * m]


@njit(cache=True, parallel=True)
def _encode_blocks(  # noqa: ANN202
    bits, layer_ptr, entry_col, entry_shift, layer_rows, z, kb, inv_ptr, inv_idx, llr_index, out,  # noqa: ANN001
):
    num_blocks, k = bits.shape
    num_layers = layer_rows.shape[0]
    num_vns = llr_index.shape[0]
    core = NUM_CORE_ROWS * z
    for b in prange(num_blocks):
        c = np.zeros(((num_vns + z - 1) // z) * z, np.uint8)
        lam = np.zeros(core, np.uint8)
        acc = np.empty(z, np.uint8)
        for j in range(k):
            c[j] = 1 if bits[b, j] != 0 else 0
        for layer in range(num_layers):
            rows = layer_rows[layer]
            for i in range(rows):
                acc[i] = 0
            own = -1
            for ent in range(layer_ptr[layer], layer_ptr[layer + 1]):
                col = entry_col[ent]
                if (layer < NUM_CORE_ROWS and col >= kb) or col == kb + layer:
                    own = col  # core parity (solved below) or this row's own identity column
                    continue
                base, shift = col * z, entry_shift[ent]
                for i in range(rows):
                    j = i + shift
                    acc[i] ^= c[base + (j - z if j >= z else j)]
            if layer < NUM_CORE_ROWS:
                lam[layer * z : layer * z + rows] = acc[:rows]
                if layer == NUM_CORE_ROWS - 1:
                    for q in range(core):
                        p = np.uint8(0)
                        for t in range(inv_ptr[q], inv_ptr[q + 1]):
                            p ^= lam[inv_idx[t]]
                        c[kb * z + q] = p
            else:
                c[own * z : own * z + rows] = acc[:rows]
        for j in range(num_vns):
            if llr_index[j] >= 0:
                out[b, llr_index[j]] = c[j]


class FastEncoder:
    """Encoder of a :class:`~semlink.phy.ldpc.graph.QcGraph`: ``bits [B, k] -> [B, n]`` (0/1 floats),
    rate matched and interleaved exactly as the ``LDPC5GEncoder`` the graph was read from.

    >>> from semlink.phy.ldpc.graph import qc_graph
    >>> FastEncoder(qc_graph(456, 912, 2))(torch.zeros(2, 456)).shape
    torch.Size([2, 912])
    """

    def __init__(self, graph: QcGraph) -> None:
        z = graph.z
        kb = graph.k_ldpc // z
        core_cols = range(kb, kb + NUM_CORE_ROWS)
        block = np.zeros((NUM_CORE_ROWS * z, NUM_CORE_ROWS * z), np.uint8)
        i = np.arange(z)
        for layer in range(graph.num_layers):
            entries = range(graph.layer_ptr[layer], graph.layer_ptr[layer + 1])
            cols = [int(graph.entry_col[e]) for e in entries]
            if layer < NUM_CORE_ROWS:
                ok = graph.layer_rows[layer] == z and all(c < kb + NUM_CORE_ROWS for c in cols)
                for e in entries:
                    col = int(graph.entry_col[e])
                    if col in core_cols:
                        block[layer * z + i, (col - kb) * z + (i + graph.entry_shift[e]) % z] = 1
            else:
                own = [e for e in entries if graph.entry_col[e] >= kb + NUM_CORE_ROWS]
                ok = (
                    len(own) == 1 and graph.entry_col[own[0]] == kb + layer and graph.entry_shift[own[0]] == 0
                )
            if not ok:
                raise ValueError(f"base row {layer} does not have the 5G core/extension structure")
        inverse = gf2_inverse(block)
        self.graph = graph
        self._inv_ptr = np.concatenate([[0], np.cumsum(inverse.sum(axis=1, dtype=np.int64))])
        self._inv_idx = np.nonzero(inverse)[1].astype(np.int64)
        self._arrays = tuple(
            a.astype(np.int64) for a in (graph.layer_ptr, graph.entry_col, graph.entry_shift, graph.layer_rows)
        )
        self._kb = kb

    def __call__(self, bits: torch.Tensor) -> torch.Tensor:
        g = self.graph
        src = np.ascontiguousarray(bits.detach().to("cpu", torch.float32).numpy())
        out = np.zeros((src.shape[0], g.n), np.float32)
        if src.shape[0]:
            _encode_blocks(
                src, *self._arrays, g.z, self._kb, self._inv_ptr, self._inv_idx, g.llr_index.astype(np.int64), out
            )
        return torch.from_numpy(out).to(device=bits.device, dtype=bits.dtype)
