import pytest
import torch

from semlink.errors import SemlinkError
from semlink.tx.quantize import SIGN_LEVEL, UniformQuantizer


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_round_trip_error_is_bounded_by_half_a_step(bits):
    q = UniformQuantizer(bits_per_value=bits, clip=2.5)
    x = torch.linspace(-2.5, 2.5, 101).reshape(1, -1)
    bits_tensor = q.quantize(x)
    assert bits_tensor.shape == (1, 101 * bits)
    assert set(bits_tensor.unique().tolist()) <= {0.0, 1.0}
    y = q.dequantize(bits_tensor)
    if bits == 1:
        assert torch.equal(y.abs(), torch.full_like(y, SIGN_LEVEL)) and torch.equal(y.sign(), x.sign() + (x == 0))
    else:
        step = 5.0 / (2**bits - 1)
        assert (y - x).abs().max() <= step / 2 + 1e-6


def test_bad_bit_depth_is_refused():
    with pytest.raises(SemlinkError, match="bits_per_value"):
        UniformQuantizer(bits_per_value=0)
