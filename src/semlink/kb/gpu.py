"""Where a FAISS index lives: the CPU, or the GPU(s) through faiss-gpu.

The knowledge base takes ``device="cpu" | "cuda" | "auto"``. Whether a GPU is there at all is
decided by :func:`semlink.devices.resolve_device`, the package's one device resolver; what is
FAISS's own (faiss-gpu installed and seeing a GPU, index types it cannot move, one GPU or sharding
over all of them, GPU parameter spaces) stays here.
"""

from __future__ import annotations

from typing import Any

from semlink.devices import resolve_device
from semlink.errors import MissingResourceError, SemlinkError, choice_error
from semlink.kb.validation import faiss_reason

DEVICES = ("cpu", "cuda", "auto")


def faiss_gpu_count(faiss: Any) -> int:
    """GPUs this FAISS build can use (0 for faiss-cpu)."""
    return int(faiss.get_num_gpus()) if hasattr(faiss, "StandardGpuResources") else 0


def index_device(faiss: Any, device: str) -> str:
    """``"cpu"`` or ``"cuda"``: where an index asked to live on ``device`` goes.

    ``"auto"`` is the GPU when both faiss-gpu and torch see one, else the CPU. ``"cuda"`` needs
    faiss-gpu with a GPU, and torch must see it too (search results and label tables live there).
    """
    if device not in DEVICES:
        raise choice_error("device", device, DEVICES)
    if device == "cpu":
        return "cpu"
    gpu_ok = faiss_gpu_count(faiss) > 0
    if device == "auto":
        return "cuda" if gpu_ok and resolve_device("auto").type == "cuda" else "cpu"
    if not gpu_ok:
        raise MissingResourceError(
            f"device={device!r} needs faiss-gpu and a CUDA GPU; this faiss ({faiss.__version__}) sees "
            f"{faiss.get_num_gpus()} GPU(s). Install semlink[gpu] (faiss-gpu-cu12) or use device='cpu'"
        )
    resolve_device("cuda")
    return "cuda"


def index_to_gpu(  # pragma: no cover - needs faiss-gpu and CUDA
    faiss: Any, index: Any, factory: str, strict: bool
) -> tuple[Any, Any] | None:
    """``(gpu_index, resources)``: ``index`` on the GPU(s), or None where FAISS cannot move it.

    One GPU goes through ``StandardGpuResources`` (returned: it must outlive the index), several
    through ``faiss.index_cpu_to_all_gpus``. Index types FAISS cannot put on a GPU (e.g. HNSW)
    return None when ``strict`` is false (``device="auto"``) and raise :class:`SemlinkError` when it
    is true (``device="cuda"``). Needs faiss-gpu and CUDA.
    """
    resources = None
    try:
        if faiss.get_num_gpus() == 1:
            resources = faiss.StandardGpuResources()
            gpu_index = faiss.index_cpu_to_gpu(resources, 0, index)
        else:
            gpu_index = faiss.index_cpu_to_all_gpus(index)
    except RuntimeError as err:
        if strict:
            raise SemlinkError(
                f"FAISS cannot put factory {factory!r} on the GPU: {faiss_reason(err)}"
            ) from err
        return None
    return gpu_index, resources


def index_to_cpu(faiss: Any, index: Any, device: str) -> Any:
    """A CPU copy of an index on ``device`` (the index itself when it is on the CPU already)."""
    if device == "cuda":  # pragma: no cover - needs faiss-gpu
        return faiss.index_gpu_to_cpu(index)
    return index


def parameter_space(faiss: Any, device: str) -> Any:
    """FAISS's setter of search parameters for an index on ``device``."""
    if device == "cuda":  # pragma: no cover - needs faiss-gpu
        return faiss.GpuParameterSpace()
    return faiss.ParameterSpace()
