"""Device names → ``torch.device``: the one resolver every part of semlink uses.

Accepted names: ``"auto"`` (CUDA when torch sees a GPU, else the CPU; ``None`` means the same),
``"cpu"``, ``"cuda"``, ``"cuda:N"`` and ``"mps"``; a ``torch.device`` goes through the same checks.
Asking for a device this machine lacks is a :class:`~semlink.errors.MissingResourceError` that says
what torch sees, rather than a torch error at the first tensor moved there.

>>> resolve_device("cpu")
device(type='cpu')
>>> resolve_device("auto").type in ("cpu", "cuda")
True
>>> resolve_device("tpu")
Traceback (most recent call last):
...
semlink.errors.SemlinkError: unknown device 'tpu'; accepted: auto, cpu, cuda, cuda:N, mps
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from semlink.errors import MissingResourceError, choice_error

if TYPE_CHECKING:
    import torch

ACCEPTED_DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
#: What torch.device parses into a type semlink runs on (an index is allowed, as torch allows it).
_DEVICE_NAME = re.compile(r"auto|(cpu|cuda|mps)(:\d+)?")


def check_device_name(name: str) -> str:
    """``name`` when it names a device semlink accepts (whether or not this machine has it): what a
    config checks before anything runs; :func:`resolve_device` checks the device exists when it is used.

    >>> check_device_name("cuda:1")
    'cuda:1'
    >>> check_device_name("gpu")
    Traceback (most recent call last):
    ...
    semlink.errors.SemlinkError: unknown device 'gpu'; accepted: auto, cpu, cuda, cuda:N, mps
    """
    if isinstance(name, str) and _DEVICE_NAME.fullmatch(name.strip().lower()):
        return name
    raise choice_error("device", name, ACCEPTED_DEVICES)


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """The ``torch.device`` named by ``device`` (see the module docstring), checked to exist here.

    Raises
    ------
    SemlinkError
        An unknown name (the message lists the accepted ones).
    MissingResourceError
        ``cuda``/``cuda:N``/``mps`` where torch sees no such device (``cuda:N`` past the GPU count).
    """
    import torch  # here, not at import: configs check device names without loading torch

    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(device, torch.device):
        dev = device
    else:
        dev = torch.device(check_device_name(device).strip().lower())
    if dev.type not in ("cpu", "cuda", "mps"):
        raise choice_error("device", device, ACCEPTED_DEVICES)
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise MissingResourceError(
                f"device {str(device)!r} asked for but torch sees no CUDA GPU (torch {torch.__version__}, "
                f"built for CUDA {torch.version.cuda}); use device 'cpu' or 'auto'"
            )
        if dev.index is not None and dev.index >= count:
            raise MissingResourceError(
                f"device {str(device)!r} asked for but torch sees {count} CUDA GPU(s): "
                f"cuda:0..cuda:{count - 1}"
            )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise MissingResourceError(
            f"device {str(device)!r} asked for but MPS is not available; use 'cpu' or 'auto'"
        )
    return dev
