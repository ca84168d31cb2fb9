"""Name → factory registries: the docstring examples, and the option check every stage shares."""

from __future__ import annotations

import doctest

import pytest

import semlink.registry
from semlink.errors import SemlinkError
from semlink.registry import Registry


def test_check_options_names_extra_and_accepted_options() -> None:
    reg: Registry[str] = Registry("captioner")
    reg.check_options("blip", {"prompt": "a"}, {"prompt", "device"})  # all accepted: no error
    with pytest.raises(SemlinkError, match=r"captioner 'blip' takes no option\(s\) \['x', 'y'\]; accepted: "
                       r"\['device', 'prompt'\]"):
        reg.check_options("blip", {"y": 1, "prompt": "a", "x": 2}, {"prompt", "device"})


def test_docstring_examples_run() -> None:
    result = doctest.testmod(semlink.registry)
    assert result.failed == 0 and result.attempted > 0
