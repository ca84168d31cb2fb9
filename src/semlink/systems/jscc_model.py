"""The deep-JSCC codec (Bourtsoulatze, Kurka & Gündüz, 2019): both halves, training, checkpoints.

:class:`JsccCodec` pairs :class:`semlink.tx.jscc.JsccEncoder` (image → ``channel_uses`` unit-energy
complex symbols) with :class:`semlink.rx.jscc.JsccDecoder` (received symbols → image). It is
trained end to end with MSE on [0, 1] pixels through a differentiable channel — normally
:class:`semlink.phy.AnalogLink` wrapped by :func:`symbol_channel` — at a training SNR drawn per
batch, so one codec serves every SNR (the paper trains one per SNR; a single codec across SNRs is
the graceful-degradation setting its later work uses, and what a comparison across SNRs needs).

The bandwidth ratio is ``channel_uses / (H·W·C)``: complex channel uses per source value. The
encoder normalises every image to unit average energy per complex symbol, so
:class:`~semlink.phy.AnalogLink`'s own per-example normalisation is the identity on its symbols:
whether the link returns the equalised symbols in the input's scale or in the normalised scale,
the decoder sees the same values (and the same gradients: the energy of a normalised vector is 1
whatever the encoder does, so the link's scale carries no gradient).

Checkpoints are a folder with ``model.safetensors`` and ``config.json`` (kind ``"deep-jscc"``,
architecture, image shape, channel uses, training history, provenance) — no pickle.

>>> import torch
>>> codec = JsccCodec((28, 28), channel_uses=64, filters=8).eval()
>>> symbols = codec.encode(torch.rand(3, 1, 28, 28))
>>> symbols.shape, codec.decode(symbols).shape
(torch.Size([3, 64]), torch.Size([3, 1, 28, 28]))
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from semlink.errors import CorruptFileError, MissingResourceError, SemlinkError, require
from semlink.io import atomic_path, write_json_atomic
from semlink.metrics import psnr_db
from semlink.rx.jscc import JsccDecoder, images_to_uint8
from semlink.tx.jscc import KERNEL_SIZE, JsccEncoder, JsccLayout, images_to_tensor

KIND = "deep-jscc"
CHECKPOINT_FORMAT = 1
#: Images per forward pass when validating or evaluating (bounds memory for large images).
EVAL_BATCH_SIZE = 256

SymbolChannel = Callable[[torch.Tensor, float], torch.Tensor]
"""A differentiable channel on symbols: ``(symbols [B, N] complex64, snr_db) → received [B, N] complex64``."""


def symbol_channel(link) -> SymbolChannel:
    """Wrap :class:`semlink.phy.AnalogLink` as a symbols-to-equalised-symbols channel (``+inf`` dB: none)."""
    from semlink.systems.base import is_noiseless

    def channel(symbols: torch.Tensor, snr_db: float) -> torch.Tensor:
        if is_noiseless(snr_db):
            return symbols
        return link(symbols, snr_db).symbols_hat

    return channel


@dataclass(frozen=True)
class JsccTrainSettings:
    """How a deep-JSCC codec is trained.

    The defaults train a Fashion-MNIST codec (8000 images) in about 40–55 s of single-thread CPU
    time, AWGN or OFDM TDL-A alike (``benchmarks/jscc_training.py``); ``filters = 16`` is half the
    paper's width: at equal training time it did as well as 32 in our runs (392 uses, AWGN, ~50 s:
    20.7 dB against 20.3 dB at 10 dB SNR), since it fits twice the epochs.
    Adam at ``lr`` with a cosine decay to ``lr · final_lr_fraction`` over all ``epochs`` (per step);
    the training SNR is drawn per batch from ``snr_db``; the epoch with the best validation PSNR is
    kept and training stops after ``patience`` epochs without a better one.
    """

    epochs: int = 10
    patience: int = 3
    batch_size: int = 32
    lr: float = 3e-3
    final_lr_fraction: float = 0.05
    snr_db: tuple[float, ...] = (-7.0, -4.0, 0.0, 4.0, 7.0, 10.0, 13.0)
    filters: int = 16

    def __post_init__(self) -> None:
        object.__setattr__(self, "snr_db", tuple(float(s) for s in self.snr_db))
        for name in ("epochs", "patience", "batch_size", "filters"):
            value = getattr(self, name)
            require(isinstance(value, int) and not isinstance(value, bool) and value > 0,
                    f"{name} = {value!r}; must be a positive integer")
        require(self.filters >= 2, f"filters = {self.filters}; must be at least 2")
        require(math.isfinite(self.lr) and self.lr > 0, f"lr = {self.lr}; must be a positive number")
        require(0 < self.final_lr_fraction <= 1,
                f"final_lr_fraction = {self.final_lr_fraction}; must lie in (0, 1]")
        require(len(self.snr_db) > 0, "train snr_db is empty; give at least one training SNR in dB")
        require(all(math.isfinite(s) for s in self.snr_db), f"train snr_db {self.snr_db} must be finite dB values")


@dataclass
class JsccHistory:
    """Per-epoch training record. PSNRs in dB, mean of per-image PSNRs."""

    epoch_loss: list[float] = field(default_factory=list)  # training MSE on [0, 1] pixels
    val_psnr: list[float] = field(default_factory=list)  # each val image at one training SNR, all SNRs equally
    val_psnr_by_snr: list[dict[str, float]] = field(default_factory=list)  # {"-7.0": dB, ...}
    learning_rate: list[float] = field(default_factory=list)  # at the epoch's last step
    best_epoch: int = -1
    best_val_psnr: float = -math.inf
    train_seconds: float = 0.0  # wall time of the whole training call (not part of the result)


class JsccCodec(nn.Module):
    """Deep-JSCC encoder + decoder for one image shape and channel-use budget.

    :param image_shape: ``(H, W)`` or ``(H, W, C)``.
    :param channel_uses: complex symbols per image (see :class:`~semlink.tx.jscc.JsccLayout`).
    :param filters: feature maps of the inner layers (the paper's 32).

    ``encode``: ``[B, C, H, W] float32`` in [0, 1] → ``[B, channel_uses] complex64`` (unit energy
    per image); ``decode``: ``[B, channel_uses] complex64`` → ``[B, C, H, W] float32`` in [0, 1].
    """

    def __init__(self, image_shape: Sequence[int], channel_uses: int, filters: int = 32) -> None:
        super().__init__()
        self.layout = JsccLayout.for_image(image_shape, channel_uses)
        self.encoder = JsccEncoder(self.layout, filters)
        self.decoder = JsccDecoder(self.layout, filters)

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
    def bandwidth_ratio(self) -> float:
        """Complex channel uses per source value (H·W·C)."""
        return self.layout.bandwidth_ratio

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images)

    def decode(self, symbols: torch.Tensor) -> torch.Tensor:
        return self.decoder(symbols)

    def forward(self, images: torch.Tensor, channel: SymbolChannel, snr_db: float) -> torch.Tensor:
        """``images → encode → channel(·, snr_db) → decode``: ``[B, C, H, W]`` in and out."""
        return self.decode(channel(self.encode(images), snr_db))

    def architecture(self) -> dict[str, Any]:
        lay = self.layout
        return {
            "architecture": "bourtsoulatze2019",
            "image_shape": list(lay.image_shape),
            "channel_uses": lay.channel_uses,
            "filters": self.filters,
            "kernel_size": KERNEL_SIZE,
            "latent_shape": [lay.latent_channels, lay.latent_height, lay.latent_width],
            "sent_reals": lay.sent_reals,
            "bandwidth_ratio": lay.bandwidth_ratio,
        }


def _uint8_images(images: np.ndarray | torch.Tensor, what: str) -> torch.Tensor:
    x = images if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images))
    ok = x.dtype == torch.uint8 and (x.dim() == 3 or (x.dim() == 4 and x.shape[-1] in (1, 3)))
    require(ok, f"{what} are {x.dtype} of shape {tuple(x.shape)}; expected uint8 [N, H, W] or [N, H, W, 1|3]")
    require(len(x) > 0, f"{what} are empty; give at least one image")
    return x


class Reconstruction(NamedTuple):
    """``images``: ``[N, H, W(, C)] uint8`` as received; ``psnr_db``: ``[N] float64`` against the sent image."""

    images: torch.Tensor
    psnr_db: torch.Tensor


@torch.no_grad()
def transmit_images(
    codec: JsccCodec,
    images: np.ndarray | torch.Tensor,
    channel: SymbolChannel,
    snr_db: float,
    batch_size: int = EVAL_BATCH_SIZE,
) -> Reconstruction:
    """Send ``[N, H, W(, C)] uint8`` images through ``channel`` at ``snr_db``; reconstructions and PSNRs.

    PSNR is computed on the decoder's float output in [0, 1] (before rounding to uint8).
    """
    x = _uint8_images(images, "images")
    device = next(codec.parameters()).device
    was_training = codec.training
    codec.eval()
    out, psnrs = [], []
    for start in range(0, len(x), batch_size):
        batch = images_to_tensor(x[start : start + batch_size], device=device)
        decoded = codec(batch, channel, snr_db)
        out.append(images_to_uint8(decoded))
        psnrs.append(psnr_db(batch, decoded, max_value=1.0))
    codec.train(was_training)
    return Reconstruction(torch.cat(out), torch.cat(psnrs))


def _cosine_schedule(total_steps: int, final_fraction: float) -> Callable[[int], float]:
    def factor(step: int) -> float:
        progress = min(step, total_steps) / max(total_steps, 1)
        return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def train_jscc(
    train_images: np.ndarray | torch.Tensor,
    val_images: np.ndarray | torch.Tensor,
    channel: SymbolChannel,
    channel_uses: int,
    settings: JsccTrainSettings = JsccTrainSettings(),
    seed: int = 0,
    log: Callable[[str], None] | None = None,
    device: str | torch.device | None = None,
) -> tuple[JsccCodec, JsccHistory]:
    """Train a deep-JSCC codec through ``channel``; keep the epoch with the best validation PSNR.

    :param train_images: ``[N, H, W] | [N, H, W, C] uint8`` (NumPy or torch), e.g. ``ImageDataset.images``.
    :param val_images: the same shape; each validation image goes through the channel at one of the
        training SNRs (the set split evenly across them), so the validation PSNR weighs all equally.
    :param channel: differentiable :data:`SymbolChannel`, e.g. ``symbol_channel(AnalogLink(cfg))``.
    :param channel_uses: complex symbols per image.
    :param seed: seeds Python, NumPy, torch and Sionna (:func:`semlink.seeding.seed_everything`),
        so the same call gives the same codec (on the same machine and thread count).
    :param device: where to train; default: the device of ``train_images`` if a tensor, else CPU.
    :returns: the best epoch's codec in eval mode and the :class:`JsccHistory`.
    """
    from semlink.seeding import seed_everything

    started = time.perf_counter()
    train_x = _uint8_images(train_images, "train_images")
    val_x = _uint8_images(val_images, "val_images")
    require(tuple(val_x.shape[1:]) == tuple(train_x.shape[1:]),
            f"val_images have shape {tuple(val_x.shape[1:])} per image but train_images {tuple(train_x.shape[1:])}")
    require(len(train_x) >= settings.batch_size,
            f"{len(train_x)} training images is fewer than batch_size = {settings.batch_size}")
    device = torch.device(device) if device is not None else train_x.device
    # Channel noise and fading come from Sionna's generator: seed it too, so retraining (e.g. after a
    # resumed run) gives the same codec.
    seed_everything(seed)
    generator = torch.Generator().manual_seed(int(seed) % (1 << 63))
    train_x, val_x = train_x.to(device), val_x.to(device)
    codec = JsccCodec(tuple(train_x.shape[1:]), channel_uses, settings.filters).to(device)
    steps_per_epoch = len(train_x) // settings.batch_size
    optimiser = torch.optim.Adam(codec.parameters(), lr=settings.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser, _cosine_schedule(settings.epochs * steps_per_epoch, settings.final_lr_fraction)
    )
    snrs = list(settings.snr_db)
    history = JsccHistory()
    best_state = copy.deepcopy(codec.state_dict())
    epochs_without_gain = 0
    for epoch in range(settings.epochs):
        codec.train()
        order = torch.randperm(len(train_x), generator=generator).to(device)
        total = 0.0
        for step in range(steps_per_epoch):
            batch = images_to_tensor(train_x[order[step * settings.batch_size : (step + 1) * settings.batch_size]])
            snr = snrs[int(torch.randint(len(snrs), (1,), generator=generator))]
            loss = F.mse_loss(codec(batch, channel, snr), batch)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            scheduler.step()
            total += loss.item()
        history.epoch_loss.append(total / steps_per_epoch)
        history.learning_rate.append(optimiser.param_groups[0]["lr"])
        mean_psnr, by_snr = _validate(codec, channel, val_x, snrs)
        history.val_psnr.append(mean_psnr)
        history.val_psnr_by_snr.append(by_snr)
        if mean_psnr > history.best_val_psnr:
            history.best_val_psnr, history.best_epoch = mean_psnr, epoch
            best_state = copy.deepcopy(codec.state_dict())
            epochs_without_gain = 0
        else:
            epochs_without_gain += 1
        if log is not None:
            per_snr = " ".join(f"{k}:{v:.2f}" for k, v in by_snr.items())
            log(f"deep-jscc@{channel_uses} epoch {epoch}: loss {history.epoch_loss[-1]:.5f} "
                f"val PSNR {mean_psnr:.2f} dB ({per_snr}) [{time.perf_counter() - started:.1f} s]")
        if epochs_without_gain >= settings.patience:
            break
    codec.load_state_dict(best_state)
    codec.eval()
    history.train_seconds = time.perf_counter() - started
    return codec, history


@torch.no_grad()
def _validate(codec: JsccCodec, channel: SymbolChannel, val_x: torch.Tensor, snrs: Sequence[float]):
    """Mean per-image PSNR over the validation set (one training SNR per chunk) and per SNR."""
    codec.eval()
    chunks = torch.chunk(torch.arange(len(val_x), device=val_x.device), len(snrs))
    psnrs, by_snr = [], {}
    for snr, idx in zip(snrs, chunks):
        if len(idx) == 0:
            continue
        values = transmit_images(codec, val_x[idx], channel, snr).psnr_db
        psnrs.append(values)
        by_snr[str(snr)] = float(values.mean())
    return float(torch.cat(psnrs).mean()), by_snr


def history_dict(history: JsccHistory) -> dict[str, Any]:
    return asdict(history)


def save_jscc(
    codec: JsccCodec,
    directory: str | os.PathLike[str],
    history: JsccHistory | dict[str, Any] | None = None,
    **provenance: Any,
) -> None:
    """Write ``model.safetensors`` and ``config.json`` into ``directory`` (each atomically).

    ``config.json`` holds ``kind = "deep-jscc"``, the architecture, the training ``history`` and
    whatever ``provenance`` is given (dataset, channel, training settings, seed, ...: JSON values).
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in codec.state_dict().items()}
    with atomic_path(directory / "model.safetensors") as tmp:
        save_file(state, str(tmp))
    if isinstance(history, JsccHistory):
        history = history_dict(history)
    meta = {**provenance, "format": CHECKPOINT_FORMAT, "kind": KIND, **codec.architecture()}
    if history is not None:
        meta["history"] = history
    write_json_atomic(directory / "config.json", meta)


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

    directory = Path(directory)
    config_path, weights_path = directory / "config.json", directory / "model.safetensors"
    for path in (config_path, weights_path):
        if not path.is_file():
            raise MissingResourceError(
                f"checkpoint file {str(path)!r} is missing; a deep-JSCC checkpoint folder holds config.json "
                "and model.safetensors (written by save_jscc / semlink run)"
            )
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
        codec = JsccCodec(tuple(meta["image_shape"]), meta["channel_uses"], meta["filters"])
    except (KeyError, TypeError, SemlinkError) as err:
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
    "KIND",
    "JsccCodec",
    "JsccHistory",
    "JsccTrainSettings",
    "Reconstruction",
    "SymbolChannel",
    "history_dict",
    "load_jscc",
    "save_jscc",
    "symbol_channel",
    "train_jscc",
    "transmit_images",
]
