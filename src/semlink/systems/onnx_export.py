"""Export a trained KBSC codec as two ONNX graphs: the transmitter and the receiver.

- ``tx_encoder.onnx``: ``features [B, D] float32`` →
  ``symbols [B, 2·channel_uses] float32``: the on-air channel symbols, interleaved re/im (pair
  them with :func:`semlink.phy.real_to_complex`; ONNX has no complex tensors), scaled to unit
  average energy per complex symbol, as :class:`semlink.phy.AnalogLink` sends them;
  ``power_scale [B, 1] float32``: the factor that scaling applied; and
  ``latent [B, 2·channel_uses] float32``: the compressor output before it.
- ``rx_decoder.onnx``: ``latent [B, 2·channel_uses] float32`` → ``features [B, D] float32`` in
  feature space. Its input is the equalised symbols as reals divided by ``power_scale`` (the link
  returns them in that scale, the receiver knowing each example's scale as side information).

Both graphs have a dynamic batch axis. BatchNorm runs in inference mode (running statistics).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import torch
from torch import nn

from semlink.io import atomic_path
from semlink.systems.kbsc_model import KbscCodec, load_codec


class _Encoder(nn.Module):
    def __init__(self, codec: KbscCodec) -> None:
        super().__init__()
        self.codec = codec

    def forward(self, features: torch.Tensor):
        latent = self.codec.encode(features)
        # 2·mean(x²) over the reals = mean |s|² over the complex symbols
        power_scale = torch.rsqrt((2 * latent.square().mean(dim=-1, keepdim=True)).clamp_min(1e-30))
        return latent * power_scale, power_scale, latent


class _Decoder(nn.Module):
    def __init__(self, codec: KbscCodec) -> None:
        super().__init__()
        self.codec = codec

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.codec.decode(latent)


def export_codec(
    checkpoint: str | os.PathLike[str] | KbscCodec, out: str | os.PathLike[str], opset: int | None = None
) -> list[Path]:
    """Write ``tx_encoder.onnx`` and ``rx_decoder.onnx`` into ``out`` (atomically); return their paths."""
    codec = checkpoint if isinstance(checkpoint, KbscCodec) else load_codec(checkpoint)[0]
    # Export a copy: torch.onnx.export can leave the module it traced in training mode.
    codec = copy.deepcopy(codec).cpu().eval()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    kwargs = {"opset_version": opset} if opset else {}
    jobs = [
        ("tx_encoder.onnx", _Encoder(codec), torch.randn(2, codec.feature_dim), "features",
         ["symbols", "power_scale", "latent"]),
        ("rx_decoder.onnx", _Decoder(codec), torch.randn(2, 2 * codec.channel_uses), "latent", ["features"]),
    ]
    paths = []
    for filename, module, example, in_name, out_names in jobs:
        axes = {name: {0: "batch"} for name in [in_name, *out_names]}
        with atomic_path(out / filename) as tmp, torch.no_grad():
            torch.onnx.export(
                module, (example,), str(tmp), input_names=[in_name], output_names=out_names,
                dynamic_axes=axes, dynamo=False, **kwargs,
            )
        paths.append(out / filename)
    return paths
