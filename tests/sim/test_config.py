"""The TOML ``[link]`` table: CSI modes and the analog equaliser reach the PHY configs; bad values are refused."""

from __future__ import annotations

import pytest

from semlink.config import validate
from semlink.errors import SemlinkError
from semlink.phy.spec import LinkSpec


def test_link_spec_passes_csi_and_equalizer_to_the_links() -> None:
    spec = validate(LinkSpec, {"csi": "lmmse", "analog_equalizer": "lmmse-biased", "channel": {"name": "tdl-a"},
                               "ofdm": {}})
    analog, digital = spec.analog(), spec.digital()
    assert (analog.csi, analog.equalizer) == ("lmmse", "lmmse-biased")
    assert digital.csi == "lmmse"  # the digital link has no equaliser choice: always unbiased LMMSE
    assert validate(LinkSpec, {}).analog().equalizer == "lmmse"


@pytest.mark.parametrize(
    ("tree", "fragments"),
    [
        ({"csi": "mmse"}, ["csi", "'perfect', 'ls' or 'lmmse'", "'mmse'"]),
        ({"analog_equalizer": "zf"}, ["analog_equalizer", "'lmmse' or 'lmmse-biased'", "'zf'"]),
    ],
)
def test_bad_link_values_name_what_is_accepted(tree: dict, fragments: list[str]) -> None:
    with pytest.raises(SemlinkError) as info:
        validate(LinkSpec, tree)
    for fragment in fragments:
        assert fragment in str(info.value)
