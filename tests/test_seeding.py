import numpy as np
import torch

from semlink.seeding import channel_seed, identity_key, point_seed, seed_channel, seed_everything


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


def test_seed_channel_touches_only_sionna():
    from sionna.phy import config

    seed_everything(5)
    seed_channel(9)
    a = (torch.rand(3), torch.rand(3, generator=config.torch_rng()))
    seed_everything(5)
    b = (torch.rand(3), torch.rand(3, generator=config.torch_rng()))
    assert torch.equal(a[0], b[0]) and not torch.equal(a[1], b[1])


def test_point_seed_depends_on_identity_not_position():
    grid = [{"system": s, "snr_db": x} for s in ("a", "b") for x in (0.0, 4.0)]
    seeds = {identity_key(p): point_seed(1, p) for p in grid}
    larger = grid + [{"system": "c", "snr_db": 0.0}, {"system": "a", "snr_db": 8.0}]
    assert all(point_seed(1, p) == seeds[identity_key(p)] for p in grid if p in larger)
    assert len(set(seeds.values())) == 4
    assert point_seed(1, grid[0]) != point_seed(2, grid[0])
    assert 0 <= point_seed(123456789, "x=1") < 2**63


def test_channel_seed_is_shared_across_systems_and_differs_across_snrs():
    assert channel_seed(3, "tdl-a", 4.0) == channel_seed(3, "tdl-a", 4)
    assert channel_seed(3, "tdl-a", 4.0) != channel_seed(3, "tdl-a", 5.0) != channel_seed(3, "awgn", 5.0)
