"""semlink: semantic image transmission over a real link-level physical layer.

Subpackages
-----------
- :mod:`semlink.phy`     Sionna 2 physical layer: ``DigitalLink`` (5G NR transport blocks, QAM, OFDM) and
                        ``AnalogLink``.
- :mod:`semlink.bridge`  zero-copy tensor crossings (torch, NumPy, FAISS, any ``__dlpack__`` producer).
- :mod:`semlink.tx`      transmitter side: image encoders, feature compressors.
- :mod:`semlink.rx`      receiver side: feature decompressors, retrieval scoring.
- :mod:`semlink.kb`      the receiver's FAISS knowledge base.
- :mod:`semlink.data`    datasets by name and the sender/receiver splits.
- :mod:`semlink.systems` end-to-end systems (transmitter + link + receiver) by name.
- :mod:`semlink.sim`     sweep runner, seeds, results files, plots.

From Python (docs/PYTHON.md): ``semlink.run(config | path | dict, out=None, resume=False)`` runs an
experiment and returns its results table; ``semlink.load_runs(dirs)`` reads finished runs back.
Both load on first use, so ``import semlink`` stays light.
"""

# Before anything imports torch: OpenMP threads wait passively, never spinning on a core another
# process needs (semlink.threads; a user's OMP_WAIT_POLICY is kept).
import semlink.threads  # noqa: F401, I001
from semlink.lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {"run": "sim.api", "load_runs": "sim.api"}
__all__ = ["__version__", *sorted(_EXPORTS)]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
