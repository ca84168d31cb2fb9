"""Image codecs by name, their payload accounting, and rate matching to a bit budget.

``create_codec(name, **options)`` builds a codec (:func:`available_codecs` lists the names):

- ``bpg``: HEVC intra as BPG does it, through x265 and ffmpeg (:mod:`~semlink.tx.codecs.hevc`);
- ``jpeg``, ``webp``, ``avif``, ``jpeg2000``: through Pillow (:mod:`~semlink.tx.codecs.pillow`).

Every codec encodes and decodes in batches and reports payload bytes, header bytes, receiver-known
side information and time (:class:`Encoded`, :class:`CodecStats`). :func:`fit_to_budget` picks per
image the best quality whose payload fits a bit budget (see :mod:`~semlink.tx.codecs.rate`);
:class:`EncodeCache` keeps encodes across calls and runs.
"""

from semlink.tx.codecs.base import (
    CODECS,
    CodecStats,
    Encoded,
    ImageCodec,
    available_codecs,
    create_codec,
    register_codec,
)
from semlink.tx.codecs.cache import EncodeCache
from semlink.tx.codecs.hevc import BpgCodec, qp_to_quality, quality_to_qp
from semlink.tx.codecs.pillow import AvifCodec, Jpeg2000Codec, JpegCodec, WebpCodec
from semlink.tx.codecs.rate import Fitted, fit_to_budget, mean_image

__all__ = [
    "CODECS",
    "AvifCodec",
    "BpgCodec",
    "CodecStats",
    "EncodeCache",
    "Encoded",
    "Fitted",
    "ImageCodec",
    "Jpeg2000Codec",
    "JpegCodec",
    "WebpCodec",
    "available_codecs",
    "create_codec",
    "fit_to_budget",
    "mean_image",
    "qp_to_quality",
    "quality_to_qp",
    "register_codec",
]
