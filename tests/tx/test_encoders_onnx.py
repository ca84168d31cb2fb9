"""EfficientNet-Lite0 through ONNX Runtime: torch's features within float tolerance, cached and checked."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")

from semlink.errors import SemlinkError  # noqa: E402
from semlink.tx import create_encoder  # noqa: E402
from semlink.tx.encoders.onnx_backend import OnnxRunner, cached_onnx, static_same_padding  # noqa: E402


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def pair(cache):
    """The same weights through both backends, at the offline default's 64 px."""
    ort_encoder = create_encoder("efficientnet-lite0", image_size=64, device="cpu", backend="onnxruntime",
                                 cache_dir=cache)
    torch_encoder = create_encoder("efficientnet-lite0", image_size=64, device="cpu", backend="torch")
    return ort_encoder, torch_encoder


def test_auto_backend_is_onnxruntime_on_the_cpu(cache):
    encoder = create_encoder("efficientnet-lite0", image_size=32, device="cpu", cache_dir=cache)
    assert encoder.backend == "onnxruntime"
    assert encoder.name == "efficientnet-lite0@imagenet+32px"  # the name (and feature cache key) is unchanged


def test_features_match_torch_within_float_tolerance(pair, gray28, rgb32):
    ort_encoder, torch_encoder = pair
    for images in (gray28, rgb32):
        got, expected = ort_encoder.encode(images), torch_encoder.encode(images)
        assert ort_encoder.backend == "onnxruntime"  # the load-time check passed
        assert got.shape == expected.shape == (len(images), 1280) and got.dtype == torch.float32
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
        # the nearest neighbour of every image among the others is the same under both backends
        nearest = [(f @ f.T - 2 * torch.eye(len(f))).argmax(1) for f in (got, expected)]
        assert torch.equal(*nearest)


def test_a_row_is_bit_identical_whatever_its_batch_neighbours_and_threads(pair, gray28):
    ort_encoder, _ = pair
    alone = ort_encoder.encode(gray28[3:4])
    in_batch = ort_encoder.encode(gray28)
    shuffled = ort_encoder.encode(gray28[::-1].copy())
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        two_threads = ort_encoder.encode(gray28)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(alone[0], in_batch[3]) and torch.equal(shuffled.flip(0), in_batch)
    assert torch.equal(two_threads, in_batch)


def test_exported_graph_has_no_pads_left(pair, cache):
    import onnx

    pair[0].encode(np.zeros((1, 28, 28), np.uint8))
    (path,) = [p for p in cache.glob("efficientnet-lite0-64px-*.onnx")]
    ops = [node.op_type for node in onnx.load(str(path)).graph.node]
    assert "Pad" not in ops and "BatchNormalization" not in ops and ops.count("Conv") == 49
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["pads_folded"] == 5 and record["weights_sha256"] == pair[0].weights_id


def test_the_cached_file_is_reused_and_a_tampered_one_exported_again(pair, cache):
    ort_encoder = pair[0]
    ort_encoder.encode(np.zeros((1, 28, 28), np.uint8))
    (path,) = list(cache.glob("efficientnet-lite0-64px-*.onnx"))
    stamp = path.stat().st_mtime_ns
    again = create_encoder("efficientnet-lite0", image_size=64, device="cpu", cache_dir=cache)
    again.encode(np.zeros((1, 28, 28), np.uint8))
    assert path.stat().st_mtime_ns == stamp  # found in the cache, not exported again
    path.write_bytes(path.read_bytes()[:-100])  # truncated: its SHA-256 no longer matches the record
    third = create_encoder("efficientnet-lite0", image_size=64, device="cpu", cache_dir=cache)
    with pytest.warns(RuntimeWarning, match="does not match its record"):
        features = third.encode(np.zeros((2, 28, 28), np.uint8))
    assert third.backend == "onnxruntime" and torch.isfinite(features).all()


def test_a_file_that_disagrees_with_torch_is_refused(tmp_path, gray28):
    """A cached file with the right name but another network's weights fails the load-time check."""
    encoder = create_encoder("efficientnet-lite0", image_size=32, device="cpu", cache_dir=tmp_path)
    wrong = static_same_padding(encoder.model, torch.zeros(1, 3, 32, 32))
    with torch.no_grad():
        for p in wrong.parameters():
            p.add_(0.05 * torch.randn_like(p))

    from semlink.tx.encoders.efficientnet import _Features

    cached_onnx("efficientnet-lite0-32px", encoder.weights_id, lambda: (_Features(wrong), torch.zeros(2, 3, 32, 32)),
                tmp_path)
    with pytest.warns(RuntimeWarning, match="using torch"):
        got = encoder.encode(gray28)
    assert encoder.backend == "torch"
    torch.testing.assert_close(got, create_encoder("efficientnet-lite0", image_size=32, backend="torch").encode(gray28))


def test_runner_follows_torch_thread_count(pair):
    runner = pair[0]._onnx
    assert isinstance(runner, OnnxRunner)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        runner.run(torch.zeros(1, 3, 64, 64))
        assert runner.threads == 1
    finally:
        torch.set_num_threads(before)


def test_bad_backend_is_refused():
    with pytest.raises(SemlinkError, match="accepted: auto, onnxruntime, torch"):
        create_encoder("efficientnet-lite0", backend="tensorrt")
    with pytest.raises(SemlinkError, match="only the options backend= and cache_dir="):
        create_encoder("efficientnet-lite0", colour="red")
