"""Channel capacity of what a link delivers: the bits a realised channel carries at an SNR.

The capacity bound of the separation baseline gives each image ``floor(Σ log2(1 + SNR·|h|²))`` bits
over its channel uses, with the realised gains ``|h|²`` of its own slot
(:meth:`semlink.phy.AnalogLink.channel_gains`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from semlink.phy.snr import is_noiseless

__all__ = ["capacity_bits"]


def capacity_bits(gains: torch.Tensor | Sequence[torch.Tensor], snr_db: float) -> np.ndarray:
    """``[B] float64``: ``Σ log2(1 + SNR·|h|²)`` over each row of ``gains`` (``[B, N]``, or a list of such
    blocks concatenated), with ``SNR = 10**(snr_db / 10)``; ``+inf`` for ``snr_db = inf`` (no channel).

    >>> capacity_bits(torch.ones(2, 3), 0.0).tolist()   # 3 uses at SNR 1: 3 bits
    [3.0, 3.0]
    """
    g = torch.cat(list(gains)) if not isinstance(gains, torch.Tensor) else gains
    if is_noiseless(snr_db):
        return np.full(len(g), np.inf)
    snr = 10.0 ** (snr_db / 10.0)
    return torch.log2(1.0 + snr * g.double()).sum(dim=1).cpu().numpy()
