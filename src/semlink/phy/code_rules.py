"""Which 5G NR LDPC codes (TS 38.212) the links accept, decided without importing torch or Sionna.

The rules are Sionna's ``LDPC5GEncoder`` checks (base-graph choice, lifting size, code-rate and
length limits, the circular buffer), restated so that a config is validated in milliseconds by the
CLI; ``tests/phy/test_phy_code_rules.py`` checks the two agree on thousands of (k, n, modulation)
triples.

>>> check_code_params(1024, 2048, 2)                 # BG1, Z = 48
>>> lifting(1024, "bg1")
(48, 22)
"""

from __future__ import annotations

import functools

from semlink.errors import SemlinkError

__all__ = ["CODE_RULES", "base_graph", "check_code_params", "lifting"]

CODE_RULES = (
    "accepted (TS 38.212 via Sionna LDPC5GEncoder): integers 12 <= k <= 8448, k < n, "
    "1/5 <= k/n <= 0.95, k <= 3840 when k/n < 1/3, n a multiple of the bits per symbol"
)

#: Lifting sizes Z of TS 38.212 Table 5.3.2-1 (all eight sets).
LIFTING_SIZES = sorted(
    a * 2**j for a, top in ((2, 7), (3, 7), (5, 6), (7, 5), (9, 5), (11, 5), (13, 4), (15, 4)) for j in range(top + 1)
)
#: Base-graph columns: 68 for BG1, 52 for BG2.
COLUMNS = {"bg1": 68, "bg2": 52}


def base_graph(k: int, rate: float) -> str:
    """TS 38.212 5.3.2 base-graph selection (no outer CRC: K' = k)."""
    if k <= 292 or (k <= 3824 and rate <= 0.67) or rate <= 0.25:
        return "bg2"
    return "bg1"


def lifting(k: int, graph: str) -> tuple[int, int]:
    """``(Z, k_b)``: the smallest lifting size with ``k_b_sel · Z ≥ k`` and the graph's information columns."""
    if graph == "bg1":
        selection = 22
    else:
        selection = 10 if k > 640 else 9 if k > 560 else 8 if k > 192 else 6
    z = min(s for s in LIFTING_SIZES if selection * s >= k)
    return z, (22 if graph == "bg1" else 10)


@functools.lru_cache(maxsize=4096)
def _check(k: int, n: int, bits_per_symbol: int) -> str | None:
    """The reason ``(k, n)`` is refused, or None."""
    if k >= n:
        return f"code_k must be smaller than code_n, got k={k}, n={n}"
    if n % bits_per_symbol:
        return f"code_n={n} is not a multiple of {bits_per_symbol} bits per symbol"
    if k > 8448:
        return f"unsupported LDPC code k={k}, n={n}: k too large"
    if k < 12:
        return f"unsupported LDPC code k={k}, n={n}: k too small"
    if n > 316 * 384:
        return f"unsupported LDPC code k={k}, n={n}: n too large"
    rate = k / n
    if rate > 0.95:
        return f"unsupported LDPC code k={k}, n={n}: code rate {rate:.3f} above 0.95"
    if rate < 1 / 5:
        return f"unsupported LDPC code k={k}, n={n}: code rate {rate:.3f} below 1/5 (no repetition coding)"
    graph = base_graph(k, rate)
    if graph == "bg1" and rate < 1 / 3:
        return f"unsupported LDPC code k={k}, n={n}: base graph 1 needs a code rate of at least 1/3"
    if graph == "bg2" and k > 3840:
        return f"unsupported LDPC code k={k}, n={n}: base graph 2 carries at most 3840 bits"
    z, k_b = lifting(k, graph)
    circular_buffer = COLUMNS[graph] * z - 2 * z - (k_b * z - k)  # punctured 2Z and filler bits removed
    if n > circular_buffer:
        return f"unsupported LDPC code k={k}, n={n}: n exceeds the circular buffer ({circular_buffer} bits)"
    return None


def check_code_params(k: object, n: object, bits_per_symbol: int) -> None:
    """Raise :class:`SemlinkError` unless (k, n) is a 5G LDPC code the links support for this modulation."""
    for name, v in (("code_k", k), ("code_n", n)):
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise SemlinkError(f"{name} must be a positive integer, got {v!r}; {CODE_RULES}")
    assert isinstance(k, int) and isinstance(n, int)
    reason = _check(k, n, int(bits_per_symbol))
    if reason is not None:
        raise SemlinkError(f"{reason}; {CODE_RULES}")
