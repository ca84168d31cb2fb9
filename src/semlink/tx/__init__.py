"""semlink.tx: transmitter side - image encoders and feature compressors."""

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

__all__ = [
    "ClipImageEncoder",
    "EfficientNetLite0Encoder",
    "ImageEncoder",
    "available_encoders",
    "create_encoder",
    "extract_features",
    "feature_cache_path",
    "parse_encoder_spec",
    "register_encoder",
]
