"""semlink.tx: transmitter side - image encoders and feature compressors, image codecs, the deep-JSCC
encoder, and the Multi-SC stages (segmentation, block captioning, text and box serialisation).

Names load lazily (PEP 562): ``import semlink.tx.codecs.base`` or a registry listing imports no torch.
"""

from typing import TYPE_CHECKING

from semlink.lazy import lazy_exports

_EXPORTS = {
    "Captioner": "caption", "available_captioners": "caption", "create_captioner": "caption",
    "split_blocks": "caption",
    "ClipImageEncoder": "encoders", "EfficientNetLite0Encoder": "encoders", "ImageEncoder": "encoders",
    "available_encoders": "encoders", "create_encoder": "encoders", "parse_encoder_spec": "encoders",
    "register_encoder": "encoders",
    "extract_features": "features", "feature_cache_path": "features",
    "BOX_BITS": "segment", "Segmentation": "segment", "Segmenter": "segment", "available_segmenters": "segment",
    "create_segmenter": "segment", "decode_box": "segment", "encode_box": "segment",
    "HEADER_BITS": "text", "PackedTexts": "text", "TextCodec": "text",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:  # pragma: no cover
    from semlink.tx.caption import Captioner, available_captioners, create_captioner, split_blocks  # noqa: F401
    from semlink.tx.encoders import (  # noqa: F401
        ClipImageEncoder,
        EfficientNetLite0Encoder,
        ImageEncoder,
        available_encoders,
        create_encoder,
        parse_encoder_spec,
        register_encoder,
    )
    from semlink.tx.features import extract_features, feature_cache_path  # noqa: F401
    from semlink.tx.segment import (  # noqa: F401
        BOX_BITS,
        Segmentation,
        Segmenter,
        available_segmenters,
        create_segmenter,
        decode_box,
        encode_box,
    )
    from semlink.tx.text import HEADER_BITS, PackedTexts, TextCodec  # noqa: F401
