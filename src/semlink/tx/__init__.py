"""semlink.tx: transmitter side - image encoders and feature compressors, and the Multi-SC stages
(segmentation, block captioning, text and box serialisation)."""

from semlink.tx.caption import Captioner, available_captioners, create_captioner, split_blocks
from semlink.tx.encoders import (
    ClipImageEncoder,
    EfficientNetLite0Encoder,
    ImageEncoder,
    available_encoders,
    create_encoder,
    parse_encoder_spec,
    register_encoder,
)
from semlink.tx.features import extract_features, feature_cache_path
from semlink.tx.segment import (
    BOX_BITS,
    Segmentation,
    Segmenter,
    available_segmenters,
    create_segmenter,
    decode_box,
    encode_box,
)
from semlink.tx.text import HEADER_BITS, PackedTexts, TextCodec

__all__ = [
    "BOX_BITS",
    "Captioner",
    "ClipImageEncoder",
    "EfficientNetLite0Encoder",
    "HEADER_BITS",
    "ImageEncoder",
    "PackedTexts",
    "Segmentation",
    "Segmenter",
    "TextCodec",
    "available_captioners",
    "available_encoders",
    "available_segmenters",
    "create_captioner",
    "create_encoder",
    "create_segmenter",
    "decode_box",
    "encode_box",
    "extract_features",
    "feature_cache_path",
    "parse_encoder_spec",
    "register_encoder",
    "split_blocks",
]
