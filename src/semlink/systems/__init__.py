"""End-to-end systems (transmitter + link + receiver), known to the runner by their config ``type``.

>>> from semlink.systems.specs import SYSTEM_SPECS
>>> sorted(SYSTEM_SPECS)
['kbsc', 'kbsc-digital', 'noiseless', 'raw']
"""

from semlink.systems.base import SYSTEMS, Received, System, TextOutcome, create_systems, register_system
from semlink.systems.context import ExperimentContext

__all__ = ["SYSTEMS", "ExperimentContext", "Received", "System", "TextOutcome", "create_systems", "register_system"]
