"""End-to-end systems (transmitter + link + receiver), known to the runner by their config ``type``.

Names load lazily (the config specs are importable without torch, for a fast CLI).

>>> from semlink.systems.specs import SYSTEM_TYPES
>>> SYSTEM_TYPES.names()[:4]
['bpg+capacity', 'bpg+ldpc', 'deep-jscc', 'kbsc']
"""

from typing import TYPE_CHECKING

from semlink.lazy import lazy_exports

_EXPORTS = {
    "Received": "base", "RunSetting": "base", "System": "base", "SystemBase": "base", "TextOutcome": "base",
    "create_systems": "base",
    "Artifacts": "context", "Queries": "context", "ReceiverLibrary": "context", "Source": "context",
    "SystemContext": "context", "TrainingData": "context",
    "SYSTEM_TYPES": "specs", "SystemSpec": "specs", "BudgetSpec": "specs", "register_system_type": "specs",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:  # pragma: no cover
    from semlink.systems.base import (  # noqa: F401
        Received,
        RunSetting,
        System,
        SystemBase,
        TextOutcome,
        create_systems,
    )
    from semlink.systems.context import (  # noqa: F401
        Artifacts,
        Queries,
        ReceiverLibrary,
        Source,
        SystemContext,
        TrainingData,
    )
    from semlink.systems.specs import SYSTEM_TYPES, BudgetSpec, SystemSpec, register_system_type  # noqa: F401
