"""End-to-end systems (transmitter + link + receiver), known to the runner by their config ``type``.

Names load lazily (the config specs are importable without torch, for a fast CLI).

>>> from semlink.systems.specs import SYSTEM_SPECS
>>> sorted(SYSTEM_SPECS)[:4]
['bpg+capacity', 'bpg+ldpc', 'deep-jscc', 'kbsc']
"""

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "SYSTEMS": "base", "Received": "base", "System": "base", "TextOutcome": "base", "create_systems": "base",
    "register_system": "base", "ExperimentContext": "context",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"semlink.systems.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'semlink.systems' has no attribute {name!r}")


if TYPE_CHECKING:  # pragma: no cover
    from semlink.systems.base import (  # noqa: F401
        SYSTEMS,
        Received,
        System,
        TextOutcome,
        create_systems,
        register_system,
    )
    from semlink.systems.context import ExperimentContext  # noqa: F401
