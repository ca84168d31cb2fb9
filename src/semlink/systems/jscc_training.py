"""Training of the deep-JSCC codec (:class:`semlink.systems.jscc_model.JsccCodec`) through a channel.

MSE on [0, 1] pixels through a differentiable :data:`~semlink.systems.jscc_model.SymbolChannel` at
an SNR drawn per batch from the training SNRs, so one codec serves every SNR; Adam with a per-step
cosine decay; the epoch with the best validation PSNR is kept.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from semlink.errors import require
from semlink.systems.jscc_model import JsccCodec, SymbolChannel, transmit_images, uint8_images
from semlink.systems.schedule import learning_rate_at
from semlink.tx.jscc import images_to_tensor


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
    train_x = uint8_images(train_images, "train_images")
    val_x = uint8_images(val_images, "val_images")
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
    final = settings.final_lr_fraction  # cosine decay from lr to lr · final, per step
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser,
        lambda step: final + (1 - final) * learning_rate_at(step, settings.epochs * steps_per_epoch, 0, 1.0, "cosine"),
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


__all__ = ["JsccHistory", "JsccTrainSettings", "history_dict", "train_jscc"]
