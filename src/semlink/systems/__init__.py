"""End-to-end systems (transmitter + link + receiver), known to the runner by their config ``type``.

Names load lazily (the config specs are importable without torch, for a fast CLI).

>>> from semlink.systems.specs import SYSTEM_SPECS
>>> sorted(SYSTEM_SPECS)[:4]
['bpg+capacity', 'bpg+ldpc', 'deep-jscc', 'kbsc']
"""

from typing import TYPE_CHECKING

from semlink.lazy import lazy_exports

_EXPORTS = {
    "SYSTEMS": "base", "Received": "base", "System": "base", "TextOutcome": "base", "create_systems": "base",
    "register_system": "base", "ExperimentContext": "context",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


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
