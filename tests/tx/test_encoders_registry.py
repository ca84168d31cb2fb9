"""Encoder spec strings and create_encoder's refusals."""

from __future__ import annotations

import pytest

from semlink.errors import SemlinkError
from semlink.tx import create_encoder, parse_encoder_spec


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("efficientnet-lite0", ("efficientnet-lite0", None, None, None)),
        ("efficientnet-lite0@imagenet+64px", ("efficientnet-lite0", None, "imagenet", 64)),
        ("clip:ViT-B-32@openai", ("clip", "ViT-B-32", "openai", None)),
        ("CLIP:ViT-B-32@/ckpt/a@b.pt+224px", ("clip", "ViT-B-32", "/ckpt/a@b.pt", 224)),
        ("clip", ("clip", None, None, None)),
    ],
)
def test_parse_encoder_spec(spec, expected):
    assert parse_encoder_spec(spec) == expected


@pytest.mark.parametrize("spec", ["", "   ", "clip:@openai", "clip:ViT-B-32@"])
def test_bad_specs_are_refused(spec):
    with pytest.raises(SemlinkError):
        parse_encoder_spec(spec)


def test_unknown_family_names_accepted_ones():
    with pytest.raises(SemlinkError, match="efficientnet-lite0"):
        create_encoder("resnet-9000")


def test_size_conflict_and_bad_size():
    with pytest.raises(SemlinkError, match="64px"):
        create_encoder("efficientnet-lite0+64px", image_size=32)
    for bad in (3, "big", 64.5, True):
        with pytest.raises(SemlinkError, match="image_size"):
            create_encoder("efficientnet-lite0", image_size=bad)
    with pytest.raises(SemlinkError, match="batch_size"):
        create_encoder("efficientnet-lite0", batch_size=0)
    with pytest.raises(SemlinkError, match="device"):
        create_encoder("efficientnet-lite0", device="gpu-please")


def test_registry_docstring_examples_run():
    import doctest

    import semlink.tx.encoders.registry

    result = doctest.testmod(semlink.tx.encoders.registry)
    assert result.failed == 0 and result.attempted > 0
