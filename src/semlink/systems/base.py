"""What every end-to-end system shares: the experiment context, retrieval metrics, the registry.

A *system* bundles a transmitter, a link and a receiver and answers one question: given the
sender's query features and an SNR, what are the metrics? The runner knows systems only through
:class:`System` and by name in :data:`SYSTEMS`, so a new scheme is one module plus one entry.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F

from semlink.errors import choice_error


@dataclass
class ExperimentContext:
    """Everything a system needs, prepared once per run.

    Feature tensors are ``[N, D] float32`` L2-normalised; label tensors ``[N] int64``.
    """

    train_features: torch.Tensor
    val_sender: tuple[torch.Tensor, torch.Tensor]
    val_receiver: tuple[torch.Tensor, torch.Tensor]
    queries: torch.Tensor
    query_labels: torch.Tensor
    kb: Any  # semlink.kb.KnowledgeBase of the receiver's test half
    link: Any  # semlink.sim.config.LinkSpec: modulation, code, grid, CSI shared by all systems
    source_values: int  # H·W·C of one source image, for CBR
    checkpoint_dir: Path
    eval_batch_size: int = 1000
    top_k: int = 5
    seed: int = 0
    train: Any = None  # semlink.systems.kbsc_model.TrainSettings
    encoder: str = "unknown"  # the image encoder's canonical name (checkpoint provenance)
    log: Callable[[str], None] = print
    _links: dict[tuple, Any] = field(default_factory=dict)

    @property
    def feature_dim(self) -> int:
        return int(self.queries.shape[1])

    def analog_link(self, channel, packed: bool = False):
        """The :class:`semlink.phy.AnalogLink` for ``channel`` (a ChannelSpec), built once.

        Evaluation sends every image in its own OFDM slot (``packed=False``), so images see
        independent channel realisations and the binomial confidence intervals hold. Training
        packs several images per slot (``packed=True``): the same channel statistics, fewer REs.
        """
        from semlink.phy import AnalogLink

        key = ("analog", channel, packed)
        if key not in self._links:
            self._links[key] = AnalogLink(self.link.analog(channel=channel.build()), pack_examples=packed)
        return self._links[key]

    def digital_link(self, channel, modulation: str, code: tuple[int, int] | str):
        from semlink.phy import DigitalLink

        key = ("digital", channel, modulation, tuple(code) if code != "uncoded" else code)
        if key not in self._links:
            k, n = (None, None) if code == "uncoded" else code
            self._links[key] = DigitalLink(
                self.link.digital(channel=channel.build(), modulation=modulation, code_k=k, code_n=n)
            )
        return self._links[key]


class System(Protocol):
    """One scheme under test."""

    name: str

    def channel_uses(self, ctx: ExperimentContext) -> int:
        """Complex channel symbols that carry one image's payload (the channel-use budget)."""

    def channel_uses_with_padding(self, ctx: ExperimentContext, channel) -> int:
        """Data REs one image occupies on the link as evaluated: whole OFDM slots, padding included."""

    def prepare(self, ctx: ExperimentContext, channel) -> None:
        """Train or load what the system needs for ``channel`` (idempotent)."""

    def decode_queries(self, ctx: ExperimentContext, channel, snr_db: float) -> torch.Tensor:
        """Send every query across the channel; return the receiver's features ``[Q, D]``."""


def retrieval_metrics(
    decoded: torch.Tensor, sent: torch.Tensor, labels: torch.Tensor, kb, top_k: int = 5
) -> dict[str, float | int]:
    """Top-1/top-k semantic matching (with a 95 % Wilson interval), feature MSE and cosine.

    ``decoded`` is L2-normalised before the search (the KB holds normalised features), so the
    exact L2 search ranks by cosine similarity.
    """
    from semlink.metrics import binomial_ci

    decoded = F.normalize(decoded.float(), dim=-1)
    result = kb.search(decoded.contiguous(), k=top_k)
    found = result.labels.to(labels.device)
    top1_hits = int((found[:, 0] == labels).sum())
    topk_hits = int((found == labels[:, None]).any(dim=1).sum())
    n = int(labels.numel())
    low, high = binomial_ci(top1_hits, n, confidence=0.95)
    k_low, k_high = binomial_ci(topk_hits, n, confidence=0.95)
    return {
        "top1_accuracy": top1_hits / n,
        "top1_ci_low": float(low),
        "top1_ci_high": float(high),
        f"top{top_k}_accuracy": topk_hits / n,
        f"top{top_k}_ci_low": float(k_low),
        f"top{top_k}_ci_high": float(k_high),
        "n_queries": n,
        "feature_mse": float(((decoded - sent) ** 2).mean()),
        "feature_cosine": float(F.cosine_similarity(decoded, sent, dim=-1).mean()),
    }


SYSTEMS: dict[str, Callable[..., System]] = {}


def register_system(type_name: str):
    """Class decorator: make a system constructible by its config ``type`` name."""

    def wrap(cls):
        SYSTEMS[type_name] = cls
        return cls

    return wrap


def create_system(spec) -> System:
    """Build the system a :class:`SystemSpec` describes."""
    if spec.type not in SYSTEMS:
        raise choice_error("system type", spec.type, sorted(SYSTEMS))
    return SYSTEMS[spec.type](spec)


def is_noiseless(snr_db: float) -> bool:
    return math.isinf(snr_db) and snr_db > 0
