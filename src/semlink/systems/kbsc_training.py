"""Training a KBSC codec through a channel: learning-rate schedule, validation, checkpoint choice.

What to train with (the ``reference`` and ``robust`` recipes, every option and its measured effect)
is :mod:`semlink.systems.kbsc_recipes`; this module runs it. Every run records the decoder's output
spread per epoch; ``collapsed`` describes the checkpoint kept.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from semlink.errors import SemlinkError, choice_error, require
from semlink.metrics.retrieval import nearest_labels, top_k_hits
from semlink.systems.kbsc_model import Channel, KbscCodec, receive
from semlink.systems.kbsc_recipes import SELECTIONS, VALIDATIONS, TrainSettings
from semlink.systems.schedule import adam, learning_rate_at

COLLAPSE_SPREAD = 0.05  # decoder output spread (per-dim std / target std) below which a decoder has collapsed


@dataclass
class TrainHistory:
    """Per-epoch record of a training run and what was kept.

    ``val_accuracy`` is the validation score per epoch (mean top-1 over the training SNRs),
    ``val_accuracy_per_snr`` its parts (``every-snr`` validation; empty lists for ``split``),
    ``selection_score`` what the checkpoint choice compared (equal to ``val_accuracy`` for ``best``),
    ``output_spread`` the decoder's mean per-dim output std over the target's. ``best_epoch`` is the
    epoch kept (0-based), ``best_val_accuracy`` its validation accuracy, ``full_val_accuracy`` the
    kept checkpoint's on every validation query at every training SNR, ``val_snr_db`` the SNRs each
    epoch validates (the order of ``val_accuracy_per_snr``), ``collapsed`` whether *that*
    checkpoint's decoder has collapsed, ``seed`` the training seed.
    """

    epoch_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    val_accuracy_per_snr: list[list[float]] = field(default_factory=list)
    selection_score: list[float] = field(default_factory=list)
    output_spread: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    best_epoch: int = -1
    best_val_accuracy: float = 0.0
    full_val_accuracy: float | None = None
    val_snr_db: list[float] = field(default_factory=list)
    collapsed: bool = False
    seed: int | None = None
    seconds: float = 0.0


def selection_scores(val_accuracy: Sequence[float], selection: str, window: int) -> list[float]:
    """Per epoch, the score the checkpoint choice compares: the accuracy itself (``best``) or its
    trailing mean over the last ``window`` epochs (``smoothed``; shorter at the start).

    >>> selection_scores([0.1, 0.5, 0.2, 0.4], "smoothed", 2)
    [0.1, 0.3, 0.35, 0.30000000000000004]
    """
    if selection not in SELECTIONS:
        raise choice_error("selection", selection, SELECTIONS)
    if selection == "best":
        return list(val_accuracy)
    return [sum(val_accuracy[max(0, i - window + 1) : i + 1]) / (i + 1 - max(0, i - window + 1))
            for i in range(len(val_accuracy))]


class WeightAverage:
    """Exponential moving average of a module's parameters and floating-point buffers.

    ``update()`` after each optimiser step; ``module`` is the averaged copy (evaluate and keep it).
    The first ``1 / (1 - decay)`` steps use a shorter effective window (bias-free warm-up:
    ``decay_t = min(decay, (1 + t) / (10 + t))``), so early epochs are not dominated by the initial weights.
    """

    def __init__(self, module: torch.nn.Module, decay: float) -> None:
        self.module = copy.deepcopy(module)
        self.decay = float(decay)
        self.steps = 0
        for p in self.module.parameters():
            p.requires_grad_(False)
        self._source: torch.nn.Module | None = None
        self._pairs: tuple[list, list, list, list] = ([], [], [], [])

    def _pairs_with(self, source: torch.nn.Module) -> tuple[list, list, list, list]:
        """(averaged floats, source floats, averaged others, source others), made once per source:
        a state dict per step costs more than the averaging itself."""
        if source is not self._source:
            pairs: tuple[list, list, list, list] = ([], [], [], [])
            for avg, new in zip(self.module.state_dict().values(), source.state_dict().values()):
                floating = avg.dtype.is_floating_point
                pairs[0 if floating else 2].append(avg)
                pairs[1 if floating else 3].append(new)
            self._source, self._pairs = source, pairs
        return self._pairs

    @torch.no_grad()
    def update(self, source: torch.nn.Module) -> None:
        self.steps += 1
        d = min(self.decay, (1.0 + self.steps) / (10.0 + self.steps))
        averaged, new, averaged_other, new_other = self._pairs_with(source)
        if averaged:
            torch._foreach_lerp_(averaged, new, 1.0 - d)  # avg + (1 - d) (new - avg) = d avg + (1 - d) new
        for avg, value in zip(averaged_other, new_other):
            avg.copy_(value)


def _loss(codec: KbscCodec, decoded_target: torch.Tensor, features: torch.Tensor, settings: TrainSettings,
          class_weight: float, labels: torch.Tensor | None = None):
    if codec.recipe == "reference":
        return F.mse_loss(decoded_target, features)
    target = codec.to_target(features)
    mse = F.mse_loss(decoded_target, target)
    decoded = F.normalize(codec.from_target(decoded_target), dim=-1)
    logits = decoded @ F.normalize(features, dim=-1).T / settings.temperature
    contrastive = F.cross_entropy(logits, torch.arange(len(features), device=features.device))
    loss = mse + settings.contrastive_weight * contrastive
    if class_weight > 0:
        # The same scores with every same-class item of the batch as a positive (supervised contrastive).
        same = (labels[:, None] == labels[None, :]).to(logits.dtype)
        loss = loss - class_weight * ((same / same.sum(1, keepdim=True)) * logits.log_softmax(-1)).sum(1).mean()
    return loss


def train_codec(
    train_features: torch.Tensor,
    val_sender: tuple[torch.Tensor, torch.Tensor],
    val_receiver: tuple[torch.Tensor, torch.Tensor],
    channel: Channel,
    channel_uses: int,
    settings: TrainSettings = TrainSettings(),
    seed: int = 0,
    progress: str | bool | None = None,
    log: Callable[[str], None] | None = None,
    train_labels: torch.Tensor | None = None,
    name: str | None = None,
) -> tuple[KbscCodec, TrainHistory]:
    """Train a codec through ``channel``; keep the checkpoint the settings' selection picks.

    The training SNR is drawn per batch from ``settings.snr_db``; validation sends the sender
    split through the channel at the training SNRs (see :class:`TrainSettings` ``validation``) and
    scores top-1 semantic matching against the receiver split. Training stops after ``patience``
    epochs without a new best selection score. ``seed`` drives the initial weights, the batch
    order, the SNR draws and the channel's randomness: another seed gives an independent codec,
    the same seed the same codec. The decoder reads the channel's error variance when the settings
    make it noise-aware.

    ``progress``: ``bar`` | ``lines`` (one line per epoch: loss, validation top-1, elapsed, ETA) |
    ``none`` | None (the mode in force, :func:`semlink.progress.current_mode`); ``name`` names the
    codec in those lines; ``log`` gets a detailed line per epoch besides.
    """
    import time

    from semlink.progress import EpochProgress
    from semlink.seeding import seed_everything

    require(train_features.ndim == 2, f"train features have shape {tuple(train_features.shape)}; expected [N, D]")
    require(len(train_features) >= settings.batch_size,
            f"{len(train_features)} training features is fewer than batch_size = {settings.batch_size}")
    opts = settings.resolved()
    require(opts["class_weight"] == 0 or (train_labels is not None and len(train_labels) == len(train_features)),
            f"class_weight = {opts['class_weight']} (the {settings.recipe} recipe's unless set) needs train_labels, "
            "one per training feature; pass them or set class_weight = 0")
    tic = time.perf_counter()
    # The channel noise and fading drawn in training come from Sionna's generator: seed it too, so
    # a codec retrained after a resume is the same codec.
    seed_everything(seed)
    generator = torch.Generator().manual_seed(int(seed) % (1 << 63))
    device = train_features.device
    codec = KbscCodec(train_features.shape[1], channel_uses, settings.hidden_dim, settings.recipe,
                      noise_input=opts["noise_input"]).to(device)
    codec.fit_target_statistics(train_features)
    optimiser = adam(codec.parameters(), opts["lr"], opts["weight_decay"])
    average = WeightAverage(codec, opts["ema_decay"]) if opts["ema_decay"] > 0 else None
    history = TrainHistory(seed=int(seed))
    (val_x, val_y), (kb_x, kb_y) = val_sender, val_receiver
    if opts["val_size"] is not None:
        val_x, val_y = _evenly_spaced(val_x, val_y, opts["val_size"])
        kb_x, kb_y = _evenly_spaced(kb_x, kb_y, opts["val_size"])
    snrs = list(settings.snr_db)
    val_snrs = snrs if opts["val_snrs"] is None else _evenly_spaced_values(sorted(snrs), opts["val_snrs"])
    history.val_snr_db = [float(snr) for snr in val_snrs]
    snr_table = torch.tensor(snrs, dtype=torch.float32)
    steps_per_epoch = len(train_features) // settings.batch_size
    total_steps = steps_per_epoch * settings.epochs
    warmup_steps = int(round(opts["warmup_epochs"] * steps_per_epoch))
    best_state, best_score, epochs_without_gain, step = None, -math.inf, 0, 0
    bar = EpochProgress(name or f"kbsc codec @ {channel_uses} uses", settings.epochs, "val top-1", progress)
    for epoch in range(settings.epochs):
        codec.train()
        order = torch.randperm(len(train_features), generator=generator).to(device)
        total, count = 0.0, 0
        for start in range(0, steps_per_epoch * settings.batch_size, settings.batch_size):
            lr = learning_rate_at(step, total_steps, warmup_steps, opts["lr"], opts["schedule"])
            for group in optimiser.param_groups:
                group["lr"] = lr
            picked = order[start : start + settings.batch_size]
            batch = train_features[picked]
            if opts["snr_draw"] == "example":
                snr = snr_table[torch.randint(len(snrs), (len(batch),), generator=generator)].to(device)
            else:
                snr = snrs[int(torch.randint(len(snrs), (1,), generator=generator))]
            received = receive(channel, codec.encode(batch), snr)
            loss = _loss(codec, codec.decode_target(*received), batch, settings, opts["class_weight"],
                         None if train_labels is None else train_labels[picked])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            if average is not None:
                average.update(codec)
            step += 1
            total += loss.item() * len(batch)
            count += len(batch)
        history.epoch_loss.append(total / max(count, 1))
        history.learning_rate.append(lr)
        evaluated = average.module if average is not None else codec
        accuracy, per_snr, spread = validate(evaluated, channel, val_x, val_y, kb_x, kb_y, val_snrs, opts["validation"])
        history.val_accuracy.append(accuracy)
        history.val_accuracy_per_snr.append(per_snr)
        history.output_spread.append(spread)
        score = selection_scores(history.val_accuracy, opts["selection"], settings.smoothing_window)[-1]
        history.selection_score.append(score)
        if score > best_score:
            best_score, history.best_epoch, history.best_val_accuracy = score, epoch, accuracy
            best_state = copy.deepcopy(evaluated.state_dict())
            epochs_without_gain = 0
        else:
            epochs_without_gain += 1
        bar.epoch(epoch, history.epoch_loss[-1], accuracy, lr=lr)
        if log is not None:
            log(f"epoch {epoch}: loss {history.epoch_loss[-1]:.4f} val top-1 {accuracy:.3f} "
                f"(score {score:.3f}) spread {spread:.3f} lr {lr:.2e}")
        if epochs_without_gain >= settings.patience:
            break
    stopped = len(history.epoch_loss) < settings.epochs
    bar.close(f"kept epoch {history.best_epoch + 1} (val top-1 {history.best_val_accuracy:.4f})"
              + (f"; stopped early, no gain for {settings.patience} epochs" if stopped else ""))
    # The flag describes the checkpoint kept: a decoder whose outputs no longer vary across inputs
    # has collapsed to the mean prediction.
    history.collapsed = bool(history.output_spread[history.best_epoch] < COLLAPSE_SPREAD)
    codec.load_state_dict(best_state)
    codec.eval()
    # The full check of the checkpoint kept: every validation query at every training SNR.
    history.full_val_accuracy = validate(codec, channel, *val_sender, *val_receiver, snrs, "every-snr")[0]
    if log is not None:
        log(f"kept epoch {history.best_epoch + 1}: full validation top-1 {history.full_val_accuracy:.3f} "
            f"({len(val_sender[0])} queries at {len(snrs)} SNRs)")
    history.seconds = time.perf_counter() - tic
    return codec, history


def _evenly_spaced_indices(length: int, count: int) -> torch.Tensor:
    """``count`` indices into ``length`` items spread evenly over them, both ends included (``count >= 2``)."""
    return torch.linspace(0, length - 1, count).round().long()


def _evenly_spaced_values(values: Sequence[float], count: int) -> list[float]:
    """``count`` of ``values`` spread evenly over them, both ends included (all when there are fewer;
    the middle one for one).

    >>> _evenly_spaced_values([-7, -4, 0, 4, 7, 10], 3)
    [-7, 0, 10]
    """
    if count >= len(values):
        return list(values)
    if count == 1:
        return [values[len(values) // 2]]
    return [values[i] for i in _evenly_spaced_indices(len(values), count).tolist()]


def _evenly_spaced(x: torch.Tensor, y: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """At most ``size`` rows spread evenly over the split (class proportions kept in any order)."""
    if len(x) <= size:
        return x, y
    pick = _evenly_spaced_indices(len(x), size).to(x.device)
    return x[pick], y[pick]


@torch.no_grad()
def validate(codec: KbscCodec, channel: Channel, val_x, val_y, kb_x, kb_y, snrs: Sequence[float],
             mode: str = "every-snr") -> tuple[float, list[float], float]:
    """Top-1 semantic-matching accuracy of ``codec`` through ``channel``: ``(score, per-SNR, spread)``.

    ``every-snr``: every query at every SNR, the score is the mean over SNRs; ``split``: the
    queries split into one share per SNR (the published validation; per-SNR list left empty).
    ``spread`` is the decoder output's mean per-dim std over the true features' (collapse ~0).
    """
    if mode not in VALIDATIONS:
        raise choice_error("validation", mode, VALIDATIONS)
    codec.eval()
    index = torch.arange(len(val_x), device=val_x.device)
    jobs = [(snr, index) for snr in snrs] if mode == "every-snr" else list(zip(snrs, torch.chunk(index, len(snrs))))
    correct, total, per_snr, spreads = 0, 0, [], []
    for snr, idx in jobs:
        if len(idx) == 0:
            continue
        decoded = codec.decode(receive(channel, codec.encode(val_x[idx]), snr))
        hits = int(top_k_hits(nearest_labels(decoded, kb_x, kb_y, k=1), val_y[idx], 1).sum())
        correct, total = correct + hits, total + len(idx)
        if mode == "every-snr":
            per_snr.append(hits / len(idx))
        target_std = val_x[idx].std(0).mean().clamp_min(1e-12)
        spreads.append(float(decoded.std(0).mean() / target_std))
    if total == 0:
        raise SemlinkError("the validation split is empty; a codec needs validation senders to be trained")
    return correct / total, per_snr, sum(spreads) / len(spreads)


def history_dict(history: TrainHistory) -> dict[str, Any]:
    return asdict(history)


__all__ = [
    "COLLAPSE_SPREAD", "TrainHistory", "WeightAverage", "history_dict", "selection_scores",
    "train_codec", "validate",
]
