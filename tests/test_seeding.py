import numpy as np
import torch

from semlink.seeding import point_seed, seed_everything


def test_seed_everything_drives_numpy_torch_and_sionna():
    from sionna.phy import config

    seed_everything(5)
    a = (np.random.rand(3), torch.rand(3), torch.rand(3, generator=config.torch_rng()))
    seed_everything(5)
    b = (np.random.rand(3), torch.rand(3), torch.rand(3, generator=config.torch_rng()))
    seed_everything(6)
    c = (np.random.rand(3), torch.rand(3), torch.rand(3, generator=config.torch_rng()))
    assert np.array_equal(a[0], b[0]) and torch.equal(a[1], b[1]) and torch.equal(a[2], b[2])
    assert not np.array_equal(a[0], c[0]) and not torch.equal(a[1], c[1]) and not torch.equal(a[2], c[2])


def test_point_seed_is_stable_and_in_range():
    assert point_seed(1, 2) == point_seed(1, 2)
    assert point_seed(1, 2) != point_seed(1, 3) != point_seed(2, 2)
    assert 0 <= point_seed(123456789, 0) < 2**63
