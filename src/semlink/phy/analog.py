"""Analog link: complex symbols straight onto the PHY (no coding, no quantisation), differentiable.

Transmit power constraint: each example is scaled to unit average symbol energy
(:func:`unit_energy_scale`), so ``snr_db`` holds per example (see :mod:`semlink.phy.snr`). The
normalised symbols are what goes on air: laid onto the data REs of as many OFDM slots as needed
(zero padding after the last symbol; flat mode: no slots), sent through the channel, estimated
(perfect, LS or LMMSE CSI) and equalised.

The receiver front end (one for every analog scheme)
----------------------------------------------------
What a receiver knows, per example: the received samples ``y`` of its data REs (and the pilots),
the noise variance ``no`` per RE (the SNR it measures), and a channel estimate ``h`` on every data
RE with its error variance ``err_var`` (``h`` exact and ``err_var = 0`` with perfect CSI; ``h = 1``
on AWGN). It does **not** know the example's transmit scale (the power normalisation above) or
anything else about the sent symbols beyond their unit average energy. From that the link returns,
for every symbol, in the on-air (unit-energy) scale:

- ``estimate``: the per-symbol linear MMSE estimate of the on-air symbol ``x``,
  ``conj(h) y / (|h|² + s)`` with ``s = no + err_var`` (channel-estimation error counted as noise);
- ``error_var``: its error variance ``E|estimate − x|² = s / (|h|² + s)``, in [0, 1] (1: the symbol
  told the receiver nothing, e.g. a deep fade).

(:func:`semlink.phy.equalizer.siso_lmmse_biased`; exact with perfect CSI, Sionna's approximation
of treating the estimation error as independent noise otherwise.) This pair is a lossless
re-parametrisation of the unbiased equaliser's ``(y / h, s / |h|²)``: ``y / h = estimate / (1 −
error_var)`` and ``s / |h|² = error_var / (1 − error_var)``, so a decoder that prefers the unbiased
form computes it; the MMSE form is bounded where fades would blow the unbiased one up. Every
analog decoder (deep JSCC, KBSC's feature decoder, the linear analog code) reads this pair and
nothing else. An SNR the *transmitter* uses (SNR-adaptive encoders, the linear code's power
allocation) is the fed-back SNR, a stated assumption of those schemes.

The link's output for an example is unchanged when its input is multiplied by any positive
constant (a complex constant ``c`` acts as its phase ``c / |c|``, which is part of the signal). A
scheme that needs a per-example scale at the receiver must send it in counted channel uses (none
does). The front end has one form: the analog link has no equaliser setting.

Gradients flow from both outputs to the input symbols (normalisation, resource-grid mapping,
channel and equaliser are differentiable; channel estimates depend on the pilots only).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from sionna.phy import Block

from semlink.errors import SemlinkError
from semlink.phy.config import AnalogLinkConfig
from semlink.phy.grid import slots_needed
from semlink.phy.snr import is_noiseless, noise_var_per_example
from semlink.phy.symbol_link import make_symbol_link

__all__ = ["AnalogLink", "AnalogOutput", "unit_energy_scale", "FRONT_END_EQUALIZER", "receiver_snr_db"]

_TINY = float(torch.finfo(torch.float32).tiny)
#: The equaliser of :mod:`semlink.phy.equalizer` whose output is the front end's (estimate, error_var).
FRONT_END_EQUALIZER = "lmmse-biased"


def _pack_by_noise(no: torch.Tensor, per_slot: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Places of examples packed ``per_slot`` to a slot, examples of equal noise ``no [B]`` together.

    Returns ``placed [R * per_slot] int64`` (the example at each place, ``B`` for an empty one; the
    examples of each noise level in batch order, levels in increasing order) and ``row_no [R]``; or
    None when no two examples share a noise level (packing would save nothing).

    >>> placed, row_no = _pack_by_noise(torch.tensor([0.1, 0.2, 0.1, 0.1]), 2)
    >>> placed.tolist(), row_no.tolist()
    ([0, 2, 3, 4, 1, 4], [0.10000000149011612, 0.10000000149011612, 0.20000000298023224])
    >>> _pack_by_noise(torch.tensor([0.1, 0.2, 0.3]), 2) is None
    True
    """
    batch = len(no)
    levels, group, counts = torch.unique(no, return_inverse=True, return_counts=True)
    if len(levels) == batch:
        return None
    order = torch.argsort(group, stable=True)  # examples grouped by level, batch order within a level
    rows_per_level = (counts + per_slot - 1) // per_slot
    first_row = torch.cumsum(rows_per_level, 0) - rows_per_level
    first_member = torch.cumsum(counts, 0) - counts
    level_of = group[order]
    rank = torch.arange(batch, device=no.device) - first_member[level_of]  # place within its level
    slot_index = (first_row[level_of] + rank // per_slot) * per_slot + rank % per_slot
    placed = torch.full((int(rows_per_level.sum()) * per_slot,), batch, dtype=torch.long, device=no.device)
    placed[slot_index] = order
    return placed, levels.repeat_interleave(rows_per_level)


def unit_energy_scale(symbols: torch.Tensor) -> torch.Tensor:
    """``[B, 1]`` factor that gives each row unit average energy per complex symbol (the power constraint).

    ``symbols``: ``[B, N]`` complex, or ``[B, 2N]`` real with interleaved real/imaginary parts (as
    in :func:`~semlink.phy.convert.real_to_complex`; the ONNX transmitter uses this form). An
    all-zero row stays zero.
    """
    reals = torch.view_as_real(symbols).flatten(1) if symbols.is_complex() else symbols
    energy = 2.0 * reals.square().mean(dim=-1, keepdim=True)  # mean |s|^2 over the complex symbols
    return torch.rsqrt(energy.clamp_min(_TINY))


#: Error variances are read as at least this (a noiseless symbol: 120 dB), so the SNR stays finite.
_ERROR_VAR_FLOOR = 1e-12
#: :func:`receiver_snr_db` clips to this range (dB) by default: a network's input stays bounded.
RECEIVER_SNR_RANGE_DB = (-30.0, 50.0)


def receiver_snr_db(error_var: torch.Tensor, clip: bool = True) -> torch.Tensor:
    """``[B]``: the SNR each example's receiver sees, in dB, from its front end alone.

    ``10·log10(mean((1 − e) / e))`` over the example's symbols ``e = error_var [B, N]``: ``(1 − e) / e``
    is ``|h|² / s`` per symbol (``1 / no`` on AWGN with perfect CSI, exactly the set SNR), so the mean
    estimates the average SNR the receiver would feed back. Decoders that condition on the noise
    level use this, never the true SNR. ``clip``: clip to :data:`RECEIVER_SNR_RANGE_DB` and return
    float32 (a network's input stays bounded); otherwise float64, 120 dB for a noiseless symbol.
    """
    e = error_var.to(torch.float64).clamp(_ERROR_VAR_FLOOR, 1.0)
    snr_db = 10.0 * torch.log10(((1.0 - e) / e).mean(-1).clamp_min(1e-30))
    if not clip:
        return snr_db
    low, high = RECEIVER_SNR_RANGE_DB
    return snr_db.clamp(low, high).to(torch.float32)


class AnalogOutput(NamedTuple):
    """What the receiver has, in the on-air (unit-energy) scale (see the module docstring).

    ``estimate``: ``[B, N] complex64`` per-symbol LMMSE estimate of the on-air symbol;
    ``error_var``: ``[B, N] float32`` its error variance, in [0, 1].
    """

    estimate: torch.Tensor
    error_var: torch.Tensor


class AnalogLink(Block):
    """Differentiable symbol link; a ``torch.nn.Module``. See the module docstring.

    :param cfg: :class:`~semlink.phy.config.AnalogLinkConfig`.
    :param device: torch device; default ``sionna.phy.config.device``. Inputs on another device
        are moved here and the outputs moved back.
    :param max_slots_per_chunk: large batches run in chunks of at most this many OFDM slots (or
        examples in flat mode) to bound memory; results do not depend on it except through the
        order of random draws.
    :param pack_examples: on an OFDM grid, put up to ``floor(slot / N)`` examples of one SNR into
        one slot when an example needs at most half a slot (as a transmitter sending several images
        back to back would); they then share that slot's channel realisation. A batch of mixed SNRs
        is grouped by SNR first (consecutive examples of each SNR share slots; each example comes
        back in its own place). Otherwise (longer examples, or no two of one SNR, as when SNRs are
        drawn from a range) each example has a slot of its own (zero padding), at one
        of those ``floor(slot / N)`` places drawn at random, so both modes see the same channel
        statistics and only the sharing differs.
    :param channel_bank: for training: ``None`` (default) draws a fresh channel realisation for
        every slot; an integer ``M`` draws every slot from a bank of ``M`` realisations made once per
        seed (:mod:`semlink.phy.channels`): training then sees ``M`` independent realisations. Keep
        it ``None`` on links that evaluate. OFDM fading channels only (ignored in flat mode).

    :input symbols: ``[B, N] complex64``.
    :input snr_db: float or ``[B]`` tensor, Es/N0 per symbol.
    :output: :class:`AnalogOutput`.
    """

    # Sionna's Block.__call__ casts and moves every input to the block's device first; the links
    # validate inputs themselves and return outputs on the caller's device, so they skip it.
    __call__ = torch.nn.Module.__call__

    def __init__(
        self,
        cfg: AnalogLinkConfig | None = None,
        device: str | None = None,
        max_slots_per_chunk: int = 4096,
        pack_examples: bool = True,
        channel_bank: int | None = None,
    ) -> None:
        super().__init__(device=device)
        cfg = AnalogLinkConfig() if cfg is None else AnalogLinkConfig.from_dict(cfg)
        if (
            isinstance(max_slots_per_chunk, bool)
            or not isinstance(max_slots_per_chunk, int)
            or max_slots_per_chunk < 1
        ):
            raise SemlinkError(f"max_slots_per_chunk must be an integer >= 1, got {max_slots_per_chunk!r}")
        self.cfg = cfg
        # The biased (per-symbol MMSE) equaliser is the front end of the module docstring.
        self._core = make_symbol_link(
            cfg.channel, cfg.ofdm, cfg.csi, cfg.interpolation, FRONT_END_EQUALIZER, device=self.device,
            channel_bank=channel_bank,
        )
        self._max_slots = max_slots_per_chunk
        self.pack_examples = bool(pack_examples)

    @property
    def resource_grid(self):  # noqa: ANN201 - sionna ResourceGrid or None
        """The Sionna ``ResourceGrid`` of one slot, or None in flat mode."""
        return self._core.resource_grid

    def channel_uses_with_padding(self, num_symbols: int) -> int:
        """Data REs spent per example of ``num_symbols`` symbols: padding to whole slots included, or
        the example's share of a slot when examples are packed (see ``pack_examples``)."""
        if isinstance(num_symbols, bool) or not isinstance(num_symbols, int) or num_symbols < 1:
            raise SemlinkError(f"num_symbols must be an integer >= 1, got {num_symbols!r}")
        slot = self._core.symbols_per_slot
        if slot is None:
            return num_symbols
        if self.pack_examples and num_symbols <= slot // 2:
            return -(-slot // (slot // num_symbols))
        return slots_needed(num_symbols, slot) * slot

    def channel_gains(self, batch_size: int, num_symbols: int) -> torch.Tensor:
        """``[batch_size, num_symbols] float32`` ``|h|²`` of fresh channel realisations at the REs that
        examples of ``num_symbols`` symbols occupy when sent one per slot (for capacity bounds)."""
        if isinstance(num_symbols, bool) or not isinstance(num_symbols, int) or num_symbols < 1:
            raise SemlinkError(f"num_symbols must be an integer >= 1, got {num_symbols!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise SemlinkError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        return self._core.channel_gains(batch_size, num_symbols)

    def forward(self, symbols: torch.Tensor, snr_db: float | torch.Tensor) -> AnalogOutput:
        """``symbols [B, N] complex64``, ``snr_db`` float or ``[B]`` -> :class:`AnalogOutput`.

        ``snr_db = inf`` means no channel: the receiver gets the on-air symbols exactly, with zero variance.
        """
        x, home = self._check_symbols(symbols)
        batch, num = x.shape
        xn = x * unit_energy_scale(x)  # on air; the receiver never learns the scale
        if is_noiseless(snr_db):
            return AnalogOutput(xn.to(home), torch.zeros(xn.shape, dtype=xn.real.dtype, device=home))
        no = noise_var_per_example(snr_db, batch, self.device)
        per_slot = self._examples_per_slot(num, no)
        rows, row_no, placed = xn, no, None
        if per_slot > 1:
            # Examples of one SNR back to back, ``per_slot`` to a row (one slot, tail zero-padded).
            packing = _pack_by_noise(no, per_slot)
            if packing is not None:
                placed, row_no = packing
                padded = torch.cat([xn, xn.new_zeros(1, num)])  # index ``batch``: an empty place
                rows = padded[placed].reshape(len(row_no), per_slot * num)
            # else no two examples share an SNR (e.g. SNRs drawn from a range): a slot each, at a random place
        slot = self._core.symbols_per_slot
        per_row = 1 if slot is None else slots_needed(rows.shape[1], slot)
        chunk = max(1, self._max_slots // per_row)
        outs_x, outs_n = [], []
        for start in range(0, rows.shape[0], chunk):
            xs, ns = self._core.send_rows(rows[start : start + chunk], row_no[start : start + chunk])
            outs_x.append(xs)
            outs_n.append(ns)
        estimate = outs_x[0] if len(outs_x) == 1 else torch.cat(outs_x)
        error_var = outs_n[0] if len(outs_n) == 1 else torch.cat(outs_n)
        if placed is not None:
            home_of = torch.empty(batch, dtype=torch.long, device=placed.device)
            filled = placed < batch
            home_of[placed[filled]] = torch.nonzero(filled).squeeze(1)
            estimate, error_var = estimate.reshape(-1, num)[home_of], error_var.reshape(-1, num)[home_of]
        return AnalogOutput(estimate.to(home), error_var.to(home))

    def call(self, symbols: torch.Tensor, snr_db: float | torch.Tensor) -> AnalogOutput:
        return self.forward(symbols, snr_db)

    def _examples_per_slot(self, num: int, no: torch.Tensor) -> int:
        slot = self._core.symbols_per_slot
        if not self.pack_examples or slot is None or num > slot // 2 or no.numel() < 2:
            return 1
        return slot // num

    def _check_symbols(self, symbols: torch.Tensor) -> tuple[torch.Tensor, torch.device]:
        if not isinstance(symbols, torch.Tensor):
            raise SemlinkError(
                f"symbols must be a complex torch.Tensor [batch, num_symbols], got {type(symbols).__name__}"
            )
        if not symbols.is_complex():
            raise SemlinkError(
                f"symbols must be complex (complex64) [batch, num_symbols], got dtype {symbols.dtype}; "
                "use semlink.phy.real_to_complex for real-valued encoder outputs"
            )
        if symbols.dim() != 2 or symbols.shape[0] < 1 or symbols.shape[1] < 1:
            raise SemlinkError(
                f"symbols must have shape [batch >= 1, num_symbols >= 1], got {list(symbols.shape)}"
            )
        if not bool(torch.isfinite(symbols.detach()).all()):
            raise SemlinkError("symbols must be finite (found NaN or inf)")
        return symbols.to(device=self.device, dtype=self.cdtype), symbols.device
