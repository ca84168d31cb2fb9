"""The deep-JSCC codec (Bourtsoulatze et al. 2019; ADJSCC, Xu et al. 2021): both halves, checkpoints.

:class:`JsccCodec` pairs :class:`semlink.tx.jscc.JsccEncoder` (image → unit-energy complex symbols)
with :class:`semlink.rx.jscc.JsccDecoder` (the link's front end → image). It is trained end to end
(:mod:`semlink.systems.jscc_training`) with MSE on [0, 1] pixels through a differentiable
:data:`~semlink.systems.analog_codec.SymbolChannel` — normally :class:`semlink.phy.AnalogLink`
wrapped by :func:`~semlink.systems.analog_codec.symbol_channel`.

- ``snr_adaptive = True`` (the default; ADJSCC): one codec for every SNR; the encoder is told the
  fed-back SNR (``snr_at_transmitter``), the decoder conditions on the SNR its front end reports.
- ``snr_adaptive = False`` (Bourtsoulatze et al. 2019 exactly): blind encoder and decoder; trained
  over a range of SNRs it is one model for all, trained at one SNR it is the paper's per-SNR codec.

One codec may serve every budget up to its ``channel_uses`` (``encode(..., channel_uses=b)`` sends
the first ``2b`` latent reals; the decoder zero-fills what it did not receive).

Linear skip (a ``klt`` given; what :func:`~semlink.systems.jscc_training.train_jscc` builds by
default): the networks learn *corrections* to the linear analog code (:mod:`semlink.tx.linear_analog`,
its KLT fitted on the training images and stored in the checkpoint). The sent reals are the linear
code's (unit energy, Lee–Petersen allocation at the fed-back SNR) plus the encoder's latent,
normalised to unit energy together; the image is the linear LMMSE estimate from the link's front
end plus the decoder's correction, which reads the front end and that LMMSE image (clipped to
[0, 1] in eval mode; unclipped while training, so pixels the linear estimate puts out of range
still get gradients). Both networks' last layers start at zero: training starts exactly from the
linear code and learns what a linear code cannot (image priors, nonlinear mappings). Why: on a
CPU budget of minutes the plain networks do not even reach the linear code at high SNR (they must
first learn an approximately invertible map; Fashion-MNIST, 392 uses, 10 dB: 22.8 dB after 3.4 CPU
minutes against the linear code's 25.8), while with the skip one codec for 64-392 uses beats the
linear code by 1.3-2.1 dB at 128 and 392 uses, -4 to 13 dB, in about 6 CPU minutes
(``benchmarks/jscc_quality.py``).
The transmitter uses the fed-back SNR for the linear part even when the networks are blind
(``snr_at_transmitter``).

The bandwidth ratio is ``channel_uses / (H·W·C)``: complex channel uses per source value. The
encoder normalises every image to unit average energy per complex symbol, so
:class:`~semlink.phy.AnalogLink`'s own per-example normalisation is the identity on its symbols.

Checkpoints are a folder with ``model.safetensors`` and ``config.json`` (kind ``"deep-jscc"``,
architecture, image shape, channel uses, training history, provenance) — no pickle.

>>> import torch
>>> codec = JsccCodec((28, 28), channel_uses=64, filters=8).eval()
>>> symbols = codec.encode(torch.rand(3, 1, 28, 28), snr_db=10.0)
>>> symbols.shape, codec.decode(symbols, torch.full((3, 64), 0.09)).shape
(torch.Size([3, 64]), torch.Size([3, 1, 28, 28]))
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from semlink.errors import CorruptFileError, MissingResourceError, SemlinkError, require
from semlink.rx.jscc import JsccDecoder
from semlink.systems.analog_codec import (
    EVAL_BATCH_SIZE,
    Reconstruction,
    SymbolChannel,
    symbol_channel,
    transmit_images,
    uint8_images,
)
from semlink.tx.jscc import KERNEL_SIZE, SNR_CONTEXT_RANGE_DB, JsccEncoder, JsccLayout, flag, power_normalize
from semlink.tx.linear_analog import KltBasis

KIND = "deep-jscc"
#: 2: the decoder reads the link's (estimate, error_var); SNR-adaptive (AF) and GDN options.
CHECKPOINT_FORMAT = 2


class JsccCodec(nn.Module):
    """Deep-JSCC encoder + decoder for one image shape and (largest) channel-use budget.

    :param image_shape: ``(H, W)`` or ``(H, W, C)``.
    :param channel_uses: complex symbols per image, the largest budget the codec serves
        (see :class:`~semlink.tx.jscc.JsccLayout`).
    :param filters: feature maps of the inner layers (the paper's 32).
    :param snr_adaptive: ADJSCC's attention-feature modules in both halves (module docstring).
    :param gdn: GDN / inverse GDN before the hidden activations.
    :param klt: a fitted :class:`~semlink.tx.linear_analog.KltBasis` (``min(2·channel_uses, H·W·C)``
        components, or fewer where fewer training images gave fewer: the rest of the budget's reals
        then carry the networks' residual alone): the networks learn corrections to the linear analog
        code on it (``linear_skip``, module docstring). None: plain networks.

    ``encode``: ``[B, C, H, W] float32`` in [0, 1] (and the fed-back ``snr_db``) →
    ``[B, channel_uses] complex64`` (unit energy per image); ``decode``: the link's
    ``(estimate [B, N] complex64, error_var [B, N] float32)`` → ``[B, C, H, W] float32`` in [0, 1].
    """

    def __init__(self, image_shape: Sequence[int], channel_uses: int, filters: int = 32,
                 snr_adaptive: bool = True, gdn: bool = False, klt: KltBasis | None = None) -> None:
        super().__init__()
        self.layout = JsccLayout.for_image(image_shape, channel_uses)
        skip = klt is not None
        self.encoder = JsccEncoder(self.layout, filters, snr_adaptive=snr_adaptive, gdn=gdn, residual=skip)
        self.decoder = JsccDecoder(self.layout, filters, snr_adaptive=snr_adaptive, gdn=gdn, residual=skip)
        if skip:
            require(isinstance(klt, KltBasis) and klt.image_shape == self.layout.image_shape,
                    f"the linear skip's KLT is for images {getattr(klt, 'image_shape', None)}, "
                    f"not {self.layout.image_shape}")
            # A KLT of fewer components than the budget's reals (fitted on fewer images than that) leaves the
            # linear code's other reals at zero power: the network's residual is free to use them.
        self.klt = klt
        self._linear_halves: dict[int, tuple[Any, Any]] = {}  # budget -> the linear code's (encoder, decoder)

    def _linear(self, channel_uses: int):
        """The linear analog code's encoder and decoder at a budget (built once; they share ``self.klt``)."""
        if channel_uses not in self._linear_halves:
            from semlink.rx.linear_analog import LinearAnalogDecoder
            from semlink.tx.linear_analog import LinearAnalogEncoder

            self._linear_halves[channel_uses] = (LinearAnalogEncoder(self.klt, channel_uses),
                                                 LinearAnalogDecoder(self.klt, channel_uses))
        return self._linear_halves[channel_uses]

    def set_snr_limits(self, snr_db: Sequence[float]) -> None:
        """Clip the SNR the attention-feature modules read to ``[min(snr_db), max(snr_db)]`` (the training
        SNRs): above them (no noise included) the networks see the highest SNR they learned, not an input
        they would extrapolate from. The linear skip's allocation still uses the true SNR."""
        limits = (float(min(snr_db)), float(max(snr_db)))
        self.encoder.snr_limits_db = self.decoder.snr_limits_db = limits

    @property
    def linear_skip(self) -> bool:
        return self.klt is not None

    @property
    def snr_at_transmitter(self) -> bool:
        """Whether the transmitter uses the fed-back SNR (AF modules or the linear skip's allocation)."""
        return self.snr_adaptive or self.linear_skip

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.layout.image_shape

    @property
    def channel_uses(self) -> int:
        return self.layout.channel_uses

    @property
    def filters(self) -> int:
        return self.encoder.filters

    @property
    def snr_adaptive(self) -> bool:
        return self.encoder.snr_adaptive

    @property
    def gdn(self) -> bool:
        return self.encoder.gdn

    @property
    def bandwidth_ratio(self) -> float:
        """Complex channel uses per source value (H·W·C) at the largest budget."""
        return self.layout.bandwidth_ratio

    def encode(self, images: torch.Tensor, snr_db: float | torch.Tensor | None = None,
               channel_uses: int | None = None) -> torch.Tensor:
        if self.klt is None:
            return self.encoder(images, snr_db, channel_uses)
        from semlink.phy import real_to_complex

        return real_to_complex(self.encode_reals(images, snr_db, channel_uses))

    def encode_reals(self, images: torch.Tensor, snr_db: float | torch.Tensor | None = None,
                     channel_uses: int | None = None) -> torch.Tensor:
        """On-air reals ``[B, 2·channel_uses] float32`` (interleaved re/im, unit energy per symbol)."""
        if self.klt is None:
            return self.encoder.forward_reals(images, snr_db, channel_uses)
        self.encoder.check_images(images)
        uses = self.encoder.sent_reals(channel_uses) // 2
        require(snr_db is not None, "the linear skip allocates power at the fed-back SNR: give snr_db")
        linear = self._linear(uses)[0].forward_reals(images, snr_db)
        return power_normalize(linear + self.encoder.latent(images, snr_db, uses))

    def decode(self, estimate: torch.Tensor, error_var: torch.Tensor) -> torch.Tensor:
        if self.klt is None:
            return self.decoder(estimate, error_var)
        from semlink.phy import complex_to_real

        if not isinstance(estimate, torch.Tensor) or not estimate.is_complex():
            self.decoder(estimate, error_var)  # raises the decoder's message
        return self.decode_reals(complex_to_real(estimate), error_var)

    def decode_reals(self, reals: torch.Tensor, error_var: torch.Tensor) -> torch.Tensor:
        """The link's estimates as interleaved reals ``[B, 2N]`` and ``error_var [B, N]`` → ``[B, C, H, W]``."""
        if self.klt is None:
            return self.decoder.forward_reals(reals, error_var)
        linear = self.klt.unflatten(self._linear(int(error_var.shape[1]))[1].values_from_reals(reals, error_var))
        images = linear + self.decoder.forward_reals(reals, error_var, base=linear)
        return images if self.training else images.clamp(0.0, 1.0)

    def forward(self, images: torch.Tensor, channel: SymbolChannel, snr_db: float | torch.Tensor,
                channel_uses: int | None = None) -> torch.Tensor:
        """``images → encode → channel(·, snr_db) → decode``: ``[B, C, H, W]`` in and out."""
        received = channel(self.encode(images, snr_db, channel_uses), snr_db)
        return self.decode(received.estimate, received.error_var)

    def architecture(self) -> dict[str, Any]:
        lay = self.layout
        return {
            "architecture": "adjscc" if self.snr_adaptive else "bourtsoulatze2019",
            "image_shape": list(lay.image_shape),
            "channel_uses": lay.channel_uses,
            "filters": self.filters,
            "snr_adaptive": self.snr_adaptive,
            "gdn": self.gdn,
            "linear_skip": self.linear_skip,
            "snr_at_transmitter": self.snr_at_transmitter,
            "klt_components": self.klt.num_components if self.klt is not None else 0,
            "kernel_size": KERNEL_SIZE,
            "latent_shape": [lay.latent_channels, lay.latent_height, lay.latent_width],
            "sent_reals": lay.sent_reals,
            "bandwidth_ratio": lay.bandwidth_ratio,
        }


def save_jscc(
    codec: JsccCodec,
    directory: str | os.PathLike[str],
    history: Any = None,
    **provenance: Any,
) -> None:
    """Write ``model.safetensors`` and ``config.json`` into ``directory`` (each atomically).

    ``config.json`` holds ``kind = "deep-jscc"``, the architecture, the training ``history`` and
    whatever ``provenance`` is given (dataset, channel, training settings, seed, ...: JSON values).
    """
    from semlink.systems.checkpoints import write_checkpoint

    if is_dataclass(history):
        history = asdict(history)
    if history is not None:
        provenance = {**provenance, "history": history}
    if codec.encoder.snr_limits_db != SNR_CONTEXT_RANGE_DB:
        provenance = {**provenance, "snr_limits_db": list(codec.encoder.snr_limits_db)}
    write_checkpoint(directory, codec, kind=KIND, format=CHECKPOINT_FORMAT, architecture=codec.architecture(),
                     provenance=provenance)


def load_jscc(
    directory: str | os.PathLike[str],
    map_location: str | torch.device = "cpu",
    expect_image_shape: Sequence[int] | None = None,
    expect_channel_uses: int | None = None,
) -> tuple[JsccCodec, dict[str, Any]]:
    """Load a codec saved by :func:`save_jscc` (in eval mode) and its ``config.json``.

    Raises :class:`MissingResourceError` for a missing file, :class:`CorruptFileError` for a config
    or weights file that is not this format or does not fit the architecture it names, and
    :class:`SemlinkError` when ``expect_image_shape`` (``(H, W)`` or ``(H, W, C)``) or
    ``expect_channel_uses`` disagree with the checkpoint.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from semlink.systems.checkpoints import verify_checkpoint

    directory = Path(directory)
    config_path, weights_path = directory / "config.json", directory / "model.safetensors"
    for path in (config_path, weights_path):
        if not path.is_file():
            raise MissingResourceError(
                f"checkpoint file {str(path)!r} is missing; a deep-JSCC checkpoint folder holds config.json "
                "and model.safetensors (written by save_jscc / semlink run)"
            )
    verify_checkpoint(directory)  # the weights' sha256 recorded in config.json, before any weight is read
    try:
        meta = json.loads(config_path.read_text())
        kind = meta.get("kind")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as err:
        raise CorruptFileError(f"{str(config_path)!r} is not a deep-JSCC checkpoint config ({err})") from None
    if kind != KIND:
        raise CorruptFileError(f"{str(config_path)!r} has kind {kind!r}; expected {KIND!r}")
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise CorruptFileError(
            f"{str(config_path)!r} has checkpoint format {meta.get('format')!r}; this version reads {CHECKPOINT_FORMAT}"
        )
    try:
        klt = None
        if meta["linear_skip"]:
            # Placeholders of the stored shapes; load_state_dict fills them.
            height, width, channels = meta["image_shape"] if len(meta["image_shape"]) == 3 else (*meta["image_shape"], 1)
            n, k = height * width * channels, int(meta["klt_components"])
            klt = KltBasis((height, width, channels), torch.zeros(n), torch.zeros(n, k), torch.zeros(k), 0.0)
        codec = JsccCodec(tuple(meta["image_shape"]), meta["channel_uses"], meta["filters"],
                          snr_adaptive=flag(meta["snr_adaptive"], "snr_adaptive"), gdn=flag(meta["gdn"], "gdn"),
                          klt=klt)
        # The training SNRs: recorded by save_jscc, else in the training settings the systems layer records.
        trained_at = meta.get("snr_limits_db") or (meta.get("train") or {}).get("snr_db")
        if trained_at:
            codec.set_snr_limits(trained_at)
    except (KeyError, TypeError, ValueError, SemlinkError) as err:
        raise CorruptFileError(f"{str(config_path)!r} does not describe a deep-JSCC codec ({err})") from None
    if meta.get("latent_shape") != codec.architecture()["latent_shape"]:
        raise CorruptFileError(
            f"{str(config_path)!r} names latent shape {meta.get('latent_shape')} but its image shape and "
            f"budget give {codec.architecture()['latent_shape']}"
        )
    if expect_image_shape is not None:
        want = JsccLayout.for_image(expect_image_shape, 1).image_shape
        require(want == codec.image_shape,
                f"checkpoint {str(directory)!r} is for images {codec.image_shape}, not {want}")
    if expect_channel_uses is not None:
        require(expect_channel_uses == codec.channel_uses,
                f"checkpoint {str(directory)!r} sends {codec.channel_uses} channel uses, not {expect_channel_uses}")
    try:
        state = load_file(str(weights_path), device=str(map_location))
        codec.load_state_dict(state)
    except (SafetensorError, RuntimeError, OSError) as err:
        raise CorruptFileError(f"{str(weights_path)!r} does not hold this codec's weights: {err}") from None
    return codec.to(map_location).eval(), meta


__all__ = [
    "EVAL_BATCH_SIZE",
    "KIND",
    "JsccCodec",
    "Reconstruction",
    "SymbolChannel",
    "load_jscc",
    "save_jscc",
    "symbol_channel",
    "uint8_images",
    "transmit_images",
]
