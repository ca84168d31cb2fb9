"""semlink: semantic image transmission over a real link-level physical layer.

Subpackages
-----------
- :mod:`semlink.phy`     Sionna 2 physical layer: ``DigitalLink`` (LDPC+QAM+OFDM) and ``AnalogLink``.
- :mod:`semlink.bridge`  zero-copy tensor crossings (torch, NumPy, FAISS, any ``__dlpack__`` producer).
- :mod:`semlink.tx`      transmitter side: image encoders, feature compressors.
- :mod:`semlink.rx`      receiver side: feature decompressors, retrieval scoring.
- :mod:`semlink.kb`      the receiver's FAISS knowledge base.
- :mod:`semlink.data`    datasets by name and the sender/receiver splits.
- :mod:`semlink.systems` end-to-end systems (transmitter + link + receiver) by name.
- :mod:`semlink.sim`     sweep runner, seeds, results files, plots.
"""

__version__ = "0.1.0"
