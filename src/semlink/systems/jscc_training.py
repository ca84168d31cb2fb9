"""Training of the deep-JSCC codec (:class:`semlink.systems.jscc_model.JsccCodec`) through a channel.

Pixel MSE (or the mean per-image PSNR, ``loss``) on [0, 1] pixels through a differentiable :data:`~semlink.systems.analog_codec.SymbolChannel`.

- **SNRs**: with several training SNRs every image of a batch gets its own SNR drawn uniformly from
  ``[min, max]`` of them (one codec for all SNRs; the SNR-adaptive codec is told it); with one,
  every image gets it (the per-SNR codec of Bourtsoulatze et al. 2019).
- **Loss**: ``"mse"`` (default, Bourtsoulatze et al. 2019 and ADJSCC) minimises the batch's pixel
  MSE; ``"psnr"`` maximises the mean per-image PSNR, the figure the tables report, as the mean over
  the batch of ``log10`` of each image's MSE. With SNRs drawn per image (and on a fading channel)
  the worst-received images dominate a batch's MSE: an MSE-trained codec spends itself on them. The
  PSNR loss weighs every image's relative error alike. Measured on Fashion-MNIST (6 epochs, one
  codec for 64/128/392 uses, against the same recipe with MSE): over flat AWGN +1.65 dB at 392 uses and
  10 dB, +2.4 at 13 dB, but -0.2 to -0.35 dB at -4 dB; over TDL-A +1.3 dB at 392 uses and 10 dB.
- **Budgets**: each batch is sent at one of the ``budgets`` drawn at random (the first ``2b`` latent
  reals), so one codec serves them all; one budget is the classic one codec per budget.
- **Schedule**: Adam; the learning rate rises linearly over the first ``warmup_epochs`` and then
  follows a cosine to ``lr · final_lr_fraction`` at ``max_epochs``.
- **Convergence**: after every epoch the validation PSNR (the held-out images, each sent once at
  every training SNR and budget through a channel seeded the same way every epoch, so epochs
  compare on equal noise) is measured; training stops after ``patience`` epochs without a better
  one, and the best epoch's weights are kept.
- **Channel realisations**: the channel's random stream restarts each epoch from ``(seed, epoch)``;
  on a link with a channel bank (the run's training links: :data:`semlink.phy.links.TRAINING_BANK`
  realisations) every epoch draws a new bank, so training sees ``epochs x TRAINING_BANK``
  independent realisations (one bank for all epochs would reuse each about 110 times in 8 epochs of
  58 000 images: a fading pattern the codec could learn).
- **Cost**: the training images sit on the device as one uint8 tensor; a batch is a gather, a
  conversion and one pass through encoder, channel and decoder — no per-batch NumPy or Python
  objects. One epoch of 59000 Fashion-MNIST images takes about 60 s of single-thread CPU at
  ``filters = 16`` with the linear skip, 40 s without (``benchmarks/jscc_quality.py`` prints PSNR
  against training CPU minutes).
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

from semlink.errors import SemlinkError, choice_error, require
from semlink.systems.analog_codec import SymbolChannel, transmit_images, uint8_images
from semlink.systems.jscc_model import JsccCodec
from semlink.systems.schedule import adam, learning_rate_at
from semlink.tx.jscc import flag, positive_int

__all__ = ["JsccHistory", "JsccTrainSettings", "LOSSES", "history_dict", "train_jscc", "training_loss"]

#: Training objectives (:class:`JsccTrainSettings` ``loss``).
LOSSES = ("mse", "psnr")

#: Seed of the channel noise during validation (the same every epoch: epochs compare on equal noise).
VALIDATION_CHANNEL_SEED = 20210


@dataclass(frozen=True)
class JsccTrainSettings:
    """How a deep-JSCC codec is built and trained (see the module docstring).

    The defaults are the measured choice for Fashion-MNIST on a CPU core (``benchmarks/jscc_quality.py``):
    with the full training split (about 58000 images) 8 epochs take 8 to 13 minutes of single-thread
    CPU (the machine's speed varies by day) for one codec serving 64, 128 and 392 channel uses, which
    then beats the linear analog code by 1.3 to 2.1 dB at 128 and 392 uses and every SNR from -4 to 13
    dB over flat AWGN, and whose loss over OFDM TDL-A to its own flat figure at 10 dB (392 uses) is
    0.1 dB less than the linear code's. 6 epochs: 0.1 to 0.2 dB less everywhere and that loss 0.03 dB
    more than the linear code's; 4 epochs: 0.2 dB more. ``max_epochs`` counts passes over the
    training images given: with fewer images, give more epochs (about 460000 images seen in all).

    - ``filters``, ``snr_adaptive``, ``gdn``, ``linear_skip``: the architecture (:class:`JsccCodec`;
      the linear skip's KLT is fitted on the training images).
    - ``snr_db``: the training SNRs (dB): several → uniform in ``[min, max]`` per image, validated
      at each; one → the per-SNR codec.
    - ``loss``: ``"mse"`` (pixel MSE over the batch, the papers') or ``"psnr"`` (the mean per-image PSNR).
    - ``max_epochs``, ``patience``: stop after ``patience`` epochs without a better validation PSNR,
      at ``max_epochs`` at the latest.
    - ``batch_size``, ``lr``, ``warmup_epochs``, ``final_lr_fraction``: Adam and its schedule.
    """

    max_epochs: int = 8
    patience: int = 3
    batch_size: int = 64
    lr: float = 2e-3
    warmup_epochs: float = 0.1
    final_lr_fraction: float = 0.02
    loss: str = "mse"
    snr_db: tuple[float, ...] = (-7.0, -4.0, 0.0, 4.0, 7.0, 10.0, 13.0)
    filters: int = 16
    snr_adaptive: bool = True
    gdn: bool = False
    linear_skip: bool = True

    def __post_init__(self) -> None:
        for name in ("max_epochs", "patience", "batch_size"):
            positive_int(getattr(self, name), name)
        positive_int(self.filters, "filters", minimum=2)
        flag(self.snr_adaptive, "snr_adaptive")
        flag(self.gdn, "gdn")
        flag(self.linear_skip, "linear_skip")
        if self.loss not in LOSSES:
            raise choice_error("loss", self.loss, LOSSES)
        for name in ("lr", "warmup_epochs", "final_lr_fraction"):
            value = getattr(self, name)
            require(isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value),
                    f"{name} = {value!r}; must be a finite number")
        require(self.lr > 0, f"lr = {self.lr}; must be a positive number")
        require(self.warmup_epochs >= 0, f"warmup_epochs = {self.warmup_epochs}; must be >= 0")
        require(0 < self.final_lr_fraction <= 1, f"final_lr_fraction = {self.final_lr_fraction}; must lie in (0, 1]")
        try:
            snrs = tuple(float(s) for s in self.snr_db)
        except (TypeError, ValueError):
            raise SemlinkError(f"train snr_db = {self.snr_db!r}; must be a list of finite dB values") from None
        require(len(snrs) > 0, "train snr_db is empty; give at least one training SNR in dB "
                               "(one: a codec for that SNR; several: one codec for the range)")
        require(all(math.isfinite(s) for s in snrs), f"train snr_db {snrs} must be finite dB values")
        object.__setattr__(self, "snr_db", snrs)

    @property
    def snr_range(self) -> tuple[float, float]:
        return min(self.snr_db), max(self.snr_db)


@dataclass
class JsccHistory:
    """Per-epoch training record. PSNRs in dB, mean of per-image PSNRs."""

    epoch_loss: list[float] = field(default_factory=list)  # training MSE on [0, 1] pixels (psnr: mean log10 MSE)
    val_psnr: list[float] = field(default_factory=list)  # mean over the val images, SNRs and budgets
    val_psnr_by_point: list[dict[str, float]] = field(default_factory=list)  # {"392@10.0": dB, ...}
    learning_rate: list[float] = field(default_factory=list)  # at the epoch's last step
    seconds: list[float] = field(default_factory=list)  # wall time since the start, at each epoch's end
    cpu_seconds: list[float] = field(default_factory=list)  # process CPU time since the start (all threads)
    best_epoch: int = -1
    best_val_psnr: float = -math.inf
    train_seconds: float = 0.0  # wall time of the whole training call (not part of the result)


def _budgets(budgets: int | Sequence[int]) -> tuple[int, ...]:
    values = (budgets,) if isinstance(budgets, int | np.integer) and not isinstance(budgets, bool) else tuple(budgets)
    require(len(values) > 0, "budgets is empty; give at least one channel-use budget")
    return tuple(sorted({positive_int(b, "budget") for b in values}))


def train_jscc(
    train_images: np.ndarray | torch.Tensor,
    val_images: np.ndarray | torch.Tensor,
    channel: SymbolChannel,
    budgets: int | Sequence[int],
    settings: JsccTrainSettings = JsccTrainSettings(),
    seed: int = 0,
    log: Callable[[str], None] | None = None,
    device: str | torch.device | None = None,
    name: str | None = None,
    progress: str | bool | None = None,
) -> tuple[JsccCodec, JsccHistory]:
    """Train a deep-JSCC codec through ``channel``; keep the epoch with the best validation PSNR.

    :param train_images: ``[N, H, W] | [N, H, W, C] uint8`` (NumPy or torch), e.g. ``ImageDataset.images``.
    :param val_images: the same shape; held out from training.
    :param channel: differentiable :data:`SymbolChannel`, e.g. ``symbol_channel(AnalogLink(cfg))``; it
        is called with a ``[B]`` SNR tensor when the training SNRs form a range.
    :param budgets: channel uses per image: one int, or several served by one codec (its
        ``channel_uses`` is the largest).
    :param seed: seeds Python, NumPy, torch and Sionna (:func:`semlink.seeding.seed_everything`),
        so the same call gives the same codec (on the same machine and thread count).
    :param device: where to train; default: the device of ``train_images`` if a tensor, else CPU.
    :param name: what the progress lines call the codec; ``progress``: their mode
        (:class:`semlink.progress.EpochProgress`; default the current one). ``log``: a detailed line
        per epoch (every validation point).
    :returns: the best epoch's codec in eval mode and the :class:`JsccHistory`.
    """
    from semlink.progress import EpochProgress
    from semlink.seeding import point_seed, seed_channel, seed_everything

    started, cpu_started = time.perf_counter(), time.process_time()
    budgets = _budgets(budgets)
    train_x = uint8_images(train_images, "train_images")
    val_x = uint8_images(val_images, "val_images")
    require(tuple(val_x.shape[1:]) == tuple(train_x.shape[1:]),
            f"val_images have shape {tuple(val_x.shape[1:])} per image but train_images {tuple(train_x.shape[1:])}")
    require(len(train_x) >= settings.batch_size,
            f"{len(train_x)} training images is fewer than batch_size = {settings.batch_size}")
    device = torch.device(device) if device is not None else train_x.device
    seed_everything(seed)  # also Sionna's generator: the channel's noise and fading
    generator = torch.Generator().manual_seed(int(seed) % (1 << 63))
    # [N, C, H, W] uint8 on the device, once; a batch is converted to float where it is used.
    train_x = _channels_first(train_x).to(device)
    val_x = val_x.to(device)
    klt = None
    if settings.linear_skip:
        from semlink.tx.linear_analog import fit_klt, klt_components

        klt = fit_klt(train_x, klt_components(train_x, 2 * max(budgets)), seed=seed)
    codec = JsccCodec(tuple(val_x.shape[1:]), max(budgets), settings.filters,
                      snr_adaptive=settings.snr_adaptive, gdn=settings.gdn, klt=klt).to(device)
    codec.set_snr_limits(settings.snr_db)
    steps_per_epoch = len(train_x) // settings.batch_size
    total_steps = settings.max_epochs * steps_per_epoch
    warmup_steps = int(round(settings.warmup_epochs * steps_per_epoch))
    optimiser = adam(codec.parameters(), settings.lr)
    final = settings.final_lr_fraction
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser,
        lambda step: final + (1 - final) * learning_rate_at(step, total_steps, warmup_steps, 1.0, "cosine"),
    )
    low, high = settings.snr_range
    objective = training_loss(settings.loss)
    history = JsccHistory()
    bar = EpochProgress(name or f"deep-jscc @ {','.join(map(str, budgets))}", settings.max_epochs,
                        "val PSNR [dB]", progress)
    best_state = copy.deepcopy(codec.state_dict())
    epochs_without_gain = 0
    for epoch in range(settings.max_epochs):
        codec.train()
        # The channel's stream starts afresh each epoch from (seed, epoch): a link with a channel bank
        # (the run's training links) then draws a new bank every epoch, so training sees
        # epochs x bank-size independent realisations rather than one bank's over and over.
        seed_channel(point_seed(seed, {"stream": "training channel", "epoch": epoch}))
        order = torch.randperm(len(train_x), generator=generator).to(device)
        budget_draws = torch.randint(len(budgets), (steps_per_epoch,), generator=generator).tolist()
        snr_draws = (low + (high - low) * torch.rand(steps_per_epoch, settings.batch_size, generator=generator)).to(device)
        total = torch.zeros((), device=device)
        for step in range(steps_per_epoch):
            index = order[step * settings.batch_size : (step + 1) * settings.batch_size]
            batch = train_x.index_select(0, index).to(torch.float32).div_(255.0)
            snr = snr_draws[step] if high > low else low
            loss = objective(codec(batch, channel, snr, budgets[budget_draws[step]]), batch)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            scheduler.step()
            total += loss.detach()
        history.epoch_loss.append(float(total) / steps_per_epoch)
        history.learning_rate.append(optimiser.param_groups[0]["lr"])
        mean_psnr, by_point = _validate(codec, channel, val_x, settings.snr_db, budgets)
        history.val_psnr.append(mean_psnr)
        history.val_psnr_by_point.append(by_point)
        history.seconds.append(time.perf_counter() - started)
        history.cpu_seconds.append(time.process_time() - cpu_started)
        if mean_psnr > history.best_val_psnr:
            history.best_val_psnr, history.best_epoch = mean_psnr, epoch
            best_state = copy.deepcopy(codec.state_dict())
            epochs_without_gain = 0
        else:
            epochs_without_gain += 1
        bar.epoch(epoch, history.epoch_loss[-1], mean_psnr, **{
            f"@{b}": float(np.mean([v for k, v in by_point.items() if k.startswith(f"{b}@")])) for b in budgets})
        if log is not None:
            points = " ".join(f"{k}:{v:.2f}" for k, v in by_point.items())
            log(f"deep-jscc@{','.join(map(str, budgets))} epoch {epoch}: loss {history.epoch_loss[-1]:.5f} "
                f"val PSNR {mean_psnr:.2f} dB ({points}) [{history.seconds[-1]:.1f} s]")
        if epochs_without_gain >= settings.patience:
            break
    bar.close(f"kept epoch {history.best_epoch + 1} (val PSNR {history.best_val_psnr:.2f} dB)"
              if len(history.val_psnr) < settings.max_epochs else "")
    codec.load_state_dict(best_state)
    codec.eval()
    history.train_seconds = time.perf_counter() - started
    return codec, history


def training_loss(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The objective ``(decoded, sent) → scalar`` to minimise, both ``[B, C, H, W]`` in [0, 1] pixels.

    ``"psnr"``: minus the mean per-image PSNR over 10 (``mean_i log10 MSE_i``); ``"mse"``: the batch's MSE.

    >>> import torch
    >>> sent = torch.zeros(2, 1, 2, 2)
    >>> decoded = torch.stack([torch.full((1, 2, 2), 0.1), torch.full((1, 2, 2), 0.01)])
    >>> round(float(training_loss("mse")(decoded, sent)), 5), round(float(training_loss("psnr")(decoded, sent)), 3)
    (0.00505, -3.0)
    """
    if name == "mse":
        return F.mse_loss
    if name != "psnr":
        raise choice_error("loss", name, LOSSES)

    def log_mse(decoded: torch.Tensor, sent: torch.Tensor) -> torch.Tensor:
        per_image = (decoded - sent).square().flatten(1).mean(1)
        # The floor: an image decoded exactly (MSE below (1/255)²/100) cannot pull the batch's gradient.
        return per_image.clamp_min(PSNR_LOSS_FLOOR).log10().mean()

    return log_mse


#: Per-image MSE floor of the PSNR loss (a pixel error far below one 8-bit step: about 68 dB PSNR).
PSNR_LOSS_FLOOR = 1.5e-7


def _channels_first(images: torch.Tensor) -> torch.Tensor:
    """``[N, H, W] | [N, H, W, C] uint8`` → ``[N, C, H, W] uint8`` (contiguous)."""
    return images.unsqueeze(1) if images.dim() == 3 else images.permute(0, 3, 1, 2).contiguous()


@torch.no_grad()
def _validate(codec: JsccCodec, channel: SymbolChannel, val_x: torch.Tensor, snrs: Sequence[float],
              budgets: Sequence[int]) -> tuple[float, dict[str, float]]:
    """Mean per-image PSNR over every (budget, SNR) point, and per point (``"budget@snr"``).

    The channel draws from a fixed seed here, and the training stream's state is restored after.
    """
    from semlink.seeding import fixed_sionna_stream

    codec.eval()
    by_point = {}
    device = val_x.device
    # Sionna keys its generators by device name ("cpu", "cuda:0").
    name = "cpu" if device.type == "cpu" else f"{device.type}:{device.index or 0}"
    with fixed_sionna_stream(VALIDATION_CHANNEL_SEED, device=name):
        for budget in budgets:
            for snr in snrs:
                psnr = transmit_images(codec, val_x, channel, snr, channel_uses=budget).psnr_db
                by_point[f"{budget}@{snr}"] = float(psnr.mean())
    return float(np.mean(list(by_point.values()))), by_point


def history_dict(history: JsccHistory) -> dict[str, Any]:
    return asdict(history)
