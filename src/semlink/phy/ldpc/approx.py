"""float32 ``exp`` and ``log`` that LLVM can vectorise inside numba loops.

numba calls the C library's ``expf``/``logf`` one value at a time unless Intel's SVML is installed,
which it is not here; the sum-product check update needs one of each per edge. These versions use
only arithmetic and bit casts, so a loop over the Z rows of a layer compiles to SIMD code.

- :func:`exp_neg`: ``exp(-x)`` for ``x >= 0`` (``x`` clamped to 80), range reduction to
  ``2^n * 2^f`` with ``|f| <= 1/2`` and a degree-7 Taylor polynomial of ``2^f``: relative error
  below 4e-6 over the range, below 1.5e-6 for ``x <= 17`` (where the decoders need it); float32
  rounding of the reduced argument dominates.
- :func:`log_pos`: ``log(v)`` for finite ``v > 0`` (normal floats): exponent from the bits, mantissa
  ``m`` moved into ``[1/sqrt 2, sqrt 2)``, ``log m = 2 atanh(s)`` with ``s = (m-1)/(m+1)``, ``|s| <
  0.172``, series to ``s^9``: relative error below 2e-7 (absolute below 1e-5).

The tests compare both against NumPy over their whole range.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["exp_neg", "log_pos", "float_bits", "bits_float"]


@intrinsic
def float_bits(typingctx, x):  # noqa: ANN001, ANN201 - numba intrinsic signature
    """The int32 bit pattern of a float32 (a no-op cast)."""
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
        return builder.bitcast(args[0], ir.IntType(32))

    return types.int32(types.float32), codegen


@intrinsic
def bits_float(typingctx, x):  # noqa: ANN001, ANN201 - numba intrinsic signature
    """The float32 whose bit pattern is the low 32 bits of an integer (a no-op cast)."""
    if not isinstance(x, types.Integer):
        return None

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
        value = args[0]
        if x.bitwidth > 32:
            value = builder.trunc(value, ir.IntType(32))
        elif x.bitwidth < 32:
            value = builder.zext(value, ir.IntType(32))
        return builder.bitcast(value, ir.FloatType())

    return types.float32(x), codegen


_LOG2E = np.float32(1.4426950408889634)
_LN2 = np.float32(0.6931471805599453)
_EXP_ARG_MAX = np.float32(80.0)
_HALF = np.float32(0.5)
_ONE = np.float32(1.0)
_SQRT2 = np.float32(1.4142135623730951)
# Taylor coefficients of exp(g) = sum g^j / j!, j = 1..7 (the j = 0 term is 1).
_E1, _E2, _E3 = np.float32(1.0), np.float32(1 / 2), np.float32(1 / 6)
_E4, _E5, _E6, _E7 = np.float32(1 / 24), np.float32(1 / 120), np.float32(1 / 720), np.float32(1 / 5040)
# atanh series: atanh(s) = s (1 + s^2/3 + s^4/5 + s^6/7 + s^8/9 + ...)
_A3, _A5, _A7, _A9 = np.float32(1 / 3), np.float32(1 / 5), np.float32(1 / 7), np.float32(1 / 9)
_TWO = np.float32(2.0)
_MANTISSA = np.int32(0x007FFFFF)
_ONE_BITS = np.int32(0x3F800000)


@njit(cache=True, fastmath=True, error_model="numpy")
def exp_neg(x: np.float32) -> np.float32:
    """``exp(-x)`` for float32 ``x >= 0``."""
    y = -min(x, _EXP_ARG_MAX) * _LOG2E  # exp(-x) = 2^y, y in [-115.4, 0]
    n = np.floor(y + _HALF)
    g = (y - n) * _LN2  # 2^(y - n) = e^g, |g| <= ln(2)/2
    p = _ONE + g * (_E1 + g * (_E2 + g * (_E3 + g * (_E4 + g * (_E5 + g * (_E6 + g * _E7))))))
    scale = bits_float((np.int32(n) + np.int32(127)) << np.int32(23))  # 2^n, n >= -116: normal
    return p * scale


@njit(cache=True, fastmath=True, error_model="numpy")
def log_pos(v: np.float32) -> np.float32:
    """Natural logarithm of a positive, normal, finite float32."""
    bits = float_bits(v)
    e = np.float32((bits >> np.int32(23)) - np.int32(127))
    m = bits_float((bits & _MANTISSA) | _ONE_BITS)  # in [1, 2)
    big = m > _SQRT2
    m = m * _HALF if big else m
    e = e + _ONE if big else e
    s = (m - _ONE) / (m + _ONE)
    s2 = s * s
    return e * _LN2 + _TWO * s * (_ONE + s2 * (_A3 + s2 * (_A5 + s2 * (_A7 + s2 * _A9))))
