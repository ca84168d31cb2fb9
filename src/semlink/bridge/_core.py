"""Zero-copy crossings between torch, NumPy and any DLPack producer.

Every function here either shares the caller's memory or says so: a copy happens only when the
caller asks for it (``allow_copy=True``, or an explicit ``device=`` in :func:`to_torch`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from semlink.errors import SemlinkError

# DLPack device types (dlpack.h, DLDeviceType) whose memory the host CPU can read directly.
_DL_CPU, _DL_CUDA_HOST, _DL_ROCM_HOST = 1, 3, 11
_HOST_READABLE = (_DL_CPU, _DL_CUDA_HOST, _DL_ROCM_HOST)
_DL_NAMES = {
    1: "cpu",
    2: "cuda",
    3: "cuda_host",
    4: "opencl",
    7: "vulkan",
    8: "metal",
    10: "rocm",
    11: "rocm_host",
    13: "cuda_managed",
    14: "oneapi",
}


def describe(x: Any) -> str:
    """One line naming ``x``'s type, shape, dtype, strides and device (for error messages).

    >>> describe(np.zeros((2, 3), dtype=np.float64))
    'numpy.ndarray shape=(2, 3) dtype=float64 strides=(24, 8) bytes C-contiguous=True'
    >>> describe(torch.zeros(2, 3).t())
    'torch.Tensor shape=(3, 2) dtype=float32 strides=(1, 3) elements contiguous=False device=cpu'
    """
    if isinstance(x, np.ndarray):
        return (
            f"numpy.ndarray shape={tuple(x.shape)} dtype={x.dtype} "
            f"strides={tuple(x.strides)} bytes C-contiguous={bool(x.flags.c_contiguous)}"
        )
    if isinstance(x, torch.Tensor):
        strides = tuple(x.stride()) if x.layout == torch.strided else x.layout
        return (
            f"torch.Tensor shape={tuple(x.shape)} dtype={str(x.dtype).removeprefix('torch.')} "
            f"strides={strides} elements contiguous={x.is_contiguous()} device={x.device}"
        )
    kind = f"{type(x).__module__}.{type(x).__qualname__}"
    parts = [kind]
    for attr in ("shape", "dtype"):
        value = getattr(x, attr, None)
        if value is not None:
            parts.append(f"{attr}={tuple(value) if attr == 'shape' else value}")
    return " ".join(parts)


def _dlpack_device(x: Any) -> tuple[int, int] | None:
    fn = getattr(x, "__dlpack_device__", None)
    if fn is None:
        return None
    dev = fn()
    return int(dev[0]), int(dev[1])


def _numpy_to_torch(x: np.ndarray, allow_copy: bool) -> torch.Tensor:
    try:
        return torch.from_numpy(x)
    except (TypeError, ValueError) as err:
        reason = str(err).split("\n")[0]
        if x.dtype.kind in "OUSVMm" or x.dtype.fields is not None:
            raise SemlinkError(
                f"cannot convert {describe(x)} to torch: dtype {x.dtype} has no torch equivalent; "
                "accepted: bool, integer, float and complex arrays"
            ) from err
        if not allow_copy:
            raise SemlinkError(
                f"cannot share {describe(x)} with torch without a copy ({reason}); torch accepts "
                "native-byte-order arrays with non-negative strides. Pass allow_copy=True to copy it, "
                "or np.ascontiguousarray(x) yourself"
            ) from err
        native = x.dtype.newbyteorder("=")
        return torch.from_numpy(np.ascontiguousarray(x, dtype=native))


def to_torch(x: Any, device: str | torch.device | None = None, *, allow_copy: bool = False) -> torch.Tensor:
    """Return ``x`` as a :class:`torch.Tensor` sharing its memory (zero-copy).

    Accepts a ``torch.Tensor`` (returned as is), a ``numpy.ndarray`` (``torch.from_numpy``), or any
    object with ``__dlpack__`` (TensorFlow, CuPy, JAX, ...; ``torch.from_dlpack``), a raw DLPack
    capsule (``tf.experimental.dlpack.to_dlpack(t)``; consumed once), or an object with
    ``__cuda_array_interface__`` (Numba, older CuPy). The result lives on the producer's device.

    Memory is copied only when asked:

    - ``device``: move the result to this device (``"cpu"``, ``"cuda"``, ``"cuda:1"``). A tensor
      already there is not copied.
    - ``allow_copy``: NumPy arrays torch cannot view (negative strides, non-native byte order) are
      copied instead of refused.

    Raises :class:`~semlink.errors.SemlinkError` for anything else.

    >>> a = np.arange(6, dtype=np.float32).reshape(2, 3)
    >>> t = to_torch(a)
    >>> t.data_ptr() == a.ctypes.data          # same memory
    True
    >>> to_torch(a[:, ::-1], allow_copy=True).tolist()
    [[2.0, 1.0, 0.0], [5.0, 4.0, 3.0]]
    """
    if isinstance(x, torch.Tensor):
        t = x
    elif isinstance(x, np.ndarray):
        t = _numpy_to_torch(x, allow_copy)
    elif hasattr(x, "__dlpack__"):
        try:
            t = torch.from_dlpack(x, copy=False)
        except (BufferError, RuntimeError, TypeError, ValueError) as err:
            raise SemlinkError(f"cannot import {describe(x)} through DLPack without a copy: {err}") from err
    elif type(x).__name__ == "PyCapsule":  # a raw DLPack capsule (e.g. tf.experimental.dlpack.to_dlpack)
        try:
            t = torch.from_dlpack(x)
        except (BufferError, RuntimeError, TypeError, ValueError) as err:
            raise SemlinkError(f"cannot import the DLPack capsule {x!r}: {err}") from err
    elif hasattr(x, "__cuda_array_interface__"):
        t = torch.as_tensor(x)  # zero-copy view of the CUDA buffer
    else:
        raise SemlinkError(
            f"to_torch got {describe(x)}; accepted: torch.Tensor, numpy.ndarray, or an object with "
            "__dlpack__ / __cuda_array_interface__ (wrap Python lists in np.asarray first)"
        )
    if device is not None:
        try:
            target = torch.device(device)
        except (RuntimeError, TypeError) as err:
            raise SemlinkError(f"unknown device {device!r}; accepted: 'cpu', 'cuda', 'cuda:N', ...") from err
        if t.device.type != target.type or (target.index is not None and t.device.index != target.index):
            try:
                t = t.to(target)  # explicit move, asked for by the caller
            except (AssertionError, RuntimeError) as err:
                raise SemlinkError(f"cannot move {describe(t)} to {target}: {err}") from err
    return t


def _torch_to_numpy(t: torch.Tensor, allow_copy: bool) -> np.ndarray:
    if t.requires_grad:
        t = t.detach()  # a view: same memory, no autograd history
    if t.layout != torch.strided:
        if not allow_copy:
            raise SemlinkError(
                f"to_numpy got a {t.layout} tensor ({describe(t)}); NumPy holds dense arrays only. "
                "Pass allow_copy=True to densify it (a copy)"
            )
        t = t.to_dense()
    if t.device.type != "cpu":
        if not allow_copy:
            raise SemlinkError(
                f"to_numpy got a tensor in {t.device} memory ({describe(t)}); NumPy reads host memory "
                "only and semlink never copies device memory to the host silently. Pass allow_copy=True "
                "to copy it, or keep the data in torch"
            )
        t = t.cpu()
    if t.is_conj() or t.is_neg():
        if not allow_copy:
            raise SemlinkError(
                f"to_numpy got a tensor with a lazy {'conjugate' if t.is_conj() else 'negative'} bit "
                f"({describe(t)}); its memory holds the un-conjugated/un-negated values, so NumPy "
                "cannot view it. Pass allow_copy=True to materialise it (a copy), or call "
                "t.resolve_conj().resolve_neg() yourself"
            )
        t = t.resolve_conj().resolve_neg()
    try:
        return t.numpy()
    except TypeError as err:
        raise SemlinkError(
            f"to_numpy got dtype {t.dtype} ({describe(t)}), which NumPy cannot represent; "
            "convert it first, e.g. t.float()"
        ) from err


def to_numpy(x: Any, *, allow_copy: bool = False) -> np.ndarray:
    """Return ``x`` as a :class:`numpy.ndarray` sharing its memory (zero-copy).

    Accepts NumPy arrays (returned as is), CPU torch tensors (``requires_grad`` tensors are
    detached, which shares memory), and any host-memory ``__dlpack__`` producer. Data that NumPy
    cannot view in place is refused with :class:`~semlink.errors.SemlinkError` unless
    ``allow_copy=True``:

    - device (CUDA, ROCm, ...) memory: never copied to the host silently;
    - torch tensors with a lazy conjugate/negative bit (``t.conj()`` of a complex tensor);
    - sparse tensors.

    >>> t = torch.arange(4.0, requires_grad=True)
    >>> a = to_numpy(t)
    >>> a.ctypes.data == t.data_ptr()
    True
    >>> c = torch.tensor([1 + 2j]).conj()
    >>> to_numpy(c, allow_copy=True)
    array([1.-2.j], dtype=complex64)
    """
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, torch.Tensor):
        return _torch_to_numpy(x, allow_copy)
    if hasattr(x, "__dlpack__"):
        dev = _dlpack_device(x)
        if dev is None or dev[0] in _HOST_READABLE:
            try:
                return np.from_dlpack(x)
            except (BufferError, RuntimeError, TypeError, ValueError) as err:
                if not allow_copy:
                    raise SemlinkError(
                        f"cannot view {describe(x)} as a NumPy array without a copy: {err}. "
                        "Pass allow_copy=True to copy it"
                    ) from err
                return _torch_to_numpy(to_torch(x), allow_copy=True)
        if not allow_copy:
            where = _DL_NAMES.get(dev[0], f"DLPack device type {dev[0]}")
            raise SemlinkError(
                f"to_numpy got {describe(x)} in {where}:{dev[1]} memory; NumPy reads host memory only "
                "and semlink never copies device memory to the host silently. Pass allow_copy=True to "
                "copy it"
            )
        return _torch_to_numpy(to_torch(x), allow_copy=True)
    if hasattr(x, "__array_interface__"):
        return np.asarray(x)  # host buffer described by the array interface: a view
    raise SemlinkError(
        f"to_numpy got {describe(x)}; accepted: numpy.ndarray, torch.Tensor, or an object with "
        "__dlpack__ / __array_interface__"
    )


def data_ptr(x: Any) -> int:
    """Address of ``x``'s first element (a device address for device memory).

    Two objects sharing memory from the same offset have equal ``data_ptr``; this is how the tests
    check that a crossing was zero-copy.

    >>> a = np.zeros((4, 4), dtype=np.float32)
    >>> data_ptr(to_torch(a)) == data_ptr(a)
    True
    """
    if isinstance(x, np.ndarray):
        return int(x.__array_interface__["data"][0])
    if isinstance(x, torch.Tensor):
        return int(x.data_ptr())
    return int(to_torch(x).data_ptr())


def _extent(x: Any) -> tuple[tuple[str, int], int, int]:
    """(device key, first byte, one past the last byte) of the memory ``x`` can address."""
    if isinstance(x, np.ndarray):
        ptr, shape, itemsize, device = data_ptr(x), x.shape, x.itemsize, ("cpu", -1)
        strides = x.strides
    else:
        t = x if isinstance(x, torch.Tensor) else to_torch(x)
        if t.layout != torch.strided:
            raise SemlinkError(f"shares_memory needs dense (strided) tensors; got {describe(t)}")
        itemsize = t.element_size()
        ptr, shape, strides = t.data_ptr(), tuple(t.shape), tuple(s * itemsize for s in t.stride())
        device = (t.device.type, -1 if t.device.type == "cpu" else (t.device.index or 0))
    if any(n == 0 for n in shape):
        return device, ptr, ptr
    lo = ptr + sum(s * (n - 1) for n, s in zip(shape, strides, strict=True) if s < 0)
    hi = ptr + sum(s * (n - 1) for n, s in zip(shape, strides, strict=True) if s > 0) + itemsize
    return device, lo, hi


def shares_memory(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` address overlapping memory (NumPy arrays, tensors, DLPack producers).

    Like :func:`numpy.may_share_memory`: compares the byte ranges the two can reach, so two
    interleaved views of one buffer (``x[::2]`` and ``x[1::2]``) count as sharing.

    >>> a = np.zeros(8, dtype=np.float32)
    >>> shares_memory(a, to_torch(a)[2:]), shares_memory(a, a.copy())
    (True, False)
    """
    dev_a, lo_a, hi_a = _extent(a)
    dev_b, lo_b, hi_b = _extent(b)
    return dev_a == dev_b and lo_a < hi_b and lo_b < hi_a
