"""``jpeg``, ``webp``, ``avif``, ``jpeg2000`` through Pillow: round trips and what the payload counts."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from semlink.errors import SemlinkError
from semlink.tx.codecs import available_codecs, create_codec
from semlink.tx.codecs.bitstream import read_ue7

PILLOW_CODECS = ("jpeg", "webp", "avif", "jpeg2000")
# Four qualities spread over each scale (worst -> best).
QUALITIES = {"jpeg": (10, 35, 65, 95), "webp": (5, 35, 65, 95), "avif": (10, 35, 65, 95),
             "jpeg2000": (20, 28, 36, 44)}


@pytest.fixture(scope="module", params=PILLOW_CODECS)
def codec(request):
    return create_codec(request.param)


def test_registry_lists_every_codec_and_refuses_unknown_names():
    assert available_codecs() == ["avif", "bpg", "jpeg", "jpeg2000", "webp"]
    with pytest.raises(SemlinkError, match="unknown codec 'heic'; accepted: avif, bpg, jpeg, jpeg2000, webp"):
        create_codec("heic")


def test_round_trip_psnr_rises_with_quality(codec, gray28, rgb32, psnr):
    for images in (gray28, rgb32):
        results = []
        for quality in QUALITIES[codec.name]:
            encoded = codec.encode(images, quality)
            decoded = codec.decode([e.payload for e in encoded], expected_shape=images.shape[1:])
            assert all(d is not None and d.shape == images.shape[1:] and d.dtype == np.uint8 for d in decoded)
            results.append((psnr(images, np.stack(decoded)), sum(len(e.payload) for e in encoded)))
        qualities, sizes = zip(*results)
        assert all(a < b for a, b in zip(qualities, qualities[1:])), (codec.name, results)
        assert all(a < b for a, b in zip(sizes, sizes[1:])), (codec.name, results)
        assert qualities[-1] > 30


def test_grayscale_stays_grayscale_without_a_shape_hint_except_webp(codec, gray28):
    decoded = codec.decode([e.payload for e in codec.encode(gray28[:2], QUALITIES[codec.name][2])])
    expected = (28, 28, 3) if codec.name == "webp" else (28, 28)  # WebP has no grayscale mode
    assert all(d.shape == expected for d in decoded)


def test_payload_is_self_delimiting_and_isolated_decoding_matches_in_process(codec, rgb32):
    encoded = codec.encode(rgb32[:4], QUALITIES[codec.name][1])
    in_process = create_codec(codec.name, isolated=False)
    plain = codec.decode([e.payload for e in encoded])
    padded = codec.decode([e.payload + bytes(64) for e in encoded])
    local = in_process.decode([e.payload for e in encoded])
    for a, b, c in zip(plain, padded, local):
        assert np.array_equal(a, b) and np.array_equal(a, c)


def test_jpeg_payload_is_the_file_without_metadata_segments(rgb32):
    codec = create_codec("jpeg")
    (encoded,) = codec.encode(rgb32[:1], 50)
    buf = io.BytesIO()
    Image.fromarray(rgb32[0]).save(buf, "JPEG", quality=50, optimize=True, subsampling="4:2:0")
    file = buf.getvalue()
    assert file[2:4] == b"\xff\xe0" and len(file) == len(encoded.payload) + 18  # the JFIF APP0 segment
    assert encoded.payload[:2] == b"\xff\xd8" and b"\xff\xe0" not in encoded.payload[:4]
    assert encoded.payload[-2:] == b"\xff\xd9" and encoded.side_info_bytes == 0
    sos = encoded.payload.index(b"\xff\xda")
    sos_length = int.from_bytes(encoded.payload[sos + 2 : sos + 4], "big")
    assert encoded.header_bytes == sos + 2 + sos_length + 2


def test_webp_payload_is_the_vp8_bitstream_with_a_size_prefix(gray28):
    codec = create_codec("webp")
    for encoded in codec.encode(gray28[:3], 50):
        size, pos = read_ue7(encoded.payload, 0)
        assert pos + size == len(encoded.payload)
        assert encoded.payload[pos + 3 : pos + 6] == b"\x9d\x01\x2a"  # VP8 key-frame start code
        assert encoded.header_bytes == pos + 10
        assert encoded.side_info_bytes == 20 + (size & 1)  # RIFF + chunk header (+ pad byte)


def test_avif_payload_is_the_av1_bitstream_and_the_container_is_side_information(gray28, rgb32):
    codec = create_codec("avif")
    for images in (gray28[:2], rgb32[:2]):
        for encoded in codec.encode(images, 50):
            assert encoded.payload[0] == 0x0A  # sequence header OBU with a size field
            seq_size = encoded.payload[1]
            assert encoded.payload[2 + seq_size] >> 3 & 0xF == 6  # then one frame OBU
            assert 200 < encoded.side_info_bytes < 320  # ISOBMFF boxes + temporal delimiter
            assert encoded.header_bytes < 20


def test_jpeg2000_payload_is_the_codestream(gray28):
    codec = create_codec("jpeg2000")
    for encoded in codec.encode(gray28[:3], 30):
        assert encoded.payload[:4] == b"\xff\x4f\xff\x51" and encoded.payload[-2:] == b"\xff\xd9"
        sod = encoded.payload.index(b"\xff\x93")
        assert encoded.header_bytes == sod + 2 + 2 and encoded.side_info_bytes == 0


def test_a_512x512_photo_round_trips(codec, psnr):
    from skimage import data

    photo = data.astronaut()
    quality = QUALITIES[codec.name][2]
    (encoded,) = codec.encode(photo[None], quality)
    (decoded,) = codec.decode([encoded.payload], expected_shape=photo.shape)
    assert decoded.shape == photo.shape and psnr(photo, decoded) > 28


def test_bad_options_and_qualities_name_what_is_accepted():
    with pytest.raises(SemlinkError, match=r"jpeg.*quality 0 is not on its scale; accepted: integers 1\.\.100"):
        create_codec("jpeg").encode(np.zeros((1, 8, 8), np.uint8), 0)
    with pytest.raises(SemlinkError, match=r"quality 100 is not on its scale; accepted: integers 0\.\.99"):
        create_codec("avif").encode(np.zeros((1, 8, 8), np.uint8), 100)
    with pytest.raises(SemlinkError, match=r"accepted: integers 16\.\.60 \(target PSNR in dB\)"):
        create_codec("jpeg2000").encode(np.zeros((1, 8, 8), np.uint8), 70)
    with pytest.raises(SemlinkError, match="unknown subsampling '4:2:2'; accepted: 4:2:0, 4:4:4"):
        create_codec("jpeg", subsampling="4:2:2")
    with pytest.raises(SemlinkError, match="method must be an integer in 0..6"):
        create_codec("webp", method=9)
    with pytest.raises(SemlinkError, match="unknown option 'quality' for codec 'avif'; accepted: isolated, speed"):
        create_codec("avif", quality=50)
    with pytest.raises(SemlinkError, match="expected_shape must be"):
        create_codec("jpeg").decode([b""], expected_shape=(28, 28, 4))
