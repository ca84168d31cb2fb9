"""The one device resolver: names, torch.device input, and devices this machine lacks."""

from __future__ import annotations

import doctest

import pytest
import torch

import semlink.devices
from semlink.devices import resolve_device
from semlink.errors import MissingResourceError, SemlinkError


def test_cpu_and_auto() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    expected = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("auto") == resolve_device(None) == resolve_device() == expected


@pytest.mark.parametrize("bad", ["tpu", "gpu-please", "cuda:x", "meta", "", 3])
def test_unknown_names_are_refused_with_the_accepted_ones(bad) -> None:
    with pytest.raises(SemlinkError, match=r"unknown device .*; accepted: auto, cpu, cuda, cuda:N, mps"):
        resolve_device(bad)


def test_missing_gpu_is_a_missing_resource() -> None:
    if torch.cuda.is_available():  # pragma: no cover - GPU machines: only an index past the count fails
        count = torch.cuda.device_count()
        assert resolve_device("cuda:0") == torch.device("cuda:0")
        with pytest.raises(MissingResourceError, match=rf"sees {count} CUDA GPU\(s\)"):
            resolve_device(f"cuda:{count}")
    else:
        for name in ("cuda", "cuda:0", torch.device("cuda", 1)):
            with pytest.raises(MissingResourceError, match="torch sees no CUDA GPU"):
                resolve_device(name)
    if not torch.backends.mps.is_available():
        with pytest.raises(MissingResourceError, match="MPS is not available"):
            resolve_device("mps")


def test_docstring_examples_run() -> None:
    result = doctest.testmod(semlink.devices)
    assert result.failed == 0 and result.attempted > 0
