"""Zero-copy crossings: pointer equality where memory is shared, clear errors where it cannot be."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch

import semlink.bridge
import semlink.bridge._core
import semlink.bridge._faiss
from semlink.bridge import as_faiss_input, data_ptr, import_faiss, shares_memory, to_numpy, to_torch
from semlink.errors import SemlinkError


class HostProducer:
    """A minimal third-party array: exports a NumPy buffer through the DLPack protocol only."""

    def __init__(self, array: np.ndarray, device: tuple[int, int] = (1, 0)) -> None:
        self._array = array
        self._device = device
        self.exports = 0

    def __dlpack_device__(self) -> tuple[int, int]:
        return self._device

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        self.exports += 1
        kwargs = {} if max_version is None else {"max_version": max_version}
        return self._array.__dlpack__(**kwargs)


# ----------------------------------------------------------------------------- to_torch
def test_numpy_to_torch_shares_memory() -> None:
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = to_torch(a)
    assert t.data_ptr() == a.ctypes.data == data_ptr(a)
    a[0, 0] = 42.0
    assert t[0, 0].item() == 42.0
    assert shares_memory(a, t)


def test_numpy_view_to_torch_keeps_strides_and_pointer() -> None:
    a = np.arange(24, dtype=np.float32).reshape(4, 6)
    view = a[1:, ::2]
    t = to_torch(view)
    assert data_ptr(t) == data_ptr(view)
    assert t.stride() == (6, 2)
    np.testing.assert_array_equal(t.numpy(), view)


def test_torch_passes_through_and_device_moves_only_on_request() -> None:
    t = torch.randn(3, 2)
    assert to_torch(t) is t
    assert to_torch(t, device="cpu") is t
    moved = to_torch(t, device="meta")  # an explicit move (meta: no real memory, works without a GPU)
    assert moved.device.type == "meta"


def test_generic_dlpack_producer_is_zero_copy() -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    producer = HostProducer(a)
    t = to_torch(producer)
    assert producer.exports == 1
    assert t.data_ptr() == data_ptr(a)
    assert data_ptr(producer) == data_ptr(a)
    n = to_numpy(HostProducer(a))
    assert data_ptr(n) == data_ptr(a)
    assert shares_memory(producer, a)


def test_dlpack_capsule_is_accepted() -> None:
    t = torch.arange(5.0)
    cap = torch.utils.dlpack.to_dlpack(t)
    assert to_torch(cap).data_ptr() == t.data_ptr()


def test_to_torch_negative_strides_refused_unless_copy_allowed() -> None:
    a = np.arange(6, dtype=np.float32)[::-1]
    with pytest.raises(SemlinkError, match=r"strides=\(-4,\).*allow_copy=True"):
        to_torch(a)
    t = to_torch(a, allow_copy=True)
    assert t.tolist() == [5.0, 4.0, 3.0, 2.0, 1.0, 0.0]
    assert not shares_memory(a, t)


@pytest.mark.parametrize("bad", [[1.0, 2.0], 3.5, "text", np.array(["a", "b"]), np.array([object()])])
def test_to_torch_refuses_unsupported(bad) -> None:
    with pytest.raises(SemlinkError, match="to_torch|no torch equivalent"):
        to_torch(bad)


# ----------------------------------------------------------------------------- to_numpy
def test_torch_to_numpy_shares_memory() -> None:
    t = torch.arange(8, dtype=torch.float32).reshape(2, 4)
    a = to_numpy(t)
    assert a.ctypes.data == t.data_ptr()
    t[1, 1] = -1.0
    assert a[1, 1] == -1.0


def test_requires_grad_tensor_is_detached_without_copy() -> None:
    t = torch.randn(4, 3, requires_grad=True)
    a = to_numpy(t)
    assert data_ptr(a) == t.data_ptr()
    assert t.requires_grad  # the caller's tensor is untouched


def test_numpy_input_returned_as_is() -> None:
    a = np.zeros(3)
    assert to_numpy(a) is a


def test_conjugate_bit_refused_unless_copy_allowed() -> None:
    c = torch.tensor([1 + 2j, 3 - 1j], dtype=torch.complex64).conj()
    assert c.is_conj()
    with pytest.raises(SemlinkError, match="conjugate bit"):
        to_numpy(c)
    np.testing.assert_array_equal(
        to_numpy(c, allow_copy=True), np.array([1 - 2j, 3 + 1j], dtype=np.complex64)
    )


def test_negative_bit_refused_unless_copy_allowed() -> None:
    n = torch._neg_view(torch.tensor([1.0, -2.0]))
    assert n.is_neg()
    with pytest.raises(SemlinkError, match="negative bit"):
        to_numpy(n)
    np.testing.assert_array_equal(to_numpy(n, allow_copy=True), np.array([-1.0, 2.0], dtype=np.float32))


def test_device_memory_is_never_copied_silently() -> None:
    on_meta = torch.empty(2, 3, device="meta")
    with pytest.raises(SemlinkError, match=r"in meta memory.*allow_copy=True"):
        to_numpy(on_meta)
    gpu_producer = HostProducer(np.zeros(3, dtype=np.float32), device=(2, 0))  # claims kDLCUDA
    with pytest.raises(SemlinkError, match=r"in cuda:0 memory.*never copies device memory"):
        to_numpy(gpu_producer)
    assert gpu_producer.exports == 0  # refused before any export


def test_bfloat16_refused_with_hint() -> None:
    with pytest.raises(SemlinkError, match=r"bfloat16.*t\.float\(\)"):
        to_numpy(torch.zeros(2, dtype=torch.bfloat16))


def test_sparse_refused_unless_copy_allowed() -> None:
    s = torch.eye(3).to_sparse()
    with pytest.raises(SemlinkError, match="sparse"):
        to_numpy(s)
    np.testing.assert_array_equal(to_numpy(s, allow_copy=True), np.eye(3, dtype=np.float32))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_tensor_refused_then_copied_on_request() -> None:  # pragma: no cover - GPU only
    t = torch.arange(4.0, device="cuda")
    with pytest.raises(SemlinkError, match="cuda"):
        to_numpy(t)
    np.testing.assert_array_equal(to_numpy(t, allow_copy=True), np.arange(4.0, dtype=np.float32))


# ----------------------------------------------------------------------------- shares_memory
def test_shares_memory_cases() -> None:
    base = np.zeros(16, dtype=np.float32)
    t = to_torch(base)
    assert shares_memory(base[:8], t[4:])
    assert not shares_memory(base[:8], t[8:])
    assert shares_memory(base[::2], base[1::2])  # interleaved: conservative, like np.may_share_memory
    assert not shares_memory(base, base.copy())
    assert not shares_memory(base[:0], base)
    assert shares_memory(base[::-1], t)
    assert not shares_memory(t, torch.empty(16, device="meta"))


# ----------------------------------------------------------------------------- FAISS input
def test_faiss_input_passes_conforming_arrays_through() -> None:
    a = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)
    assert as_faiss_input(a) is a
    t = torch.randn(5, 8)
    assert as_faiss_input(t) is t
    g = torch.randn(5, 8, requires_grad=True)
    out = as_faiss_input(g)
    assert not out.requires_grad and out.data_ptr() == g.data_ptr()
    p = as_faiss_input(HostProducer(a))
    assert isinstance(p, torch.Tensor) and p.data_ptr() == data_ptr(a)


@pytest.mark.parametrize("make", [lambda: np.zeros((4, 8)), lambda: torch.zeros(4, 8, dtype=torch.float64)])
def test_faiss_input_refuses_float64(make) -> None:
    x = make()
    with pytest.raises(
        SemlinkError, match=r"float32.*shape=\(4, 8\).*dtype=float64.*strides=.*allow_copy=True"
    ):
        as_faiss_input(x)
    y = as_faiss_input(x, allow_copy=True)
    assert y.dtype in (np.float32, torch.float32) and tuple(y.shape) == (4, 8)


@pytest.mark.parametrize(
    "make, strides",
    [
        (lambda: np.zeros((8, 4), dtype=np.float32).T, r"strides=\(4, 16\)"),
        (lambda: torch.zeros(8, 4).t(), r"strides=\(1, 4\)"),
    ],
)
def test_faiss_input_refuses_non_contiguous(make, strides) -> None:
    x = make()
    with pytest.raises(SemlinkError, match=rf"C-contiguous.*shape=\(4, 8\).*{strides}"):
        as_faiss_input(x)
    y = as_faiss_input(x, allow_copy=True)
    assert (y.flags.c_contiguous if isinstance(y, np.ndarray) else y.is_contiguous()) and not shares_memory(
        x, y
    )


@pytest.mark.parametrize("x", [np.zeros((2, 3, 4), dtype=np.float32), torch.zeros(2, 3, 4), torch.zeros(8)])
def test_faiss_input_refuses_wrong_rank_even_with_copy(x) -> None:
    with pytest.raises(SemlinkError, match=r"2-D \[n, d\]"):
        as_faiss_input(x, allow_copy=True)


def test_faiss_input_refuses_complex() -> None:
    with pytest.raises(SemlinkError, match="real"):
        as_faiss_input(torch.zeros(2, 2, dtype=torch.complex64), allow_copy=True)


def test_torch_query_reaches_faiss_in_place() -> None:
    """FAISS reads the torch tensor's own buffer (via faiss.contrib.torch_utils): no NumPy, no copy."""
    faiss = import_faiss()
    base = torch.randn(50, 8, generator=torch.Generator().manual_seed(1))
    index = faiss.IndexFlatL2(8)
    index.add(base)
    seen: list[int] = []
    original = index.search_ex

    def spy(n, x_ptr, *rest):
        seen.append(int(x_ptr))
        return original(n, x_ptr, *rest)

    index.search_ex = spy
    queries = base[10:14]  # a contiguous view into base: still no copy
    d, i = index.search(as_faiss_input(queries), 1)
    assert seen == [queries.data_ptr()]
    assert isinstance(i, torch.Tensor) and i.flatten().tolist() == [10, 11, 12, 13]
    assert d.dtype == torch.float32 and i.dtype == torch.int64


# ----------------------------------------------------------------------------- other producers
def test_cupy_zero_copy_and_refusal() -> None:  # pragma: no cover - needs CuPy and a GPU
    cupy = pytest.importorskip("cupy")
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    a = cupy.arange(6, dtype=cupy.float32)
    assert to_torch(a).data_ptr() == a.data.ptr
    with pytest.raises(SemlinkError, match="cuda"):
        to_numpy(a)
    np.testing.assert_array_equal(to_numpy(a, allow_copy=True), np.arange(6, dtype=np.float32))


def test_tensorflow_through_dlpack() -> None:  # pragma: no cover - needs TensorFlow
    tf = pytest.importorskip("tensorflow")
    x = tf.constant(np.arange(6, dtype=np.float32).reshape(2, 3))
    source = x if hasattr(x, "__dlpack__") else tf.experimental.dlpack.to_dlpack(x)
    t = to_torch(source)
    np.testing.assert_array_equal(t.cpu().numpy(), np.arange(6, dtype=np.float32).reshape(2, 3))


def test_jax_through_dlpack() -> None:  # pragma: no cover - needs JAX
    jnp = pytest.importorskip("jax.numpy")
    x = jnp.arange(6, dtype=jnp.float32)
    t = to_torch(x)
    if t.device.type == "cpu":
        assert t.data_ptr() == x.unsafe_buffer_pointer()
    np.testing.assert_array_equal(t.cpu().numpy(), np.arange(6, dtype=np.float32))


# ----------------------------------------------------------------------------- docs
@pytest.mark.parametrize("module", [semlink.bridge, semlink.bridge._core, semlink.bridge._faiss])
def test_docstring_examples_run(module) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def test_bad_device_names() -> None:
    with pytest.raises(SemlinkError, match="unknown device 'gpu'"):
        to_torch(np.zeros(2), device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(SemlinkError, match="cannot move"):
            to_torch(np.zeros(2), device="cuda")
