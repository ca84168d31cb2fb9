"""The one SNR convention of :mod:`semlink.phy`, and conversions to noise variance and from Eb/N0.

``snr_db`` is **Es/N0 per complex channel symbol** (per data resource element on an OFDM grid):
transmitted data symbols have unit average energy and the complex noise added to every resource
element has variance ``no = 10**(-snr_db/10)`` (``no/2`` per real dimension). Pilots have unit
energy too.

``ebno_db`` is Eb/N0 per *information* bit. It converts with Sionna's ``ebnodb2no`` convention::

    snr_db = ebno_db + 10 log10(bits_per_symbol * code_rate * grid_efficiency)

where ``grid_efficiency = num_data_symbols / (num_ofdm_symbols * num_effective_subcarriers
* (1 + cyclic_prefix_length / fft_size))`` charges the energy spent on pilots and on the cyclic
prefix to the information bits (1 without an OFDM grid). Guard and DC carriers carry no energy and
are not charged.

``snr_db = +inf`` (a Python float) means **no channel**: the links deliver what was sent, exactly
(:func:`is_noiseless`); a tensor of SNRs must be finite.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from semlink.errors import SemlinkError

if TYPE_CHECKING:  # pragma: no cover
    from sionna.phy.ofdm import ResourceGrid

__all__ = ["snr_db_to_noise_var", "ebno_db_to_snr_db", "grid_efficiency", "is_noiseless", "noise_var_per_example"]


def snr_db_to_noise_var(snr_db: float | torch.Tensor) -> float | torch.Tensor:
    """Noise variance ``no = 10**(-snr_db/10)`` for unit-energy symbols (float in, float out)."""
    if isinstance(snr_db, torch.Tensor):
        _check_finite_tensor(snr_db)
        return torch.pow(10.0, -snr_db.to(torch.float32) / 10.0)
    snr_db = _finite_float(snr_db, "snr_db")
    return 10.0 ** (-snr_db / 10.0)


def grid_efficiency(resource_grid: ResourceGrid | None) -> float:
    """Data REs / energy-carrying REs incl. the cyclic prefix (Sionna ``ebnodb2no``); 1 without a grid."""
    if resource_grid is None:
        return 1.0
    cp_overhead = resource_grid.cyclic_prefix_length / resource_grid.fft_size
    num_syms = resource_grid.num_ofdm_symbols * (1.0 + cp_overhead) * resource_grid.num_effective_subcarriers
    return resource_grid.num_data_symbols / num_syms


def ebno_db_to_snr_db(
    ebno_db: float,
    bits_per_symbol: int,
    code_rate: float,
    resource_grid: ResourceGrid | None = None,
) -> float:
    """Es/N0 per data RE [dB] for a given Eb/N0 per information bit [dB] (see module docstring).

    Agrees with ``sionna.phy.utils.ebnodb2no``: ``snr_db_to_noise_var(result) == ebnodb2no(...)``.
    """
    ebno_db = _finite_float(ebno_db, "ebno_db")
    if isinstance(bits_per_symbol, bool) or not isinstance(bits_per_symbol, int) or bits_per_symbol <= 0:
        raise SemlinkError(f"bits_per_symbol must be a positive integer, got {bits_per_symbol!r}")
    code_rate = _finite_float(code_rate, "code_rate")
    if not 0.0 < code_rate <= 1.0:
        raise SemlinkError(f"code_rate must lie in (0, 1], got {code_rate!r}")
    return ebno_db + 10.0 * math.log10(bits_per_symbol * code_rate * grid_efficiency(resource_grid))


def is_noiseless(snr_db: object) -> bool:
    """True for ``snr_db = +inf`` as a Python number: no channel at all (the links' noiseless case)."""
    return not isinstance(snr_db, (bool, torch.Tensor)) and isinstance(snr_db, (int, float)) \
        and math.isinf(snr_db) and snr_db > 0


def noise_var_per_example(
    snr_db: float | torch.Tensor, batch_size: int, device: torch.device | str
) -> torch.Tensor:
    """Validated noise variances ``[batch_size] float32`` from a scalar or ``[batch_size]`` SNR in dB."""
    if isinstance(snr_db, torch.Tensor):
        if (
            snr_db.is_complex()
            or snr_db.dim() > 1
            or (snr_db.dim() == 1 and snr_db.numel() not in (1, batch_size))
        ):
            raise SemlinkError(
                f"snr_db must be a float or a real tensor of shape [] or [{batch_size}], "
                f"got {snr_db.dtype} of shape {list(snr_db.shape)}"
            )
        _check_finite_tensor(snr_db)
        snr = snr_db.detach().to(device=device, dtype=torch.float32).reshape(-1)
        if snr.numel() == 1:
            snr = snr.expand(batch_size)
    else:
        snr = torch.full((batch_size,), _finite_float(snr_db, "snr_db"), dtype=torch.float32, device=device)
    return torch.pow(10.0, -snr / 10.0)


def _finite_float(value: object, name: str) -> float:
    if isinstance(value, bool):
        raise SemlinkError(f"{name} must be a finite real number, got {value!r}")
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SemlinkError(f"{name} must be a finite real number, got {value!r}") from None
    if not math.isfinite(out):
        raise SemlinkError(f"{name} must be a finite real number, got {value!r}")
    return out


def _check_finite_tensor(x: torch.Tensor) -> None:
    if not bool(torch.isfinite(x).all()):
        raise SemlinkError(f"snr_db must be finite, got {x.detach().cpu().tolist()!r}")
