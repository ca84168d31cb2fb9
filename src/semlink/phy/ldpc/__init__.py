"""Fast CPU decoding of 5G NR LDPC codes: layered sum-product and normalised min-sum (numba).

- :mod:`~semlink.phy.ldpc.graph`: the quasi-cyclic decoding graph read from Sionna's
  ``LDPC5GEncoder`` (puncturing, filler bits, rate matching, output interleaver, pruning).
- :mod:`~semlink.phy.ldpc.layered`: the numba kernels (layers vectorised over the lifting size Z,
  blocks in parallel, early stop on the syndrome).
- :mod:`~semlink.phy.ldpc.approx`: float32 ``exp``/``log`` that vectorise.
- :mod:`~semlink.phy.ldpc.encoding`: :class:`FastEncoder`, encoding on the same graph (numba),
  bit-identical to Sionna's ``LDPC5GEncoder``.
- :mod:`~semlink.phy.ldpc.decoder`: :class:`LayeredDecoder`, the torch-facing entry.

:class:`semlink.phy.coding.LdpcCodec` (``decoder="layered-bp" | "layered-nms"``) is how the links use it.
"""

from semlink.phy.ldpc.decoder import DEFAULT_NMS_SCALE, LAYERED_RULES, LLR_MAX, LayeredDecoder, LayeredResult
from semlink.phy.ldpc.encoding import FastEncoder, gf2_inverse
from semlink.phy.ldpc.graph import QcGraph, code_block_graph, graph_from_encoder, mother_encoder, qc_graph

__all__ = [
    "DEFAULT_NMS_SCALE",
    "FastEncoder",
    "LAYERED_RULES",
    "LLR_MAX",
    "LayeredDecoder",
    "LayeredResult",
    "QcGraph",
    "code_block_graph",
    "gf2_inverse",
    "graph_from_encoder",
    "mother_encoder",
    "qc_graph",
]
