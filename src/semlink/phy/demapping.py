"""Exact APP demapping of square QAM, one real dimension at a time.

Sionna's ``Demapper("app")`` computes the distance from every received symbol to all ``2^m``
constellation points and two log-sum-exps over ``2^(m-1)`` points per bit. For a square QAM whose
bits each label only the real or only the imaginary part (Sionna's 38.211 Gray QAM is such), the
likelihood ``exp(-|y - x|^2 / no)`` factorises into the two PAM dimensions and the other
dimension's sum cancels from every LLR, so

    ``llr_b = logsumexp_{a: b=1} -(y_d - a)^2 / no  -  logsumexp_{a: b=0} -(y_d - a)^2 / no``

over the ``2^(m/2)`` levels ``a`` of the dimension ``d`` that bit ``b`` labels. This is the same
quantity (equal up to float rounding) at a fraction of the work: one subtraction and product for
QPSK. :class:`SeparableQamDemapper` reads the levels and the bit-to-dimension assignment from the
Sionna ``Constellation`` itself and refuses one that does not factorise; :func:`make_demapper`
falls back to Sionna's demapper then.

Output: logits ``log p(1)/p(0)`` ``[..., num_symbols * m] float32``, bits of one symbol together,
most significant label bit first (Sionna's order). CPU tensors go through a numba kernel (one pass,
symbols in parallel), other devices through torch operations; both compute the formula above.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit, prange
from sionna.phy import Block
from sionna.phy.mapping import Constellation, Demapper

from semlink.phy.ldpc.approx import exp_neg, log_pos

__all__ = ["SeparableQamDemapper", "make_demapper"]


def _separable_layout(points: np.ndarray, bits_per_symbol: int) -> tuple[list[int], np.ndarray, np.ndarray] | None:
    """``(dimension of each bit, levels [2, L], labels [2, L, m/2])`` or None if not separable.

    Dimension 0 is the real part; ``labels[d, l]`` are the bits of dimension ``d`` (in label order)
    that select level ``l``.
    """
    labels = (np.arange(2**bits_per_symbol)[:, None] >> np.arange(bits_per_symbol - 1, -1, -1)) & 1
    parts = (points.real, points.imag)
    dims: list[int] = []
    for bit in range(bits_per_symbol):
        partner = np.arange(2**bits_per_symbol) ^ (1 << (bits_per_symbol - 1 - bit))  # the bit flipped
        moves = [not np.allclose(part, part[partner]) for part in parts]
        if moves.count(True) != 1:  # the bit must move the point along exactly one dimension
            return None
        dims.append(moves.index(True))
    per_dim = [[b for b in range(bits_per_symbol) if dims[b] == d] for d in (0, 1)]
    if len(per_dim[0]) != len(per_dim[1]):
        return None
    half = len(per_dim[0])
    levels = np.zeros((2, 2**half))
    level_labels = np.zeros((2, 2**half, half), dtype=np.int64)
    for d in (0, 1):
        seen: dict[tuple[int, ...], float] = {}
        for idx in range(2**bits_per_symbol):
            key = tuple(int(labels[idx, b]) for b in per_dim[d])
            value = float(parts[d][idx])
            if key in seen and not np.isclose(seen[key], value):
                return None
            seen[key] = value
        if len(seen) != 2**half:
            return None
        for j, (key, value) in enumerate(sorted(seen.items())):
            levels[d, j] = value
            level_labels[d, j] = key
    return dims, levels, level_labels


_CHUNK = 1024  # symbols per parallel task of the CPU kernel
_NEG_BIG = np.float32(-3.0e38)  # "minus infinity" (fastmath assumes no infinities)
_F0 = np.float32(0.0)
_F1 = np.float32(1.0)


@njit(cache=True, parallel=True, fastmath=True, error_model="numpy")
def _demap_kernel(y, no, levels, idx1, idx0, out_pos, tiny, out):  # noqa: ANN001, ANN202
    """``y [M, 2] float32`` (re, im), ``no [M]`` -> ``out [M, m]`` logits.

    ``idx1 / idx0 [m/2, L/2]``: the levels where bit ``j`` of a dimension is 1 / 0. Each
    log-sum-exp is ``top + log(sum_t exp(e_t - top))`` with ``top`` the largest exponent; loops run
    over a chunk of symbols innermost, so they vectorise (``exp``/``log`` from semlink.phy.ldpc.approx).
    """
    num = y.shape[0]
    half, per = idx1.shape
    for c in prange((num + _CHUNK - 1) // _CHUNK):
        lo = c * _CHUNK
        n = min(num, lo + _CHUNK) - lo
        scale = np.empty(n, np.float32)
        value = np.empty(n, np.float32)
        top = np.empty(n, np.float32)
        acc = np.empty(n, np.float32)
        lse1 = np.empty(n, np.float32)
        noise = no[lo : lo + n]
        for i in range(n):
            scale[i] = -_F1 / max(noise[i], tiny)
        for d in range(2):
            part = y[lo : lo + n, d]
            for i in range(n):
                value[i] = part[i]
            for j in range(half):
                for h in range(1, -1, -1):  # bit = 1 first, then 0
                    idx = idx1[j] if h == 1 else idx0[j]
                    for i in range(n):
                        top[i] = _NEG_BIG
                    for t in range(per):
                        a = levels[idx[t]]
                        for i in range(n):
                            top[i] = max(top[i], scale[i] * (value[i] - a) ** 2)
                    if per > 1:
                        for i in range(n):
                            acc[i] = _F0
                        for t in range(per):
                            a = levels[idx[t]]
                            for i in range(n):
                                acc[i] += exp_neg(top[i] - scale[i] * (value[i] - a) ** 2)
                        for i in range(n):
                            top[i] += log_pos(acc[i])
                    if h == 1:
                        for i in range(n):
                            lse1[i] = top[i]
                    else:
                        column = out[lo : lo + n, out_pos[d * half + j]]
                        for i in range(n):
                            column[i] = lse1[i] - top[i]


class SeparableQamDemapper(Block):
    """APP demapper for square QAM, exact and per real dimension (see the module docstring).

    :param constellation: a Sionna ``Constellation`` whose bits each label one real dimension.

    ``demapper(y [..., N] complex64, no [..., N] or broadcastable float32) -> [..., N * m] float32``.
    """

    def __init__(self, constellation: Constellation, device: str | None = None) -> None:
        super().__init__(device=device)
        m = int(constellation.num_bits_per_symbol)
        layout = _separable_layout(constellation().detach().cpu().numpy().astype(np.complex128), m)
        if layout is None:
            raise ValueError("constellation is not a separable square QAM")
        dims, levels, level_labels = layout
        if not (np.allclose(levels[0], levels[1]) and np.array_equal(level_labels[0], level_labels[1])):
            raise ValueError("the two dimensions of the constellation differ")
        half = m // 2
        self._bits_per_symbol = m
        self._no_threshold = float(np.finfo(np.float32).tiny)  # as Sionna's Demapper
        self.register_buffer("_levels", torch.tensor(levels[0], dtype=torch.float32, device=self.device), persistent=False)
        # levels whose bit j is 0 / 1, flattened [half * L/2] (both dimensions share levels and labels)
        idx0 = np.concatenate([np.flatnonzero(level_labels[0, :, j] == 0) for j in range(half)])
        idx1 = np.concatenate([np.flatnonzero(level_labels[0, :, j] == 1) for j in range(half)])
        self.register_buffer("_idx0", torch.tensor(idx0, device=self.device), persistent=False)
        self.register_buffer("_idx1", torch.tensor(idx1, device=self.device), persistent=False)
        # output bit b of a symbol is bit j (its rank among dimension d's bits) of dimension d
        order = [d * half + sum(1 for c in range(b) if dims[c] == dims[b]) for b, d in enumerate(dims)]
        self.register_buffer("_order", torch.tensor(order, device=self.device), persistent=False)
        self._cpu_tables = (
            levels[0].astype(np.float32), idx1.reshape(half, -1), idx0.reshape(half, -1), np.argsort(order)
        )

    def call(self, y: torch.Tensor, no: torch.Tensor) -> torch.Tensor:
        return self._call_cpu(y, no) if y.device.type == "cpu" else self._call_torch(y, no)

    def _call_torch(self, y: torch.Tensor, no: torch.Tensor) -> torch.Tensor:
        """Torch operations, any device."""
        no = torch.clamp_min(torch.as_tensor(no, dtype=torch.float32, device=y.device), self._no_threshold)
        no = torch.broadcast_to(no, y.shape).unsqueeze(-1)  # [..., N, 1]
        yr = torch.stack([y.real, y.imag], dim=-1)  # [..., N, 2]
        half = self._bits_per_symbol // 2
        if half == 1:  # QPSK: one bit per dimension, a difference of two squares
            a0, a1 = self._levels[0], self._levels[1]
            llr = ((yr - a0).square() - (yr - a1).square()) / no  # [..., N, 2]
        else:
            exponents = -(yr.unsqueeze(-1) - self._levels).square() / no.unsqueeze(-1)  # [..., N, 2, L]
            e1 = exponents.index_select(-1, self._idx1).unflatten(-1, (half, -1))  # [..., N, 2, half, L/2]
            e0 = exponents.index_select(-1, self._idx0).unflatten(-1, (half, -1))
            llr = (torch.logsumexp(e1, dim=-1) - torch.logsumexp(e0, dim=-1)).flatten(-2)  # [..., N, m]
        llr = llr[..., self._order]
        return llr.reshape(*y.shape[:-1], y.shape[-1] * self._bits_per_symbol)

    def _call_cpu(self, y: torch.Tensor, no: torch.Tensor) -> torch.Tensor:
        """The numba kernel, CPU tensors."""
        no = torch.broadcast_to(torch.as_tensor(no, dtype=torch.float32), y.shape)
        y_ri = torch.view_as_real(y.to(torch.complex64).reshape(-1).contiguous()).numpy()
        out = np.empty((y_ri.shape[0], self._bits_per_symbol), np.float32)
        if out.size:
            _demap_kernel(
                y_ri, no.reshape(-1).contiguous().numpy(), *self._cpu_tables, np.float32(self._no_threshold), out
            )
        return torch.from_numpy(out).reshape(*y.shape[:-1], y.shape[-1] * self._bits_per_symbol)


def make_demapper(constellation: Constellation, device: str | None = None) -> Block:
    """:class:`SeparableQamDemapper` when the constellation factorises, else Sionna's ``Demapper("app")``."""
    try:
        return SeparableQamDemapper(constellation, device=device)
    except ValueError:
        return Demapper("app", constellation=constellation, device=device)
