"""Real <-> complex packing of channel symbols (used by learned encoders and the raw baseline).

Layout: **interleaved** pairs. Real value ``2i`` is the real part and ``2i+1`` the imaginary part of
complex symbol ``i``: ``[a0, b0, a1, b1, ...] <-> [a0 + j b0, a1 + j b1, ...]``. Both directions are
differentiable views (``torch.view_as_complex`` / ``torch.view_as_real``) when the input is a
contiguous float32 / complex64 tensor, copies otherwise.
"""

from __future__ import annotations

import torch

from semlink.errors import SemlinkError

__all__ = ["real_to_complex", "complex_to_real"]


def real_to_complex(x: torch.Tensor) -> torch.Tensor:
    """``[..., 2N]`` real -> ``[..., N] complex64`` (interleaved real/imaginary pairs)."""
    if (
        not isinstance(x, torch.Tensor)
        or x.is_complex()
        or not (x.is_floating_point() or x.dtype == torch.bool)
    ):
        raise SemlinkError(
            f"real_to_complex needs a real floating-point tensor [..., 2N], got {getattr(x, 'dtype', type(x))}"
        )
    if x.dim() < 1 or x.shape[-1] == 0 or x.shape[-1] % 2:
        raise SemlinkError(
            f"real_to_complex needs a last dimension that is even and > 0, got shape {list(x.shape)}"
        )
    pairs = x.to(torch.float32).reshape(*x.shape[:-1], x.shape[-1] // 2, 2).contiguous()
    return torch.view_as_complex(pairs)


def complex_to_real(z: torch.Tensor) -> torch.Tensor:
    """``[..., N]`` complex -> ``[..., 2N] float32`` (interleaved real/imaginary pairs)."""
    if not isinstance(z, torch.Tensor) or not z.is_complex():
        raise SemlinkError(
            f"complex_to_real needs a complex tensor [..., N], got {getattr(z, 'dtype', type(z))}"
        )
    if z.dim() < 1 or z.shape[-1] == 0:
        raise SemlinkError(f"complex_to_real needs a last dimension > 0, got shape {list(z.shape)}")
    return torch.view_as_real(z.to(torch.complex64).resolve_conj()).reshape(*z.shape[:-1], 2 * z.shape[-1])
