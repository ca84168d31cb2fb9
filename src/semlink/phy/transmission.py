"""What goes into and comes out of :class:`~semlink.phy.digital.DigitalLink`: payloads in, results out.

The result records (one per way of sending: a block per example, fixed-length bits, variable-length
payloads in code blocks, transport blocks, variable-length payloads in transport blocks) carry
exactly what the receiver has, plus the channel uses each transmission spent; :func:`payload_bits`
and :func:`payload_frames` turn variable-length payloads into the zero-padded batches the link sends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

import numpy as np
import torch

__all__ = [
    "BlockResult",
    "PayloadTransmission",
    "Transmission",
    "TransportBlockTransmission",
    "TransportPayloadTransmission",
    "payload_bits",
    "payload_frames",
]


class BlockResult(NamedTuple):
    """One code block per example (:meth:`DigitalLink.simulate`).

    ``bits``/``bits_hat``: ``[B, k] float32``; ``block_ok``: ``[B] bool``, True where the decoded block
    equals the sent one (ground truth, also for uncoded links).
    """

    bits: torch.Tensor
    bits_hat: torch.Tensor
    block_ok: torch.Tensor


class Transmission(NamedTuple):
    """A payload through the link (:meth:`DigitalLink.transmit`).

    ``bits_hat``: ``[B, L] float32``; ``block_ok``: ``[B, num_blocks] bool`` receiver-side syndrome
    check per code block (all True when uncoded); ``channel_uses_with_padding``: ``[B] int64`` data
    REs spent per example, slot padding included.
    """

    bits_hat: torch.Tensor
    block_ok: torch.Tensor
    channel_uses_with_padding: torch.Tensor


class PayloadTransmission(NamedTuple):
    """Variable-length payloads through the link (:meth:`DigitalLink.transmit_payloads`), one entry each.

    ``bits_hat``: received ``[L_i] uint8`` bits; ``block_ok``: ``[num_blocks_i] bool`` receiver-side
    syndrome check per code block (all True when uncoded); ``channel_uses``: ``[P] int64`` complex
    symbols each payload occupied (whole code blocks; no slot padding: the symbols that carry it).
    """

    bits_hat: list[np.ndarray]
    block_ok: list[np.ndarray]
    channel_uses: np.ndarray


class TransportBlockTransmission(NamedTuple):
    """Transport blocks through the link (:meth:`DigitalLink.transmit_transport_blocks`).

    ``bits_hat [B, TBS] float32``: the decoded TBs, errors included; ``tb_ok [B] bool``: TB CRC;
    ``cb_ok [B, C] bool``: each code block's CRC (one block: the TB CRC); ``channel_uses [B]
    int64``: the allocation (data REs) each TB occupied.
    """

    bits_hat: torch.Tensor
    tb_ok: torch.Tensor
    cb_ok: torch.Tensor
    channel_uses: torch.Tensor


class TransportPayloadTransmission(NamedTuple):
    """Variable-length payloads in transport blocks (:meth:`DigitalLink.transmit_transport_payloads`).

    Per payload ``i`` (``P`` of them): ``bits_hat[i]`` the whole decoded TB, ``[tb_size[i]] uint8``
    (the payload's bits then the zero padding, as received: a receiver knows its allocation, hence
    the TBS, not the payload's length); ``tb_ok [P] bool`` the TB CRC; ``cb_ok[i] [C_i] bool`` the
    code blocks' CRCs; ``channel_uses [P] int64`` the allocation (data REs, no slot padding);
    ``tb_size [P] int64`` the TBS. An empty payload sends nothing: no bits, no blocks, 0 channel
    uses, ``tb_ok`` True.
    """

    bits_hat: list[np.ndarray]
    tb_ok: np.ndarray
    cb_ok: list[np.ndarray]
    channel_uses: np.ndarray
    tb_size: np.ndarray


def payload_bits(payloads: Sequence[np.ndarray | torch.Tensor]) -> list[np.ndarray]:
    """Payloads as flat ``uint8`` 0/1 arrays."""
    return [np.asarray(p.detach().cpu().numpy() if isinstance(p, torch.Tensor) else p, dtype=np.uint8).reshape(-1)
            for p in payloads]


def payload_frames(
    bits: list[np.ndarray], groups: np.ndarray, width_of: Callable[[int, np.ndarray], int], batch_size: int
) -> Iterator[tuple[int, np.ndarray, torch.Tensor]]:
    """``(group, rows, frame)`` batches of the payloads that share a group (e.g. a number of code blocks,
    an allocation), ``batch_size`` rows at a time: ``frame [len(rows), width_of(group, all its rows)]
    float32``, each payload zero-padded to its group's width. Group 0 (empty payloads) sends nothing."""
    for group in sorted(set(groups.tolist()) - {0}):
        members = np.flatnonzero(groups == group)
        width = width_of(group, members)
        for start in range(0, len(members), batch_size):
            rows = members[start : start + batch_size]
            frame = np.zeros((len(rows), width), dtype=np.float32)
            for r, i in enumerate(rows):
                frame[r, : bits[i].size] = bits[i]
            yield group, rows, torch.from_numpy(frame)
