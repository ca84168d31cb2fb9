"""Damaged payloads never raise and never hang: each decodes to None or an image of the right shape.

1200 corruptions of real payloads (bit flips, truncation, random bytes, damaged headers, zeroed
runs) across the five codecs, decoded in batches as a receiver would; plus crash and hang
containment of the child processes.
"""

from __future__ import annotations

import shutil
import stat
import sys

import numpy as np
import pytest

from semlink.tx.codecs import create_codec
from semlink.tx.codecs import pillow as pillow_codecs
from semlink.tx.codecs.isolate import run_isolated

KINDS = ("bit flips", "truncation", "random bytes", "header damage", "zeroed run", "bit flips + padding")


def corrupt(payload: bytes, kind: str, rng: np.random.Generator) -> bytes:
    data = bytearray(payload)
    if kind == "bit flips":
        for _ in range(int(rng.integers(1, 6))):
            i = int(rng.integers(len(data)))
            data[i] ^= 1 << int(rng.integers(8))
    elif kind == "truncation":
        data = data[: int(rng.integers(0, len(data)))]
    elif kind == "random bytes":
        data = bytearray(rng.integers(0, 256, int(rng.integers(0, 2 * len(data) + 2)), dtype=np.uint8).tobytes())
    elif kind == "header damage":  # the first bytes hold every codec's header / markers
        for _ in range(int(rng.integers(1, 3))):
            i = int(rng.integers(min(len(data), 12)))
            data[i] ^= 1 << int(rng.integers(8))
    elif kind == "zeroed run":
        i, n = int(rng.integers(len(data))), int(rng.integers(1, 16))
        data[i : i + n] = bytes(len(data[i : i + n]))
    else:
        i = int(rng.integers(len(data)))
        data[i] ^= 0xFF
        data += bytes(int(rng.integers(1, 40)))
    return bytes(data)


@pytest.mark.parametrize("name", ["bpg", "jpeg", "webp", "avif", "jpeg2000"])
def test_corrupted_payloads_decode_to_none_or_the_right_shape(name, gray28, rgb32):
    if name == "bpg" and (shutil.which("x265") is None or shutil.which("ffmpeg") is None):
        pytest.skip("Debian's x265 and ffmpeg are not installed")
    codec = create_codec(name)
    rng = np.random.default_rng(sum(map(ord, name)))
    middle = codec.qualities[len(codec.qualities) // 2]
    for images in (gray28, rgb32):
        payloads = [e.payload for e in codec.encode(images, middle)]
        damaged = [corrupt(payloads[i % len(payloads)], KINDS[i % len(KINDS)], rng) for i in range(100)]
        decoded = codec.decode(damaged, expected_shape=images.shape[1:])  # the receiver knows the shape
        assert len(decoded) == len(damaged)
        assert all(d is None or (d.shape == images.shape[1:] and d.dtype == np.uint8) for d in decoded)
        assert any(d is not None for d in decoded) and any(d is None for d in decoded)
        # without the shape hint a damaged header may claim another size: still an image or None
        loose = codec.decode(damaged[:20])
        assert all(d is None or (d.dtype == np.uint8 and d.ndim in (2, 3)) for d in loose)
        # intact payloads in the same batch as damaged ones still decode exactly
        mixed = codec.decode(payloads[:4] + damaged[:8] + payloads[4:8], expected_shape=images.shape[1:])
        clean = codec.decode(payloads[:8], expected_shape=images.shape[1:])
        assert all(np.array_equal(a, b) for a, b in zip(mixed[:4] + mixed[12:], clean))
    assert codec.decode([]) == []
    assert codec.decode([b"", b"\x00", bytes(1000)]) == [None, None, None]


def test_a_crashing_or_hanging_child_is_contained():
    crash = run_isolated([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"], b"", 30)
    assert not crash.ok and crash.returncode is not None and crash.returncode < 0
    hang = run_isolated([sys.executable, "-c", "import time; time.sleep(60)"], b"", 0.5)
    assert hang.timed_out and not hang.ok
    missing = run_isolated(["/nonexistent/decoder"], b"", 5)
    assert missing.returncode is None and not missing.ok


def test_decoder_child_that_dies_costs_only_its_own_item(tmp_path, monkeypatch, rgb32):
    """A child that crashes on one file (here: a real SIGKILL) leaves the others decoded."""
    worker = tmp_path / "crashing_worker.py"
    worker.write_text(
        "import os, runpy, signal, sys\n"
        "real = sys.argv[1]\n"
        "mod = runpy.run_path(real)\n"
        "decode = mod['decode_file']\n"
        "def guarded(data, *args):\n"
        "    if data.endswith(b'CRASH'):\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return decode(data, *args)\n"
        "mod['main'].__globals__['decode_file'] = guarded\n"
        "mod['main']()\n"
    )
    worker.chmod(worker.stat().st_mode | stat.S_IEXEC)
    real_worker = pillow_codecs._WORKER
    codec = create_codec("jpeg")
    payloads = [e.payload for e in codec.encode(rgb32[:6], 50)]
    expected = codec.decode(payloads)
    monkeypatch.setattr(pillow_codecs, "_WORKER", f"{worker}")
    monkeypatch.setattr(pillow_codecs, "run_isolated",
                        lambda argv, data, timeout: run_isolated(argv + [real_worker], data, timeout))
    batch = payloads[:2] + [payloads[2] + b"CRASH"] + payloads[3:4] + [payloads[4] + b"CRASH"] + payloads[5:]
    decoded = codec.decode(batch)
    assert decoded[2] is None and decoded[4] is None
    for i in (0, 1, 3, 5):
        assert np.array_equal(decoded[i], expected[i])
