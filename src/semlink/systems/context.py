"""The experiment context: the data, features, knowledge base and links every system of a run shares.

:func:`build_context` loads the dataset, extracts (cached) image features, splits them into
training, validation sender/receiver, test queries and the receiver's knowledge base, and keeps the
*images* beside the features, so a feature scheme and an image scheme see the same queries, the
same knowledge base and the same training data.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semlink.errors import SemlinkError

__all__ = [
    "ExperimentContext", "build_context", "context_from_payload", "context_payload", "data_fingerprint",
    "default_cache_dir",
]


@dataclass
class ExperimentContext:
    """Everything a system needs, prepared once per run.

    Features are ``[N, D] float32`` L2-normalised, labels ``[N] int64`` (torch, on the run's
    device); images ``[N, H, W] or [N, H, W, 3] uint8`` NumPy arrays, row-aligned with the features.
    """

    train_features: torch.Tensor
    val_sender: tuple[torch.Tensor, torch.Tensor]
    val_receiver: tuple[torch.Tensor, torch.Tensor]
    queries: torch.Tensor
    query_labels: torch.Tensor
    kb: Any  # semlink.kb.KnowledgeBase of the receiver's test half
    link: Any  # semlink.sim.config.LinkSpec: modulation, code, grid, CSI shared by all systems
    source_shape: tuple[int, ...]  # (H, W) or (H, W, 3) of one source image
    checkpoints: Any  # semlink.systems.checkpoints.CheckpointStore: the run's codecs and the shared cache
    query_images: np.ndarray | None = None
    train_images: np.ndarray | None = None
    train_labels: np.ndarray | None = None  # [N] int64, row-aligned with train_features and train_images
    class_names: list[str] | None = None
    val_images: np.ndarray | None = None  # the sender half of the validation split
    image_encoder: Any = None  # semlink.tx.ImageEncoder: re-encodes reconstructed images for scoring
    kb_directory: Path | None = None  # where the knowledge base's files are (shipped to remote workers)
    eval_batch_size: int = 1000
    top_k: int = 5
    lpips: bool = True
    seed: int = 0
    train: Any = None  # semlink.systems.kbsc_recipes.TrainSettings
    encoder: str = "unknown"  # the image encoder's canonical name (checkpoint provenance)
    data_fingerprint: str = "unknown"  # hash of the training and validation data (checkpoint provenance)
    encode_cache_dir: Path | None = None  # where image-codec encodes persist across runs (None: memory only)
    log: Callable[[str], None] = print
    _links: dict[Any, Any] = field(default_factory=dict)

    @property
    def feature_dim(self) -> int:
        return int(self.queries.shape[1])

    @property
    def source_values(self) -> int:
        """H·W·C of one source image: the denominator of the channel bandwidth ratio (CBR)."""
        return int(np.prod(self.source_shape))

    @property
    def fallback_image(self) -> np.ndarray:
        """The receiver's image when nothing decodes: the training set's mean image (uint8)."""
        if "fallback" not in self._links:
            if self.train_images is None:
                raise SemlinkError("this run holds no training images, so no fallback image is defined")
            self._links["fallback"] = np.rint(self.train_images.mean(axis=0)).astype(np.uint8)
        return self._links["fallback"]

    def encode_cache(self):
        """The run's :class:`semlink.tx.codecs.EncodeCache`, shared by every codec system."""
        if "encode_cache" not in self._links:
            from semlink.tx.codecs import EncodeCache

            self._links["encode_cache"] = EncodeCache(self.encode_cache_dir)
        return self._links["encode_cache"]

    def reencoder(self):
        """The run's image encoder memoised by image content, for scoring reconstructions
        (:class:`semlink.tx.encoders.memo.MemoisedEncoder`)."""
        if self.image_encoder is None:
            return None
        if "reencoder" not in self._links:
            from semlink.tx.encoders.memo import MemoisedEncoder

            self._links["reencoder"] = MemoisedEncoder(self.image_encoder)
        return self._links["reencoder"]

    def batches(self):
        """Slices of the query set of at most ``eval_batch_size`` items."""
        n = len(self.queries)
        for start in range(0, n, self.eval_batch_size):
            yield slice(start, min(start + self.eval_batch_size, n))

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


def default_cache_dir() -> Path:
    return Path(os.environ.get("SEMLINK_CACHE", Path.home() / ".cache" / "semlink"))


def build_context(
    cfg, out: Path, device: torch.device, log: Callable[[str], None], cache_dir: str | os.PathLike[str] | None = None
) -> ExperimentContext:
    """Data → features → splits → knowledge base (saved to ``out/kb``) → :class:`ExperimentContext`.

    ``cache_dir``: the shared cache of trained codecs (None: none; see :mod:`semlink.systems.checkpoints`).
    """
    from semlink.data import kbsc_split, load_dataset, subset_per_class
    from semlink.kb import KnowledgeBase
    from semlink.systems.checkpoints import CheckpointStore
    from semlink.tx import create_encoder, extract_features

    data = cfg.data
    train_set = load_dataset(data.dataset, root=data.root, split="train", download=data.download, **data.options)
    if train_set.split == "all":
        # One pool of images (a folder without train/ and test/): hold out a seeded part per class.
        train_set, test_set = _hold_out(train_set, data.test_fraction, cfg.seed)
    else:
        test_set = load_dataset(data.dataset, root=data.root, split="test", download=data.download, **data.options)
    if data.train_per_class is not None:
        train_set = train_set.subset(subset_per_class(train_set.labels, data.train_per_class, seed=cfg.seed))
    if data.test_per_class is not None:
        # The first items of each class in dataset order, so the query/KB halves match the reference.
        test_set = test_set.subset(subset_per_class(test_set.labels, data.test_per_class, seed=None))
    split = kbsc_split(train_set.labels, test_set.labels, seed=cfg.seed, train_fraction=data.train_fraction)
    encoder = create_encoder(cfg.encoder.spec, image_size=cfg.encoder.image_size, device=str(device))
    cache = Path(cfg.encoder.cache_dir) if cfg.encoder.cache_dir else default_cache_dir() / "features"
    log(f"features: {encoder.name} on {len(train_set)} train + {len(test_set)} test images of {data.dataset}")
    train_x = extract_features(encoder, train_set, cache_dir=cache, batch_size=cfg.encoder.batch_size).to(device)
    test_x = extract_features(encoder, test_set, cache_dir=cache, batch_size=cfg.encoder.batch_size).to(device)
    train_y = torch.as_tensor(train_set.labels, device=device)
    test_y = torch.as_tensor(test_set.labels, device=device)

    def part(x, y, idx):
        idx_t = torch.as_tensor(np.asarray(idx), device=device, dtype=torch.long)
        return x[idx_t], y[idx_t]

    kb_x, kb_y = part(test_x, test_y, split.test_receiver)
    kb = KnowledgeBase.build(kb_x, kb_y, factory=cfg.kb.factory, encoder=encoder.name, seed=cfg.seed)
    kb.save(out / "kb")
    queries, query_labels = part(test_x, test_y, split.test_sender)
    log(f"knowledge base: {len(kb_x)} items ({cfg.kb.factory}); {len(queries)} queries")
    train_features = part(train_x, train_y, split.train)[0]
    val_sender = part(train_x, train_y, split.val_sender)
    val_receiver = part(train_x, train_y, split.val_receiver)
    train_images = train_set.images[np.asarray(split.train)]
    train_labels = train_set.labels[np.asarray(split.train)]
    val_images = train_set.images[np.asarray(split.val_sender)]
    return ExperimentContext(
        train_features=train_features,
        val_sender=val_sender,
        val_receiver=val_receiver,
        queries=queries,
        query_labels=query_labels,
        kb=kb,
        link=cfg.link,
        source_shape=tuple(int(s) for s in train_set.images.shape[1:]),
        checkpoints=CheckpointStore(out / "checkpoints", cache_dir),
        kb_directory=out / "kb",
        encode_cache_dir=(Path(cache_dir).parent / "encodes") if cache_dir is not None else None,
        query_images=test_set.images[np.asarray(split.test_sender)],
        train_images=train_images,
        train_labels=train_labels,
        class_names=list(train_set.class_names),
        val_images=val_images,
        image_encoder=encoder,
        eval_batch_size=cfg.eval.batch_size,
        top_k=cfg.eval.top_k,
        lpips=cfg.eval.lpips,
        seed=cfg.seed,
        train=cfg.train.settings(),
        encoder=encoder.name,
        data_fingerprint=data_fingerprint(train_features, *val_sender, *val_receiver, train_images, val_images),
        log=log,
    )


def data_fingerprint(*arrays: torch.Tensor | np.ndarray) -> str:
    """Hex digest of the bytes of ``arrays`` (what a codec is trained and validated on)."""
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _hold_out(pool, test_fraction: float, seed: int):
    """Split a single pool per class into (train, test); test keeps dataset order within a class."""
    rng = np.random.default_rng([seed, 0x484F4C44])  # "HOLD": its own stream of the run seed
    test_idx = []
    for label in np.unique(pool.labels):
        members = np.flatnonzero(pool.labels == label)
        count = max(1, int(round(test_fraction * len(members))))
        if count >= len(members):
            raise SemlinkError(
                f"class {pool.class_names[label]!r} of folder {pool.source!r} has {len(members)} image(s); "
                "a single-pool folder needs at least 2 per class (or give train/ and test/ sub-folders)"
            )
        test_idx.append(np.sort(rng.choice(members, size=count, replace=False)))
    test = np.sort(np.concatenate(test_idx))
    train = np.setdiff1d(np.arange(len(pool.labels)), test)
    return pool.subset(train), pool.subset(test)


def context_payload(ctx: ExperimentContext) -> dict[str, Any]:
    """What a worker in another process (or on another machine) needs to *evaluate* points: the
    queries, the knowledge base's files and the trained codecs' files, as plain arrays and bytes.

    Training data stays behind: every codec is trained by the driver before points fan out.
    """

    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
                if p.is_file() and not p.name.startswith(".")} if root.is_dir() else {}

    return {
        "queries": ctx.queries.cpu().numpy(),
        "query_labels": ctx.query_labels.cpu().numpy(),
        "query_images": ctx.query_images,
        "fallback_image": ctx.fallback_image if ctx.train_images is not None and len(ctx.train_images) else None,
        # The receiver's own image library (kb-compose) is the training split: it travels too.
        "train_images": ctx.train_images,
        "train_labels": ctx.train_labels,
        "class_names": ctx.class_names,
        "source_shape": tuple(ctx.source_shape),
        "kb_files": files(Path(ctx.kb_directory)),
        "checkpoint_files": files(ctx.checkpoints.run_dir),
        "encoder": ctx.encoder,
        "data_fingerprint": ctx.data_fingerprint,
    }


def context_from_payload(cfg, payload: dict[str, Any], workdir: Path, device: torch.device,
                         log: Callable[[str], None]) -> ExperimentContext:
    """The worker's :class:`ExperimentContext` from :func:`context_payload` (files written under ``workdir``)."""
    from semlink.kb import KnowledgeBase
    from semlink.systems.checkpoints import CheckpointStore
    from semlink.tx import create_encoder

    for folder, key in (("kb", "kb_files"), ("checkpoints", "checkpoint_files")):
        for rel, data in payload[key].items():
            target = workdir / folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    kb = KnowledgeBase.load(workdir / "kb", expect_encoder=payload["encoder"])
    queries = torch.as_tensor(payload["queries"], device=device)
    empty = queries[:0]
    no_labels = torch.zeros(0, dtype=torch.long, device=device)
    ctx = ExperimentContext(
        train_features=empty, val_sender=(empty, no_labels), val_receiver=(empty, no_labels),
        queries=queries, query_labels=torch.as_tensor(payload["query_labels"], device=device), kb=kb,
        link=cfg.link, source_shape=tuple(payload["source_shape"]),
        checkpoints=CheckpointStore(workdir / "checkpoints"), query_images=payload["query_images"],
        train_images=payload["train_images"], train_labels=payload["train_labels"],
        class_names=payload["class_names"],
        image_encoder=create_encoder(cfg.encoder.spec, image_size=cfg.encoder.image_size, device=str(device)),
        eval_batch_size=cfg.eval.batch_size, top_k=cfg.eval.top_k, lpips=cfg.eval.lpips, seed=cfg.seed,
        train=cfg.train.settings(), encoder=payload["encoder"], data_fingerprint=payload["data_fingerprint"],
        kb_directory=workdir / "kb", log=log,
    )
    if payload["fallback_image"] is not None:
        ctx._links["fallback"] = payload["fallback_image"]
    return ctx
