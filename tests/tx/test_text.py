"""Text frames: bits round trip, budget truncation at character boundaries, robustness to bit errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semlink.errors import SemlinkError
from semlink.phy import ChannelConfig, DigitalLink, DigitalLinkConfig
from semlink.tx.text import (
    HEADER_BITS,
    TextCodec,
    bits_to_bytes,
    bits_to_uint,
    bytes_to_bits,
    fit_utf8,
    uint_to_bits,
)

TEXTS = [
    "a photo of a tabby cat, a tiger cat or an Egyptian cat",
    "Relay a brief, clear account of the picture shown.",
    "naïve café – 東京 🚀",
    "",
]


def test_uint_and_byte_bits_are_msb_first():
    assert uint_to_bits([5], 4).tolist() == [0, 1, 0, 1]
    assert bits_to_uint(uint_to_bits([0, 1, 65535, 300], 16), 16).tolist() == [0, 1, 65535, 300]
    assert bytes_to_bits(b"\x80\x01").tolist() == [1, 0, 0, 0, 0, 0, 0, 0] + [0] * 7 + [1]
    assert bits_to_bytes(bytes_to_bits(b"semlink")) == b"semlink"
    with pytest.raises(SemlinkError, match="do not fit"):
        uint_to_bits([16], 4)


@pytest.mark.parametrize("text", TEXTS)
def test_round_trip_and_bit_count(text):
    codec = TextCodec()
    bits = codec.encode(text)
    assert bits.dtype == torch.float32 and bits.ndim == 1
    assert set(bits.unique().tolist()) <= {0.0, 1.0}
    assert bits.numel() == HEADER_BITS + 8 * len(text.encode("utf-8")) == codec.num_bits(text)
    assert codec.decode(bits) == text
    # trailing padding (e.g. from a batch) is ignored
    assert codec.decode(torch.cat([bits, torch.ones(13)])) == text


def test_budget_truncates_at_character_boundaries():
    codec = TextCodec(whole_words=False)
    text = "naïve café – 東京 🚀"
    for budget in range(HEADER_BITS, codec.num_bits(text) + 16):
        bits = codec.encode(text, budget_bits=budget)
        assert bits.numel() <= budget
        got = codec.decode(bits)
        assert text.startswith(got)  # a prefix of whole characters, never a broken one
        assert got == codec.fit(text, budget)
        # the longest such prefix: one more character would not fit
        if got != text:
            assert len(text[: len(got) + 1].encode()) > (budget - HEADER_BITS) // 8
    assert fit_utf8("東京", 4) == "東".encode()
    with pytest.raises(SemlinkError, match="budget"):
        codec.encode("x", budget_bits=HEADER_BITS - 1)


def test_budget_truncates_at_whole_words_by_default():
    codec = TextCodec()
    text = "a photo of a tabby cat, a tiger cat or an Egyptian cat"
    for budget in range(HEADER_BITS + 8, codec.num_bits(text) + 16, 8):
        got = codec.fit(text, budget)
        assert text.startswith(got) and codec.num_bits(text, budget) <= budget
        assert got == text or text[len(got)] in " ,", (budget, got)  # never half a word
    assert codec.fit("supercalifragilistic", HEADER_BITS + 8 * 5) == "super"  # one long word: characters


def test_bit_errors_never_raise_and_headers_are_clamped():
    codec = TextCodec()
    rng = np.random.default_rng(0)
    bits = codec.encode("a photo of a tabby cat").numpy()
    for _ in range(200):
        flipped = bits.copy()
        errors = rng.random(bits.size) < 0.1
        flipped[errors] = 1 - flipped[errors]
        out = codec.decode(flipped)
        assert isinstance(out, str) and len(out) <= 22  # at most one character per received byte
    huge = bits.copy()
    huge[:HEADER_BITS] = 1  # header claims 65535 bytes: clamped to the 22 present
    assert codec.decode(huge) == "a photo of a tabby cat"
    assert codec.decode(np.ones(3)) == ""  # shorter than a header
    e_acute = codec.encode("\u00e9")  # two bytes: C3 A9
    assert codec.decode(e_acute[:-4]) == "\ufffd"  # the half character left becomes U+FFFD
    assert codec.decode(e_acute[:-12]) == ""  # both announced bytes cut off


def test_batch_frames_have_their_own_lengths():
    codec = TextCodec()
    packed = codec.encode_batch(TEXTS, budget_bits=200)
    assert packed.bits.shape == (len(TEXTS), int(packed.num_bits.max()))
    assert packed.num_bits.tolist() == [codec.num_bits(t, 200) for t in TEXTS]
    assert codec.decode_batch(packed.bits) == [codec.fit(t, 200) for t in TEXTS]


def test_text_survives_digital_link_at_high_snr():
    """Uncoded 16-QAM on AWGN at 30 dB Es/N0: half the minimum distance is 14 noise standard deviations
    (symbol error probability < 1e-40), so every frame arrives intact."""
    codec = TextCodec()
    link = DigitalLink(
        DigitalLinkConfig(
            modulation="16qam", code_k=None, code_n=None, channel=ChannelConfig("awgn"), ofdm=None
        )
    )
    packed = codec.encode_batch(TEXTS[:3])
    received = link.transmit(packed.bits, snr_db=30.0).bits_hat
    assert codec.decode_batch(received) == TEXTS[:3]


def test_frame_lengths_keep_a_corrupted_header_out_of_the_padding():
    codec = TextCodec()
    packed = codec.encode_batch(["a cat", "a photo of a tabby cat"])
    bits = packed.bits.clone()
    bits[0, 0] = 1  # header of the short frame now announces 32773 bytes
    assert codec.decode_batch(bits, packed.num_bits)[0] == "a cat"
    assert codec.decode_batch(bits)[0].startswith("a cat\x00")  # without lengths it reads the padding
