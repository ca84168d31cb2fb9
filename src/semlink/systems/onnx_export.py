"""Export a trained KBSC codec as two ONNX graphs: the transmitter and the receiver.

- ``tx_encoder.onnx``: ``features [B, D] float32`` → ``symbols [B, 2·channel_uses] float32``: the
  on-air channel symbols, interleaved re/im (pair them with :func:`semlink.phy.real_to_complex`;
  ONNX has no complex tensors), each example scaled to unit average energy per complex symbol
  exactly as :class:`semlink.phy.AnalogLink` does (:func:`semlink.phy.unit_energy_scale`).
- ``rx_decoder.onnx``: ``symbols [B, 2·channel_uses] float32`` (and, for a noise-aware decoder,
  ``noise_var [B, channel_uses] float32``) → ``features [B, D] float32``: the received equalised
  symbols as they come off the link (``AnalogOutput.symbols_hat`` as reals, in the on-air scale)
  and their per-symbol noise variance (``AnalogOutput.noise_var``, in the convention of the
  equaliser the codec was trained with, recorded in its ``config.json``). That is all the receiver
  has: it never learns the transmit scale. A blind decoder (``noise_input = "none"``) takes
  ``symbols`` alone.

Both graphs have a dynamic batch axis. BatchNorm runs in inference mode (running statistics).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import torch
from torch import nn

from semlink.io import atomic_path
from semlink.phy import unit_energy_scale
from semlink.systems.kbsc_model import KbscCodec, load_codec


class _Encoder(nn.Module):
    def __init__(self, codec: KbscCodec) -> None:
        super().__init__()
        self.codec = codec

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        latent = self.codec.encode(features)
        return latent * unit_energy_scale(latent)


class _Decoder(nn.Module):
    def __init__(self, codec: KbscCodec) -> None:
        super().__init__()
        self.codec = codec

    def forward(self, symbols: torch.Tensor, noise_var: torch.Tensor | None = None) -> torch.Tensor:
        return self.codec.decode(symbols, noise_var)


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
    rx_inputs = (torch.randn(2, 2 * codec.channel_uses),)
    rx_names = ["symbols"]
    if codec.decompressor.noise_aware:
        rx_inputs += (torch.rand(2, codec.channel_uses),)
        rx_names.append("noise_var")
    jobs = [
        ("tx_encoder.onnx", _Encoder(codec), (torch.randn(2, codec.feature_dim),), ["features"], ["symbols"]),
        ("rx_decoder.onnx", _Decoder(codec), rx_inputs, rx_names, ["features"]),
    ]
    paths = []
    for filename, module, example, in_names, out_names in jobs:
        axes = {name: {0: "batch"} for name in [*in_names, *out_names]}
        with atomic_path(out / filename) as tmp, torch.no_grad():
            torch.onnx.export(
                module, example, str(tmp), input_names=in_names, output_names=out_names,
                dynamic_axes=axes, dynamo=False, **kwargs,
            )
        paths.append(out / filename)
    return paths
