"""The TOML ``[link]`` table: CSI modes reach the PHY configs, a channel's own grid and CSI override them;
bad values (and the removed analog equaliser) are refused."""

from __future__ import annotations

import pytest

from semlink.config import validate
from semlink.errors import SemlinkError
from semlink.phy.spec import LinkSpec


def test_link_spec_passes_csi_to_the_links_and_a_channel_overrides_grid_and_csi() -> None:
    from semlink.phy.spec import ChannelSpec

    spec = validate(LinkSpec, {"csi": "lmmse", "channel": {"name": "tdl-a"}, "ofdm": {}})
    analog, digital = spec.analog(), spec.digital()
    assert analog.csi == "lmmse" and digital.csi == "lmmse" and analog.ofdm is not None
    flat = ChannelSpec(name="awgn", grid="flat")
    on_flat = spec.on(flat)
    assert on_flat.ofdm is None and on_flat.csi == "perfect" and on_flat.analog().ofdm is None
    assert spec.describe(flat)["ofdm"] is False and spec.describe(flat)["csi"] == "perfect"
    assert spec.on(ChannelSpec(name="tdl-a", csi="ls")).csi == "ls" and flat.key == "awgn"
    assert ChannelSpec(name="awgn", label="awgn-ofdm").key == "awgn-ofdm"
    with pytest.raises(SemlinkError, match="analog_equalizer is gone"):
        validate(LinkSpec, {"analog_equalizer": "lmmse-biased"})


@pytest.mark.parametrize(
    ("tree", "fragments"),
    [
        ({"csi": "mmse"}, ["csi", "'perfect', 'ls' or 'lmmse'", "'mmse'"]),
        ({"channel": {"grid": "round"}}, ["channel.grid", "'link' or 'flat'", "'round'"]),
    ],
)
def test_bad_link_values_name_what_is_accepted(tree: dict, fragments: list[str]) -> None:
    with pytest.raises(SemlinkError) as info:
        validate(LinkSpec, tree)
    for fragment in fragments:
        assert fragment in str(info.value)
