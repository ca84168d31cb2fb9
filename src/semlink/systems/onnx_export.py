"""Export a trained KBSC codec as two ONNX graphs: the transmitter and the receiver.

- ``tx_encoder.onnx``: ``features [B, D] float32`` → ``latent [B, 2·channel_uses] float32``: the
  channel symbols as reals, paired into complex symbols by :func:`semlink.phy.real_to_complex`
  (ONNX has no complex tensors, so the pairing stays outside the graph).
- ``rx_decoder.onnx``: ``latent [B, 2·channel_uses] float32`` (equalised symbols as reals, see
  :func:`semlink.phy.complex_to_real`) → ``features [B, D] float32`` in feature space.

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
        ("tx_encoder.onnx", codec.compressor, torch.zeros(2, codec.feature_dim), "features", "latent"),
        ("rx_decoder.onnx", _Decoder(codec), torch.zeros(2, 2 * codec.channel_uses), "latent", "features"),
    ]
    paths = []
    for filename, module, example, in_name, out_name in jobs:
        with atomic_path(out / filename) as tmp, torch.no_grad():
            torch.onnx.export(
                module, (example,), str(tmp), input_names=[in_name], output_names=[out_name],
                dynamic_axes={in_name: {0: "batch"}, out_name: {0: "batch"}}, dynamo=False, **kwargs,
            )
        paths.append(out / filename)
    return paths
