"""Zero-copy tensor crossings between torch, NumPy, FAISS and any ``__dlpack__`` producer.

Memory is shared wherever the libraries allow it; a copy happens only when the caller asks for one
(``allow_copy=True``, or ``device=`` in :func:`to_torch`). Device memory is never copied to the
host silently.

=====================  ======================================================================
``to_torch(x)``        NumPy / torch / TensorFlow / CuPy / JAX / any ``__dlpack__`` -> tensor
``to_numpy(x)``        CPU tensor or host DLPack producer -> ndarray (refuses device memory)
``as_faiss_input(x)``  float32, C-contiguous, 2-D array/tensor, or a clear error
``import_faiss()``     ``faiss`` with ``faiss.contrib.torch_utils`` loaded (torch in, torch out)
``shares_memory``      whether two arrays/tensors address overlapping memory
``data_ptr(x)``        address of the first element
=====================  ======================================================================

>>> import numpy as np
>>> a = np.ones((2, 3), dtype=np.float32)
>>> t = to_torch(a)
>>> shares_memory(a, t), shares_memory(to_numpy(t), a)
(True, True)
"""

from semlink.bridge._core import data_ptr, describe, shares_memory, to_numpy, to_torch
from semlink.bridge._faiss import as_faiss_input, import_faiss

__all__ = ["as_faiss_input", "data_ptr", "describe", "import_faiss", "shares_memory", "to_numpy", "to_torch"]
