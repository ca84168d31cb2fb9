"""Safe weights loading: a pickle is refused and never executed."""

from __future__ import annotations

import pytest

from semlink.errors import CorruptFileError
from semlink.tx import create_encoder
from semlink.tx.encoders import load_state_dict_safely


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_unsafe_torch_checkpoint_is_refused_and_not_executed(evil_pickle):
    path, marker = evil_pickle("conv.weight")
    with pytest.raises(CorruptFileError, match="weights_only"):
        load_state_dict_safely(path)
    with pytest.raises(CorruptFileError):
        create_encoder(f"efficientnet-lite0@{path}")
    assert not marker.exists()
