"""End-to-end systems (transmitter + link + receiver), known to the runner by name.

>>> from semlink.systems import SYSTEMS
>>> sorted(SYSTEMS)
['kbsc', 'kbsc-digital', 'noiseless', 'raw']
"""

from semlink.systems import kbsc as _kbsc  # noqa: F401  (registers the KBSC systems)
from semlink.systems.base import SYSTEMS, ExperimentContext, create_system, register_system, retrieval_metrics

__all__ = ["SYSTEMS", "ExperimentContext", "create_system", "register_system", "retrieval_metrics"]
