"""Layered LDPC decoding kernels (numba, CPU): sum-product and normalised min-sum with early stop.

One iteration updates the layers (base rows of a :class:`~semlink.phy.ldpc.graph.QcGraph`) one
after the other; inside a layer all Z check rows are independent and processed together. Per code
block the state is the a-posteriori LLR ``app[v]`` of every variable and the last check-to-variable
message ``c2v[edge]``; a layer computes ``v2c = app - c2v`` for its edges, the new ``c2v`` from the
layer's ``v2c`` and ``app = v2c + c2v`` (the layered schedule). Blocks run in parallel (``prange``).

Check updates:

- ``bp`` (sum-product): ``c2v_j = 2 atanh(prod_{i != j} tanh(v2c_i / 2))``, the products of the
  others from prefix and suffix products (no division, exact with zero inputs), ``tanh`` and
  ``atanh`` from :mod:`~semlink.phy.ldpc.approx`; ``|prod|`` is capped at ``1 - 2^-23`` so messages
  stay below ~16.6, as Sionna's boxplus-phi caps them.
- ``nms`` (normalised min-sum): ``c2v_j = scale * prod_{i != j} sign(v2c_i) * min_{i != j} |v2c_i|``
  from the two smallest magnitudes (an edge whose magnitude equals the smallest gets the second
  smallest; with a tie both are equal, so no index is needed).

LLRs inside are "true" LLRs ``log p(0)/p(1)``; a bit is decided 1 where ``app <= 0`` (Sionna's
rule). Channel LLRs and min-sum messages are clipped to ``llr_max`` (Sionna clips to 20 as well).
After every iteration the syndrome of the hard decisions is checked; a block stops as soon as it is
zero. ``ok`` is that syndrome check on the final hard decisions.

Written for the compiler: every hot loop runs over the Z rows of one layer, touches at most three
arrays through unsigned (``uint64``) offsets, so LLVM emits contiguous SIMD loads and stores (signed
indices make numba check for negative values and defeat the vectoriser; more arrays exceed LLVM's
runtime alias checks). A cyclic shift splits a run of Z into two contiguous runs.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from semlink.phy.ldpc.approx import exp_neg, log_pos

__all__ = ["decode_blocks", "RULE_BP", "RULE_NMS"]

RULE_BP = 0
RULE_NMS = 1

_F0 = np.float32(0.0)
_F1 = np.float32(1.0)
_BIG = np.float32(3.0e38)
_FILLER_LLR = np.float32(1.0e4)  # known zero: never the minimum, tanh(x/2) == 1
_PROD_MAX = np.float32(1.0 - 2.0**-23)  # largest float32 below 1


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _gather_v2c(v2c, app, c2v, off, base, shift, z, rows):  # noqa: ANN001, ANN202
    """``v2c[off + i] = app[base + (i + shift) mod z] - c2v[off + i]`` for ``i < rows``."""
    n1 = min(rows, z - shift)
    for i in range(n1):
        v2c[off + i] = app[base + shift + i] - c2v[off + i]
    for i in range(n1, rows):
        v2c[off + i] = app[base + shift + i - z] - c2v[off + i]


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _scatter_app(app, new, off, base, shift, z, rows):  # noqa: ANN001, ANN202
    """``app[base + (i + shift) mod z] = new[off + i]`` for ``i < rows``."""
    n1 = min(rows, z - shift)
    for i in range(n1):
        app[base + shift + i] = new[off + i]
    for i in range(n1, rows):
        app[base + shift + i - z] = new[off + i]


# -- normalised min-sum ---------------------------------------------------------------------------
@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _nms_stats(v2c, off, min1, min2, sign, rows):  # noqa: ANN001, ANN202
    for i in range(rows):
        x = v2c[off + i]
        a = abs(x)
        min2[i] = min(min2[i], max(min1[i], a))
        min1[i] = min(min1[i], a)
        sign[i] = -sign[i] if x < _F0 else sign[i]


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _nms_output(v2c, c2v, off, min1, min2, sign, rows, scale, msg_max):  # noqa: ANN001, ANN202
    """New ``c2v`` of one edge per row, and ``v2c + c2v`` (the new APP) in place of ``v2c``."""
    for i in range(rows):
        x = v2c[off + i]
        mag = min((min2[i] if abs(x) == min1[i] else min1[i]) * scale, msg_max)
        r = -sign[i] * mag if x < _F0 else sign[i] * mag
        c2v[off + i] = r
        v2c[off + i] = x + r


@njit(cache=True, fastmath=True, error_model="numpy")
def _layer_nms(app, c2v, v2c, min1, min2, sign, first, last, entry_base, entry_shift, z, rows, scale, msg_max):  # noqa: ANN001, ANN202, E501
    for i in range(rows):
        min1[i] = _BIG
        min2[i] = _BIG
        sign[i] = _F1
    for ent in range(first, last):
        off = ent * z
        _gather_v2c(v2c, app, c2v, off, entry_base[ent], entry_shift[ent], z, rows)
        _nms_stats(v2c, off, min1, min2, sign, rows)
    for ent in range(first, last):
        off = ent * z
        _nms_output(v2c, c2v, off, min1, min2, sign, rows, scale, msg_max)
        _scatter_app(app, v2c, off, entry_base[ent], entry_shift[ent], z, rows)


# -- sum-product (tanh rule) ----------------------------------------------------------------------
@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _tanh_half(t, v2c, off, rows):  # noqa: ANN001, ANN202
    """``t = tanh(v2c / 2) = sign(v2c) (1 - e^-|v2c|) / (1 + e^-|v2c|)``."""
    for i in range(rows):
        x = v2c[off + i]
        e = exp_neg(abs(x))
        th = (_F1 - e) / (_F1 + e)
        t[off + i] = -th if x < _F0 else th


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _prefix_step(prefix, t, off, running, rows):  # noqa: ANN001, ANN202
    for i in range(rows):
        prefix[off + i] = running[i]
        running[i] = running[i] * t[off + i]


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _suffix_step(t, off, running, rows):  # noqa: ANN001, ANN202
    """``t`` becomes the product of the later edges' ``tanh`` (the suffix without this edge)."""
    for i in range(rows):
        own = t[off + i]
        t[off + i] = running[i]
        running[i] = running[i] * own


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _bp_output(v2c, c2v, prefix, suffix, off, rows):  # noqa: ANN001, ANN202
    for i in range(rows):
        p = min(max(prefix[off + i] * suffix[off + i], -_PROD_MAX), _PROD_MAX)  # product over the others
        r = log_pos((_F1 + p) / (_F1 - p))  # 2 atanh(p)
        c2v[off + i] = r
        v2c[off + i] = v2c[off + i] + r


@njit(cache=True, fastmath=True, error_model="numpy")
def _layer_bp(app, c2v, v2c, t, prod, running, first, last, entry_base, entry_shift, z, rows):  # noqa: ANN001, ANN202, E501
    for i in range(rows):
        running[i] = _F1
    for ent in range(first, last):
        off = ent * z
        _gather_v2c(v2c, app, c2v, off, entry_base[ent], entry_shift[ent], z, rows)
        _tanh_half(t, v2c, off, rows)
        _prefix_step(prod, t, off, running, rows)
    for i in range(rows):
        running[i] = _F1
    for ent in range(last - 1, first - 1, -1):
        _suffix_step(t, ent * z, running, rows)
    for ent in range(first, last):
        off = ent * z
        _bp_output(v2c, c2v, prod, t, off, rows)
        _scatter_app(app, v2c, off, entry_base[ent], entry_shift[ent], z, rows)


# -- syndrome and driver --------------------------------------------------------------------------
@njit(cache=True, fastmath=True, error_model="numpy")
def _syndrome_ok(app, hard, parity, layer_ptr, entry_base, entry_shift, layer_rows, z):  # noqa: ANN001, ANN202
    """True when the hard decisions of ``app`` satisfy every check (stops at the first failing layer)."""
    for j in range(app.shape[0]):
        hard[j] = 1 if app[j] <= _F0 else 0
    for layer in range(layer_rows.shape[0]):
        rows = layer_rows[layer]
        for i in range(rows):
            parity[i] = 0
        for ent in range(layer_ptr[layer], layer_ptr[layer + 1]):
            base, shift = entry_base[ent], entry_shift[ent]
            n1 = min(rows, z - shift)
            for i in range(n1):
                parity[i] ^= hard[base + shift + i]
            for i in range(n1, rows):
                parity[i] ^= hard[base + shift + i - z]
        failed = np.uint8(0)
        for i in range(rows):
            failed |= parity[i]
        if failed:
            return False
    return True


@njit(cache=True, fastmath=True, error_model="numpy", parallel=True)
def decode_blocks(  # noqa: ANN201
    llr, llr_index, layer_ptr, entry_base, entry_shift, layer_rows, z, k, max_iter, rule, scale, llr_max,  # noqa: ANN001
    bits_out, ok_out, iterations_out,  # noqa: ANN001
):
    """Decode every row of ``llr [B, n] float32`` (logits ``log p(1)/p(0)``) into ``bits_out [B, k]
    float32``, ``ok_out [B] bool`` (zero syndrome) and ``iterations_out [B] int32``.

    ``llr_index [num_vns] int64`` (negative: punctured 0 or filler) and the ``uint64`` layer arrays
    ``layer_ptr``, ``entry_base`` (= base column * z), ``entry_shift``, ``layer_rows`` describe the
    graph (see :class:`~semlink.phy.ldpc.decoder.LayeredDecoder`); ``z``, ``k`` are ``uint64``;
    ``rule`` is :data:`RULE_BP` or :data:`RULE_NMS` (``scale``: its normalisation factor, float32);
    at most ``max_iter`` iterations.
    """
    num_blocks = llr.shape[0]
    num_vns = llr_index.shape[0]
    num_layers = layer_rows.shape[0]
    num_app = ((num_vns + z - 1) // z) * z
    num_c2v = entry_base.shape[0] * z
    bp_size = num_c2v if rule == RULE_BP else 1
    for b in prange(num_blocks):
        app = np.empty(num_app, np.float32)
        c2v = np.zeros(num_c2v, np.float32)
        v2c = np.empty(num_c2v, np.float32)
        t = np.empty(bp_size, np.float32)
        prod = np.empty(bp_size, np.float32)
        min1 = np.empty(z, np.float32)
        min2 = np.empty(z, np.float32)
        sign = np.empty(z, np.float32)
        hard = np.empty(num_app, np.uint8)
        parity = np.empty(z, np.uint8)
        for j in range(num_app):
            src = llr_index[j] if j < num_vns else -2
            if src >= 0:
                app[j] = min(max(-llr[b, src], -llr_max), llr_max)  # logits -> true LLRs
            elif src == -1:  # punctured
                app[j] = _F0
            else:  # filler
                app[j] = _FILLER_LLR
        ok = False
        it = 0
        while it < max_iter:
            for layer in range(num_layers):
                first, last, rows = layer_ptr[layer], layer_ptr[layer + 1], layer_rows[layer]
                if rule == RULE_BP:
                    _layer_bp(app, c2v, v2c, t, prod, min1, first, last, entry_base, entry_shift, z, rows)
                else:
                    _layer_nms(
                        app, c2v, v2c, min1, min2, sign, first, last, entry_base, entry_shift, z, rows, scale,
                        llr_max,
                    )
            it += 1
            ok = _syndrome_ok(app, hard, parity, layer_ptr, entry_base, entry_shift, layer_rows, z)
            if ok:
                break
        ok_out[b] = ok
        iterations_out[b] = it
        for j in range(k):
            bits_out[b, j] = _F1 if app[j] <= _F0 else _F0
