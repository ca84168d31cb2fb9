"""The quasi-cyclic decoding graph of a 5G NR LDPC code, read from Sionna's ``LDPC5GEncoder``.

A 5G code is a base matrix (BG1 46 x 68, BG2 42 x 52) whose entries are cyclic shifts of a
``Z x Z`` identity (TS 38.212 5.3.2). Entry ``(r, c)`` with shift ``s`` connects check row
``r*Z + i`` to variable ``c*Z + (i + s) mod Z`` for ``i < Z``, exactly as Sionna lifts it. The Z
checks of one base row touch disjoint variables, so a *layer* (one base row) can be updated for all
Z rows at once: the layered decoders vectorise over Z.

What the decoder sees, mirroring ``LDPC5GDecoder``:

- the mother codeword has ``n_ldpc`` bits: ``k`` information bits, ``k_ldpc - k`` filler bits
  (known zeros), then parity; the first ``2Z`` information bits are never sent (punctured);
- the ``n`` received LLRs are the rate-matched stream ``c[2Z : ...]`` without filler bits, read in
  the order of the 38.212 output interleaver (``encoder.out_int``) when ``num_bits_per_symbol`` is set;
- the graph is pruned as Sionna prunes it: trailing degree-1 parity bits that are never sent carry
  no information, so they and their check rows are dropped. In 5G these are the extension columns,
  each an identity on its own base row, so a pruned layer keeps a prefix of its Z rows
  (:attr:`QcGraph.layer_rows`).

:func:`qc_graph` builds it; :meth:`QcGraph.lifted_pcm` gives the explicit parity-check matrix
(equal to Sionna's pruned ``LDPC5GDecoder.pcm``, which the tests check).
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sionna.phy.fec.ldpc import LDPC5GEncoder

__all__ = ["QcGraph", "qc_graph", "code_block_graph", "mother_encoder", "PUNCTURED", "FILLER"]

#: :attr:`QcGraph.llr_index` value of a variable that is not sent (its channel LLR is 0).
PUNCTURED = -1
#: :attr:`QcGraph.llr_index` value of a filler bit (known zero).
FILLER = -2


@dataclass(frozen=True, eq=False)
class QcGraph:
    """Layers of a lifted 5G base graph, pruned like Sionna's decoder (arrays are read-only numpy).

    - ``z``: lifting size; ``k``: information bits; ``n``: received (rate-matched) bits;
      ``k_ldpc``: systematic columns times Z (information plus filler bits);
      ``num_vns``: variables kept in the decoding graph (Sionna's ``_n_pruned``).
    - ``layer_ptr [num_layers + 1] int32``: entries of layer ``l`` are ``layer_ptr[l]:layer_ptr[l+1]``.
    - ``entry_col [num_entries] int32``, ``entry_shift [num_entries] int32``: base column and
      cyclic shift of each non-empty base-matrix entry, layer by layer.
    - ``layer_rows [num_layers] int32``: checks kept in each layer, ``rows 0 .. layer_rows-1``
      (Z except where pruning cuts the layer).
    - ``llr_index [num_vns] int32``: for each variable, the position of its LLR in the received
      length-``n`` vector (output interleaver included), or :data:`PUNCTURED` / :data:`FILLER`.
    """

    z: int
    k: int
    n: int
    k_ldpc: int
    num_vns: int
    layer_ptr: np.ndarray
    entry_col: np.ndarray
    entry_shift: np.ndarray
    layer_rows: np.ndarray
    llr_index: np.ndarray

    @property
    def num_layers(self) -> int:
        return len(self.layer_rows)

    @property
    def num_checks(self) -> int:
        return int(self.layer_rows.sum())

    @property
    def max_degree(self) -> int:
        """Largest number of base entries in one layer (the check degree)."""
        return int(np.diff(self.layer_ptr).max())

    @property
    def num_edges(self) -> int:
        degrees = np.diff(self.layer_ptr)
        return int((degrees * self.layer_rows).sum())

    def lifted_pcm(self) -> sp.csr_matrix:
        """The explicit pruned parity-check matrix ``[num_checks, num_vns]`` (0/1, CSR)."""
        rows, cols = [], []
        first_row = 0
        for layer in range(self.num_layers):
            za = int(self.layer_rows[layer])
            i = np.arange(za)
            for e in range(self.layer_ptr[layer], self.layer_ptr[layer + 1]):
                rows.append(first_row + i)
                cols.append(self.entry_col[e] * self.z + (i + self.entry_shift[e]) % self.z)
            first_row += za
        r, c = np.concatenate(rows), np.concatenate(cols)
        return sp.csr_matrix((np.ones(len(r), np.int8), (r, c)), shape=(first_row, self.num_vns))


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.int32)
    a.setflags(write=False)
    return a


def graph_from_encoder(encoder: LDPC5GEncoder, n: int | None = None) -> QcGraph:
    """The :class:`QcGraph` of the code an ``LDPC5GEncoder`` produces (see the module docstring).

    ``n``: read ``n`` rate-matched bits instead of the encoder's own ``encoder.n`` (any length up to
    the circular buffer, whatever rate that gives); the graph then maps the stream *before* any
    output interleaver, and the encoder must have none (``num_bits_per_symbol=None``).
    """
    z, k = int(encoder.z), int(encoder.k)
    k_ldpc, n_ldpc = int(encoder.k_ldpc), int(encoder.n_ldpc)
    k_filler = k_ldpc - k
    if n is None:
        n = int(encoder.n)
    elif encoder.num_bits_per_symbol is not None:
        raise ValueError("a length other than the encoder's own needs an encoder without output interleaver")
    if not 0 < n <= encoder.n_cb_comp:
        raise ValueError(f"n={n} must lie in [1, {encoder.n_cb_comp}] (the circular buffer): repetition is "
                         "rate recovery's job, not the graph's")
    base = np.asarray(encoder._bm)  # [rows, cols], -1 = empty, else the shift
    # Pruning as LDPC5GDecoder(prune_pcm=True) does it: keep every variable up to the last one sent
    # or the last one of degree > 1, whichever comes later.
    degree = np.asarray((encoder.pcm != 0).sum(axis=0)).ravel()
    last_multi = n_ldpc
    for col in range(n_ldpc - 1, 0, -1):
        if degree[col] == 1:
            last_multi = col
        else:
            break
    num_unsent_tail = (n_ldpc - k_filler) - n - 2 * z
    num_vns = int(max(last_multi, n_ldpc - num_unsent_tail))
    num_checks = base.shape[0] * z - (n_ldpc - num_vns)

    layer_ptr, cols, shifts, rows = [0], [], [], []
    for r in range(base.shape[0]):
        kept = min(z, num_checks - r * z)
        if kept <= 0:
            break
        for c in np.flatnonzero(base[r] >= 0):
            cols.append(c)
            shifts.append(int(base[r, c]) % z)
        layer_ptr.append(len(cols))
        rows.append(kept)

    # Received LLR of each mother-code variable: systematic bits 2Z..k, then parity bits from k_ldpc,
    # both in rate-matching order; the output interleaver permutes that order.
    llr_index = np.full(num_vns, PUNCTURED, dtype=np.int64)
    llr_index[k:k_ldpc] = FILLER
    rm_pos = np.arange(n)  # position in the rate-matched (pre-interleaver) stream
    mother = np.where(rm_pos < k - 2 * z, rm_pos + 2 * z, rm_pos - (k - 2 * z) + k_ldpc)
    received = rm_pos
    if encoder.num_bits_per_symbol is not None:
        # the interleaved stream y = c[out_int] holds rate-matched bit m at position out_int_inv[m]
        received = np.asarray(encoder.out_int_inv.cpu(), dtype=np.int64)[rm_pos]
    keep = mother < num_vns
    llr_index[mother[keep]] = received[keep]

    graph = QcGraph(
        z=z, k=k, n=n, k_ldpc=k_ldpc, num_vns=num_vns, layer_ptr=_readonly(layer_ptr), entry_col=_readonly(cols),
        entry_shift=_readonly(shifts), layer_rows=_readonly(rows), llr_index=_readonly(llr_index),
    )
    _check_pruning(graph, degree)
    return graph


def _check_pruning(graph: QcGraph, degree: np.ndarray) -> None:
    """Every pruned variable must be a degree-1 node whose check row is pruned with it; the
    prefix-of-rows layout of :class:`QcGraph` relies on it (true for both 5G base graphs)."""
    pcm = graph.lifted_pcm()
    if pcm.shape[0] != graph.num_checks or np.any(degree[graph.num_vns :] != 1):
        raise ValueError("unexpected 5G LDPC structure: pruned variables are not degree-1 extension nodes")


@functools.lru_cache(maxsize=32)
def qc_graph(k: int, n: int, bits_per_symbol: int | None) -> QcGraph:
    """Cached :func:`graph_from_encoder` for the 5G code ``(k, n)`` with that output interleaver."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        encoder = LDPC5GEncoder(k, n, num_bits_per_symbol=bits_per_symbol, device="cpu")
    return graph_from_encoder(encoder)


@functools.lru_cache(maxsize=256)
def mother_encoder(k: int, base_graph: str) -> LDPC5GEncoder:
    """Sionna's ``LDPC5GEncoder`` of ``k`` information bits on ``base_graph`` ("bg1"/"bg2"), no interleaver.

    Only its mother code is used (base matrix, lifting, parity-check matrix); those do not depend on
    the rate-matched length, which is set to ``2k`` here because Sionna refuses rates below 1/5 that
    38.212's circular buffer reaches (filler bits, repetition).
    """
    return LDPC5GEncoder(k, 2 * k, num_bits_per_symbol=None, bg=base_graph, device="cpu")


@functools.lru_cache(maxsize=512)
def code_block_graph(k: int, base_graph: str, n: int) -> QcGraph:
    """The graph of one 38.212 code block: ``k`` bits (CRCs included) on ``base_graph``, the first
    ``n`` bits of its circular buffer (redundancy version 0, before the bit interleaver)."""
    return graph_from_encoder(mother_encoder(k, base_graph), n)
