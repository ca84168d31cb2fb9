"""Export a trained codec as two ONNX graphs, the transmitter and the receiver, by checkpoint kind.

:func:`export_checkpoint` reads the checkpoint's ``config.json`` and dispatches on its ``kind``
(:data:`EXPORTERS`). Both graphs always have a dynamic batch axis and are named
``tx_encoder.onnx`` and ``rx_decoder.onnx``. ONNX has no complex tensors: symbols are interleaved
reals ``[re0, im0, re1, im1, ...]`` (pair them with :func:`semlink.phy.real_to_complex`).

KBSC (``kind = "kbsc-codec"``, :func:`export_codec`):

- ``tx_encoder.onnx``: ``features [B, D] float32`` → ``symbols [B, 2·channel_uses] float32``: the
  on-air channel symbols, interleaved re/im (pair them with :func:`semlink.phy.real_to_complex`;
  ONNX has no complex tensors), each example scaled to unit average energy per complex symbol
  exactly as :class:`semlink.phy.AnalogLink` does (:func:`semlink.phy.unit_energy_scale`).
- ``rx_decoder.onnx``: ``symbols [B, 2·channel_uses] float32`` (and, for a noise-aware decoder,
  ``error_var [B, channel_uses] float32``) → ``features [B, D] float32``: the link's front end as it
  comes off the link (``AnalogOutput.estimate`` as reals, the per-symbol LMMSE estimates in the
  on-air scale, and ``AnalogOutput.error_var``, their error variances). That is all the receiver
  has: it never learns the transmit scale. A blind decoder (``noise_input = "none"``) takes
  ``symbols`` alone.

BatchNorm runs in inference mode (running statistics).

Deep JSCC (``kind = "deep-jscc"``, :func:`export_jscc`), at the codec's full budget:

- ``tx_encoder.onnx``: ``images [B, C, H, W] float32`` in [0, 1] (and, for a codec that uses it —
  SNR-adaptive or with the linear skip —, ``snr_db [B] float32``, the fed-back SNR) →
  ``symbols [B, 2·channel_uses] float32``: the on-air symbols, unit average energy per complex
  symbol per image.
- ``rx_decoder.onnx``: ``symbols [B, 2·channel_uses] float32`` and ``error_var [B, channel_uses]
  float32``, the link's front end (a blind decoder without the linear skip reads ``symbols``
  only) → ``images [B, C, H, W] float32`` in [0, 1].
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from semlink.errors import CorruptFileError, MissingResourceError
from semlink.io import atomic_path
from semlink.phy import unit_energy_scale
from semlink.systems.jscc_model import JsccCodec, load_jscc
from semlink.systems.kbsc_model import KbscCodec, load_codec


class _KbscEncoder(nn.Module):
    def __init__(self, codec: KbscCodec) -> None:
        super().__init__()
        self.codec = codec

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        latent = self.codec.encode(features)
        return latent * unit_energy_scale(latent)


class _KbscDecoder(nn.Module):
    def __init__(self, codec: KbscCodec) -> None:
        super().__init__()
        self.codec = codec

    def forward(self, symbols: torch.Tensor, error_var: torch.Tensor | None = None) -> torch.Tensor:
        return self.codec.decode(symbols, error_var)


class _JsccEncoder(nn.Module):
    def __init__(self, codec: JsccCodec) -> None:
        super().__init__()
        self.codec = codec

    def forward(self, images: torch.Tensor, snr_db: torch.Tensor | None = None) -> torch.Tensor:
        return self.codec.encode_reals(images, snr_db)


class _JsccDecoder(nn.Module):
    def __init__(self, codec: JsccCodec) -> None:
        super().__init__()
        self.codec = codec

    def forward(self, symbols: torch.Tensor, error_var: torch.Tensor | None = None) -> torch.Tensor:
        if error_var is None:  # a blind decoder's graph: it reads no error variance
            error_var = symbols.new_zeros(symbols.shape[0], symbols.shape[1] // 2)
        return self.codec.decode_reals(symbols, error_var)


_Job = tuple[str, nn.Module, tuple[torch.Tensor, ...], list[str], list[str]]


def _export(jobs: list[_Job], out: str | os.PathLike[str], opset: int | None) -> list[Path]:
    """Trace each ``(filename, module, example inputs, input names, output names)`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    kwargs = {"opset_version": opset} if opset else {}
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


def export_codec(
    checkpoint: str | os.PathLike[str] | KbscCodec, out: str | os.PathLike[str], opset: int | None = None
) -> list[Path]:
    """Write a KBSC codec's ``tx_encoder.onnx`` and ``rx_decoder.onnx`` into ``out`` (atomically); return their paths."""
    codec = checkpoint if isinstance(checkpoint, KbscCodec) else load_codec(checkpoint)[0]
    # Export a copy: torch.onnx.export can leave the module it traced in training mode.
    codec = copy.deepcopy(codec).cpu().eval()
    rx_inputs: tuple[torch.Tensor, ...] = (torch.randn(2, 2 * codec.channel_uses),)
    rx_names = ["symbols"]
    if codec.decompressor.noise_aware:
        rx_inputs += (torch.rand(2, codec.channel_uses),)
        rx_names.append("error_var")
    return _export([
        ("tx_encoder.onnx", _KbscEncoder(codec), (torch.randn(2, codec.feature_dim),), ["features"], ["symbols"]),
        ("rx_decoder.onnx", _KbscDecoder(codec), rx_inputs, rx_names, ["features"]),
    ], out, opset)


def export_jscc(
    checkpoint: str | os.PathLike[str] | JsccCodec, out: str | os.PathLike[str], opset: int | None = None
) -> list[Path]:
    """Write a deep-JSCC codec's ``tx_encoder.onnx`` and ``rx_decoder.onnx`` into ``out``; return their paths."""
    codec = checkpoint if isinstance(checkpoint, JsccCodec) else load_jscc(checkpoint)[0]
    codec = copy.deepcopy(codec).cpu().eval()
    height, width, channels = codec.image_shape
    tx_inputs: tuple[torch.Tensor, ...] = (torch.rand(2, channels, height, width),)
    tx_names = ["images"]
    rx_inputs: tuple[torch.Tensor, ...] = (torch.randn(2, 2 * codec.channel_uses),)
    rx_names = ["symbols"]
    if codec.snr_at_transmitter:
        tx_inputs += (torch.tensor([0.0, 10.0]),)
        tx_names.append("snr_db")
    if codec.snr_adaptive or codec.linear_skip:
        rx_inputs += (torch.rand(2, codec.channel_uses),)
        rx_names.append("error_var")
    return _export([
        ("tx_encoder.onnx", _JsccEncoder(codec), tx_inputs, tx_names, ["symbols"]),
        ("rx_decoder.onnx", _JsccDecoder(codec), rx_inputs, rx_names, ["images"]),
    ], out, opset)


#: Checkpoint ``kind`` (in its ``config.json``) → exporter.
EXPORTERS: dict[str, Callable[..., list[Path]]] = {"kbsc-codec": export_codec, "deep-jscc": export_jscc}


def export_checkpoint(
    checkpoint: str | os.PathLike[str], out: str | os.PathLike[str], opset: int | None = None
) -> list[Path]:
    """Export the checkpoint folder ``checkpoint`` with the exporter its ``config.json`` kind names."""
    config_path = Path(checkpoint) / "config.json"
    if not config_path.is_file():
        raise MissingResourceError(
            f"checkpoint file {str(config_path)!r} is missing; export-onnx takes a checkpoint folder "
            f"(config.json + model.safetensors) of kind {', '.join(EXPORTERS)}"
        )
    try:
        kind = json.loads(config_path.read_text()).get("kind")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as err:
        raise CorruptFileError(f"{str(config_path)!r} is not a checkpoint config ({err})") from None
    if kind not in EXPORTERS:
        raise CorruptFileError(
            f"{str(config_path)!r} has checkpoint kind {kind!r}; export-onnx accepts: {', '.join(EXPORTERS)}"
        )
    return EXPORTERS[kind](checkpoint, out, opset)
