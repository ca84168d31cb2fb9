"""What a system works with, one typed object per concern (the experiment layer builds them).

=====================  ==========================================================================
object                 what it holds, and who uses it
=====================  ==========================================================================
:class:`Source`        the shape of one sent item (image shape, feature size): fixed when systems
                       are built, so channel uses and CBR are known before any data is loaded
:class:`Queries`       the items the transmitter sends (features, labels, images), in batches
:class:`ReceiverLibrary` what the receiver owns besides the channel output: its labelled image
                       library (the training split; Multi-SC's ``kb-compose`` retrieves from it) and
                       the image it shows when nothing decodes (the library's mean image)
:class:`TrainingData`  what trained schemes learn from (training split, validation halves); the
                       driver process only — workers evaluate trained codecs and never train
:class:`Artifacts`     where trained codecs live (checkpoints and the shared cache), the run seed,
                       the run's log
:class:`SystemContext` the above plus the run's :class:`~semlink.phy.links.LinkFactory` and image
                       encode cache: what ``System.prepare`` / ``System.transmit`` receive
=====================  ==========================================================================

Scoring (the knowledge base, the re-encoder of reconstructions) belongs to the experiment layer:
systems return what the receiver decoded and never see the truth they are scored against.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semlink.errors import SemlinkError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from semlink.phy.links import LinkFactory
    from semlink.systems.checkpoints import CheckpointStore

__all__ = ["Artifacts", "Queries", "ReceiverLibrary", "Source", "SystemContext", "TrainingData"]


@dataclass(frozen=True)
class Source:
    """One sent item: an image of ``image_shape`` (``(H, W)`` or ``(H, W, 3)``) and its ``feature_dim``-d feature."""

    image_shape: tuple[int, ...]
    feature_dim: int

    @property
    def values(self) -> int:
        """H·W·C of one source image: the denominator of the channel bandwidth ratio (CBR)."""
        return int(math.prod(self.image_shape))


@dataclass
class Queries:
    """The items the transmitter sends: ``features [Q, D] float32`` (L2-normalised), ``labels [Q] int64``
    (torch, on the run's device) and ``images [Q, H, W(, 3)] uint8`` (NumPy, row-aligned; None where the
    run holds no images). ``batch_size`` bounds how many cross the link at once. ``name`` says which
    split they are: ``"test"`` (the queries results are reported on) or ``"validation"`` (the sender half
    of the validation split, on which families of variants are chosen); a system keeps what it computes
    per query set under this name."""

    features: torch.Tensor
    labels: torch.Tensor
    images: np.ndarray | None = None
    batch_size: int = 1000
    name: str = "test"

    def __len__(self) -> int:
        return int(self.features.shape[0])

    @property
    def device(self) -> torch.device:
        return self.features.device

    def batches(self) -> Iterator[slice]:
        """Slices of the queries of at most ``batch_size`` items."""
        n = len(self)
        for start in range(0, n, self.batch_size):
            yield slice(start, min(start + self.batch_size, n))


@dataclass
class ReceiverLibrary:
    """The receiver's own labelled images (``[N, H, W(, 3)] uint8``, labels ``[N] int64``, class names):
    the run's training split, disjoint from the queries. ``fallback_image`` is what a receiver shows
    when nothing decodes: the library's mean image (uint8)."""

    images: np.ndarray | None
    labels: np.ndarray | None = None
    class_names: list[str] | None = None
    _fallback: np.ndarray | None = None

    @property
    def fallback_image(self) -> np.ndarray:
        if self._fallback is None:
            if self.images is None or not len(self.images):
                raise SemlinkError("this run holds no training images, so no fallback image is defined")
            self._fallback = np.rint(self.images.mean(axis=0)).astype(np.uint8)
        return self._fallback


@dataclass
class TrainingData:
    """What trained schemes learn from (driver only).

    ``features [N, D]``, ``labels [N]`` (torch) and ``images [N, H, W(, 3)] uint8`` of the training
    split, row-aligned; ``val_sender`` / ``val_receiver``: ``(features, labels)`` of the validation
    halves (senders are sent, receivers stand in for the knowledge base); ``val_images``: the
    sender half's images. ``fingerprint`` names exactly this data and ``encoder`` the features' encoder
    (both part of a checkpoint's provenance). ``pool_images``: every image of the dataset's training
    split outside the validation halves (``images`` and more), for image schemes that learn from images
    (``pool_fingerprint`` names it).
    """

    features: torch.Tensor
    labels: torch.Tensor | None
    images: np.ndarray | None
    val_sender: tuple[torch.Tensor, torch.Tensor]
    val_receiver: tuple[torch.Tensor, torch.Tensor]
    val_images: np.ndarray | None
    fingerprint: str
    encoder: str
    pool_images: np.ndarray | None = None
    pool_fingerprint: str = ""

    def images_of(self, which: str) -> np.ndarray:
        """The training images of ``"split"`` or ``"pool"`` (see the class docstring)."""
        if which == "pool" and self.pool_images is not None:
            return self.pool_images
        if which not in ("split", "pool"):
            raise SemlinkError(f"training images {which!r}; accepted: split, pool")
        return self.images


@dataclass
class Artifacts:
    """Where trained codecs live (:class:`~semlink.systems.checkpoints.CheckpointStore`), the run seed and log."""

    checkpoints: CheckpointStore
    seed: int = 0
    log: Callable[[str], None] = print
    encoder: str = "unknown"  # the features' encoder: checkpoint provenance (workers have no TrainingData)
    data_fingerprint: str = "unknown"


@dataclass
class SystemContext:
    """Everything a system may use to prepare and to transmit (see the module docstring).

    ``training`` is None where only evaluation happens (a worker process): a codec that is not in
    ``artifacts.checkpoints`` cannot be trained there.
    """

    source: Source
    queries: Queries
    library: ReceiverLibrary
    links: LinkFactory
    artifacts: Artifacts
    training: TrainingData | None = None
    encode_cache_dir: Path | None = None  # where image-codec encodes persist across runs (None: memory only)
    _encode_cache: Any = field(default=None, repr=False)

    @property
    def device(self) -> torch.device:
        return self.queries.device

    @property
    def log(self) -> Callable[[str], None]:
        return self.artifacts.log

    def encode_cache(self):
        """The run's :class:`semlink.tx.codecs.EncodeCache`, shared by every codec system."""
        if self._encode_cache is None:
            from semlink.tx.codecs import EncodeCache

            self._encode_cache = EncodeCache(self.encode_cache_dir)
        return self._encode_cache

    def require_training(self, what: str) -> TrainingData:
        """The training data, or a clear error where there is none (an evaluation-only worker)."""
        if self.training is None:
            raise SemlinkError(f"{what} must be trained, but this process only evaluates (no training data): "
                               "train it in the driver first (semlink run trains every codec before points fan out)")
        return self.training
