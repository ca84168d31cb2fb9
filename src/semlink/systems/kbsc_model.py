"""The KBSC feature codec: compressor (TX) + decompressor (RX), training recipes, checkpoints.

Two training recipes:

- ``reference`` — the published recipe: MSE between the decoded and the L2-normalised feature,
  BatchNorm on the decoder output, Adam 1e-4. Known to collapse on some data (the BN gain shrinks
  towards zero, training loss reaches the predict-the-mean value and retrieval falls to chance);
  only early stopping on validation accuracy hides it by keeping an early checkpoint.
- ``robust`` (default) — targets standardised per dimension with training-set statistics (so the
  decoder's output BatchNorm has the scale it naturally produces), MSE plus an InfoNCE term that
  scores each decoded feature against the batch's true features (the retrieval task itself), Adam
  1e-3. A collapse monitor records the decoder's output spread every epoch.

Checkpoints are a folder with ``model.safetensors`` (weights and target statistics) and
``config.json`` (architecture, recipe, training history) — no pickle.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from semlink.errors import CorruptFileError, MissingResourceError, SemlinkError, choice_error, require
from semlink.io import atomic_path, write_json_atomic
from semlink.metrics.retrieval import nearest_labels, top_k_hits
from semlink.rx.decompressor import FeatureDecompressor
from semlink.tx.compressor import FeatureCompressor

RECIPES = ("robust", "reference")
CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class TrainSettings:
    """How a codec is trained (defaults: the ``robust`` recipe sized for the offline default)."""

    recipe: str = "robust"
    epochs: int = 100
    patience: int = 20
    batch_size: int = 128
    lr: float | None = None  # None: the recipe's own (reference 1e-4, robust 1e-3)
    snr_db: tuple[float, ...] = (-7.0, -4.0, 0.0, 4.0, 7.0, 10.0)
    hidden_dim: int = 384
    contrastive_weight: float = 1.0
    temperature: float = 0.07

    def __post_init__(self) -> None:
        if self.recipe not in RECIPES:
            raise choice_error("training recipe", self.recipe, RECIPES)
        require(self.epochs > 0, f"epochs = {self.epochs}; must be a positive integer")
        require(self.patience > 0, f"patience = {self.patience}; must be a positive integer")
        require(self.batch_size > 1, f"batch_size = {self.batch_size}; must be at least 2 (BatchNorm)")
        require(len(self.snr_db) > 0, "train snr_db is empty; give at least one training SNR in dB")
        require(self.lr is None or (math.isfinite(self.lr) and self.lr > 0), f"lr = {self.lr}; must be positive")
        require(self.hidden_dim > 0, f"hidden_dim = {self.hidden_dim}; must be a positive integer")
        require(all(math.isfinite(s) for s in self.snr_db), f"train snr_db {self.snr_db} must be finite dB values")

    @property
    def learning_rate(self) -> float:
        if self.lr is not None:
            return self.lr
        return 1e-4 if self.recipe == "reference" else 1e-3


@dataclass
class TrainHistory:
    epoch_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    output_spread: list[float] = field(default_factory=list)  # mean per-dim std of decoder output / target std
    best_epoch: int = -1
    best_val_accuracy: float = 0.0
    collapsed: bool = False


class KbscCodec(nn.Module):
    """Compressor + decompressor with the target statistics the recipe trains against.

    ``encode``: feature ``[B, D] float32`` → latent ``[B, 2·channel_uses] float32``;
    ``decode``: latent ``[B, 2·channel_uses] float32`` → feature ``[B, D] float32`` in the
    original feature space (L2-normalise it before a nearest-neighbour search).
    """

    def __init__(self, feature_dim: int, channel_uses: int, hidden_dim: int = 384, recipe: str = "robust") -> None:
        super().__init__()
        if recipe not in RECIPES:
            raise choice_error("training recipe", recipe, RECIPES)
        self.recipe = recipe
        self.compressor = FeatureCompressor(feature_dim, channel_uses, hidden_dim)
        self.decompressor = FeatureDecompressor(2 * channel_uses, feature_dim, hidden_dim, output_norm=True)
        self.register_buffer("target_mean", torch.zeros(feature_dim))
        self.register_buffer("target_std", torch.ones(feature_dim))

    @property
    def feature_dim(self) -> int:
        return self.compressor.feature_dim

    @property
    def channel_uses(self) -> int:
        return self.compressor.channel_uses

    @property
    def hidden_dim(self) -> int:
        return self.compressor.hidden_dim

    def fit_target_statistics(self, features: torch.Tensor) -> None:
        if self.recipe == "robust":
            self.target_mean.copy_(features.mean(0))
            self.target_std.copy_(features.std(0).clamp_min(1e-6))

    def to_target(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.target_mean) / self.target_std

    def from_target(self, target: torch.Tensor) -> torch.Tensor:
        return target * self.target_std + self.target_mean

    def encode(self, features: torch.Tensor) -> torch.Tensor:
        return self.compressor(features)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return self.from_target(self.decompressor(latent))

    def architecture(self) -> dict[str, Any]:
        return {
            "feature_dim": self.feature_dim,
            "channel_uses": self.channel_uses,
            "hidden_dim": self.hidden_dim,
            "recipe": self.recipe,
        }


Channel = Callable[[torch.Tensor, float], torch.Tensor]
"""A differentiable channel on latents: ``(latent [B,k] float32, snr_db) → received latent [B,k]``."""


def analog_channel(link) -> Channel:
    """Wrap :class:`semlink.phy.AnalogLink` as a latent-to-latent channel (k reals = k/2 symbols).

    The received latent is what the receiver has: the equalised symbols in the on-air scale (each
    latent normalised to unit average symbol energy; the per-image scale is not sent), so the
    decoder learns from normalised latents. A noiseless channel delivers the on-air latent.
    """
    from semlink.phy import complex_to_real, real_to_complex, unit_energy_scale
    from semlink.systems.base import is_noiseless

    def channel(latent: torch.Tensor, snr_db: float) -> torch.Tensor:
        if is_noiseless(snr_db):
            return latent * unit_energy_scale(latent)
        out = link(real_to_complex(latent), snr_db)
        return complex_to_real(out.symbols_hat)

    return channel


def _loss(codec: KbscCodec, decoded_target: torch.Tensor, features: torch.Tensor, settings: TrainSettings):
    if codec.recipe == "reference":
        return F.mse_loss(decoded_target, features)
    target = codec.to_target(features)
    mse = F.mse_loss(decoded_target, target)
    decoded = F.normalize(codec.from_target(decoded_target), dim=-1)
    logits = decoded @ F.normalize(features, dim=-1).T / settings.temperature
    contrastive = F.cross_entropy(logits, torch.arange(len(features), device=features.device))
    return mse + settings.contrastive_weight * contrastive


def train_codec(
    train_features: torch.Tensor,
    val_sender: tuple[torch.Tensor, torch.Tensor],
    val_receiver: tuple[torch.Tensor, torch.Tensor],
    channel: Channel,
    channel_uses: int,
    settings: TrainSettings = TrainSettings(),
    seed: int = 0,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[KbscCodec, TrainHistory]:
    """Train a codec through ``channel``; keep the epoch with the best validation accuracy.

    The training SNR is drawn per batch from ``settings.snr_db``; validation sends the sender
    split through the channel at every training SNR in turn and scores top-1 semantic matching
    against the receiver split. Training stops after ``patience`` epochs without improvement.
    """
    import sys

    from tqdm import tqdm

    require(train_features.ndim == 2, f"train features have shape {tuple(train_features.shape)}; expected [N, D]")
    require(len(train_features) >= settings.batch_size,
            f"{len(train_features)} training features is fewer than batch_size = {settings.batch_size}")
    from semlink.seeding import seed_everything

    # The channel noise and fading drawn in training come from Sionna's generator: seed it too, so
    # a codec retrained after a resume is the same codec.
    seed_everything(seed)
    generator = torch.Generator().manual_seed(int(seed) % (1 << 63))
    device = train_features.device
    codec = KbscCodec(train_features.shape[1], channel_uses, settings.hidden_dim, settings.recipe).to(device)
    codec.fit_target_statistics(train_features)
    optimiser = torch.optim.Adam(codec.parameters(), lr=settings.learning_rate)
    history = TrainHistory()
    best_state = copy.deepcopy(codec.state_dict())
    val_x, val_y = val_sender
    kb_x, kb_y = val_receiver
    snrs = list(settings.snr_db)
    epochs_without_gain = 0
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(range(settings.epochs), desc=f"train kbsc@{channel_uses}", disable=not show, leave=False)
    for epoch in bar:
        codec.train()
        order = torch.randperm(len(train_features), generator=generator).to(device)
        total, count = 0.0, 0
        for start in range(0, len(order) - settings.batch_size + 1, settings.batch_size):
            batch = train_features[order[start : start + settings.batch_size]]
            snr = snrs[int(torch.randint(len(snrs), (1,), generator=generator))]
            decoded_target = codec.decompressor(channel(codec.encode(batch), snr))
            loss = _loss(codec, decoded_target, batch, settings)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += loss.item() * len(batch)
            count += len(batch)
        history.epoch_loss.append(total / max(count, 1))
        accuracy, spread = _validate(codec, channel, val_x, val_y, kb_x, kb_y, snrs)
        history.val_accuracy.append(accuracy)
        history.output_spread.append(spread)
        if accuracy > history.best_val_accuracy:
            history.best_val_accuracy, history.best_epoch = accuracy, epoch
            best_state = copy.deepcopy(codec.state_dict())
            epochs_without_gain = 0
        else:
            epochs_without_gain += 1
        bar.set_postfix(loss=f"{history.epoch_loss[-1]:.4f}", val=f"{accuracy:.3f}")
        if log is not None:
            log(f"epoch {epoch}: loss {history.epoch_loss[-1]:.4f} val top-1 {accuracy:.3f} spread {spread:.3f}")
        if epochs_without_gain >= settings.patience:
            break
    # A decoder whose outputs no longer vary across inputs has collapsed to the mean prediction.
    history.collapsed = bool(history.output_spread and history.output_spread[-1] < 0.05)
    codec.load_state_dict(best_state)
    codec.eval()
    return codec, history


@torch.no_grad()
def _validate(codec, channel, val_x, val_y, kb_x, kb_y, snrs: Sequence[float]) -> tuple[float, float]:
    codec.eval()
    chunks = torch.chunk(torch.arange(len(val_x), device=val_x.device), len(snrs))
    correct, spreads = 0.0, []
    for snr, idx in zip(snrs, chunks):
        if len(idx) == 0:
            continue
        decoded = codec.decode(channel(codec.encode(val_x[idx]), snr))
        correct += int(top_k_hits(nearest_labels(decoded, kb_x, kb_y, k=1), val_y[idx], 1).sum())
        target_std = val_x[idx].std(0).mean().clamp_min(1e-12)
        spreads.append(float(decoded.std(0).mean() / target_std))
    return correct / len(val_x), sum(spreads) / max(len(spreads), 1)


def save_codec(codec: KbscCodec, directory: str | os.PathLike[str], **metadata: Any) -> None:
    """Write ``model.safetensors`` + ``config.json`` into ``directory`` (each atomically)."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in codec.state_dict().items()}
    with atomic_path(directory / "model.safetensors") as tmp:
        save_file(state, str(tmp))
    meta = {"format": CHECKPOINT_FORMAT, "kind": "kbsc-codec", **codec.architecture(), **metadata}
    write_json_atomic(directory / "config.json", meta)


def load_codec(directory: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> tuple[KbscCodec, dict]:
    """Load a codec saved by :func:`save_codec`; refuse missing or malformed files clearly."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    directory = Path(directory)
    config_path, weights_path = directory / "config.json", directory / "model.safetensors"
    for path in (config_path, weights_path):
        if not path.is_file():
            raise MissingResourceError(
                f"checkpoint file {str(path)!r} is missing; a KBSC checkpoint folder holds config.json and model.safetensors"
            )
    try:
        meta = json.loads(config_path.read_text())
        codec = KbscCodec(meta["feature_dim"], meta["channel_uses"], meta["hidden_dim"], meta["recipe"])
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise CorruptFileError(f"{str(config_path)!r} is not a KBSC checkpoint config ({err})") from None
    if meta.get("kind") != "kbsc-codec":
        raise CorruptFileError(f"{str(config_path)!r} has kind {meta.get('kind')!r}; expected 'kbsc-codec'")
    try:
        state = load_file(str(weights_path), device=str(map_location))
        codec.load_state_dict(state)
    except (SafetensorError, RuntimeError, OSError) as err:
        raise CorruptFileError(f"{str(weights_path)!r} does not hold this codec's weights: {err}") from None
    return codec.eval(), meta


def history_dict(history: TrainHistory) -> dict[str, Any]:
    return asdict(history)


__all__ = [
    "RECIPES",
    "KbscCodec",
    "TrainSettings",
    "TrainHistory",
    "analog_channel",
    "train_codec",
    "save_codec",
    "load_codec",
    "SemlinkError",
]
