"""A run's resources: data → cached image features → splits → the receiver's knowledge base.

:func:`build_resources` loads the dataset, extracts (cached) image features, splits them into
training, validation sender/receiver, test queries and the receiver's knowledge base, and keeps the
*images* beside the features, so a feature scheme and an image scheme see the same queries, the
same knowledge base and the same training data. It returns what systems get
(:class:`~semlink.systems.context.SystemContext`) and what scoring needs (:class:`Scoring`), apart.

Workers in other processes get only what evaluation needs (:func:`evaluation_payload` →
:func:`resources_from_payload`): the queries, the receiver's library, the knowledge base's and the
trained codecs' files — no training data.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semlink.errors import SemlinkError
from semlink.systems.context import Artifacts, Queries, ReceiverLibrary, Source, SystemContext, TrainingData

__all__ = [
    "Resources", "Scoring", "add_validation", "build_resources", "data_fingerprint", "default_cache_dir",
    "evaluation_payload", "feature_cache_dir",
    "resources_from_payload",
]


@dataclass
class Scoring:
    """What the run scores with: the receiver's knowledge base, the run's image encoder (re-encodes
    reconstructions, memoised by content), ``top_k`` and whether LPIPS is computed."""

    kb: Any  # semlink.kb.KnowledgeBase of the receiver's test half
    image_encoder: Any = None  # semlink.tx.ImageEncoder
    top_k: int = 5
    lpips: bool = True
    _reencoder: Any = field(default=None, repr=False)

    def reencoder(self):
        """:class:`semlink.tx.encoders.memo.MemoisedEncoder` around the run's encoder (None without one)."""
        if self.image_encoder is None:
            return None
        if self._reencoder is None:
            from semlink.tx.encoders.memo import MemoisedEncoder

            self._reencoder = MemoisedEncoder(self.image_encoder)
        return self._reencoder


@dataclass
class Resources:
    """A run's :class:`SystemContext` (what systems use), its :class:`Scoring`, and where its KB lives;
    ``validation``: the validation split as queries and their scoring (the sender half sent, the receiver
    half as the knowledge base), where a system of the run chooses among its variants on it."""

    context: SystemContext
    scoring: Scoring
    kb_directory: Path
    validation: tuple[Queries, Scoring] | None = None
    query_ids: np.ndarray | None = None  # [Q] each query's position in its dataset split (driver only)

    def split(self, name: str) -> tuple[SystemContext, Scoring]:
        """The context and scoring of the ``"test"`` queries or of the ``"validation"`` split."""
        if name == "test":
            return self.context, self.scoring
        if name != "validation" or self.validation is None:
            raise SemlinkError(f"this run holds no {name!r} split to evaluate on")
        queries, scoring = self.validation
        return replace(self.context, queries=queries), scoring


def default_cache_dir() -> Path:
    return Path(os.environ.get("SEMLINK_CACHE", Path.home() / ".cache" / "semlink"))


def feature_cache_dir(cfg) -> Path:
    """Where ``cfg``'s image features are cached: ``[encoder] cache_dir``, else ``<cache>/features``."""
    return Path(cfg.encoder.cache_dir) if cfg.encoder.cache_dir else default_cache_dir() / "features"


def source_of(cfg) -> Source:
    """The source item of ``cfg``'s data and encoder (image shape from one training image's array, feature
    size from the encoder; opened only as far as needed)."""
    from semlink.data import load_dataset
    from semlink.tx import create_encoder

    data = cfg.data
    train = load_dataset(data.dataset, root=data.root, split="train", download=data.download, **data.options)
    dim = 0
    if any(spec.needs_feature_dim for spec in cfg.systems):
        dim = create_encoder(cfg.encoder.spec, image_size=cfg.encoder.image_size, device="cpu").dim
    return Source(tuple(int(s) for s in train.images.shape[1:]), dim)


def build_resources(cfg, out: Path, device: torch.device, log: Callable[[str], None],
                    cache_dir: str | os.PathLike[str] | None = None, checkpoints: Path | None = None) -> Resources:
    """Data → features → splits → knowledge base (saved to ``out/kb``) → :class:`Resources`.

    ``cache_dir``: the shared cache of trained codecs (None: none; see :mod:`semlink.systems.checkpoints`).
    ``checkpoints``: the run's checkpoint folder (default ``out/checkpoints``; a training worker's is its run's).
    The validation split is added by :func:`add_validation` where a system chooses on it.
    """
    from semlink.data import kbsc_split, load_dataset, subset_per_class
    from semlink.kb import KnowledgeBase, LabelSet
    from semlink.phy.links import LinkFactory
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
    cache = feature_cache_dir(cfg)
    log(f"features: {encoder.name} on {len(train_set)} train + {len(test_set)} test images of {data.dataset}")
    for note in dict.fromkeys(train_set.notes + test_set.notes):
        log(f"data: {note}")
    train_x = extract_features(encoder, train_set, cache_dir=cache, batch_size=cfg.encoder.batch_size).to(device)
    test_x = extract_features(encoder, test_set, cache_dir=cache, batch_size=cfg.encoder.batch_size).to(device)
    train_y = torch.as_tensor(train_set.labels, device=device)
    test_y = torch.as_tensor(test_set.labels, device=device)

    def part(x, y, idx):
        idx_t = torch.as_tensor(np.asarray(idx), device=device, dtype=torch.long)
        return x[idx_t], y[idx_t]

    kb_x, kb_y = part(test_x, test_y, split.test_receiver)
    kb = KnowledgeBase.build(kb_x, kb_y, factory=cfg.kb.factory, encoder=encoder.name, seed=cfg.seed,
                             label_set=LabelSet.of(test_set), encoder_weights=encoder.weights_id)
    kb.save(out / "kb")
    queries, query_labels = part(test_x, test_y, split.test_sender)
    log(f"knowledge base: {len(kb_x)} items ({cfg.kb.factory}); {len(queries)} queries")
    train_features, train_labels_t = part(train_x, train_y, split.train)
    val_sender = part(train_x, train_y, split.val_sender)
    val_receiver = part(train_x, train_y, split.val_receiver)
    train_images = train_set.images[np.asarray(split.train)]
    train_labels = train_set.labels[np.asarray(split.train)]
    val_images = train_set.images[np.asarray(split.val_sender)]
    fingerprint = data_fingerprint(train_features, *val_sender, *val_receiver, train_images, val_images)
    pool = _training_pool(cfg, train_set, split)
    context = SystemContext(
        source=Source(tuple(int(s) for s in train_set.images.shape[1:]), int(queries.shape[1])),
        queries=Queries(queries, query_labels, test_set.images[np.asarray(split.test_sender)], cfg.eval.batch_size),
        library=ReceiverLibrary(train_images, train_labels, list(train_set.class_names)),
        links=LinkFactory(cfg.link, device),
        artifacts=Artifacts(CheckpointStore(checkpoints or out / "checkpoints", cache_dir), cfg.seed, log, encoder.name,
                            fingerprint),
        training=TrainingData(train_features, train_labels_t, train_images, val_sender, val_receiver, val_images,
                              fingerprint, encoder.name, pool, data_fingerprint(pool, val_images)),
        encode_cache_dir=(Path(cache_dir).parent / "encodes") if cache_dir is not None else None,
    )
    test_ids = test_set.indices if test_set.indices is not None else np.arange(len(test_set))
    return Resources(context, Scoring(kb, encoder, cfg.eval.top_k, cfg.eval.lpips), out / "kb",
                     query_ids=np.asarray(test_ids)[np.asarray(split.test_sender)])


def _training_pool(cfg, train_set, split) -> np.ndarray:
    """Every image of the dataset's training split outside the run's validation halves (the run's training
    split and the images ``train_per_class`` left out): what image schemes may learn from."""
    from semlink.data import load_dataset

    data = cfg.data
    held = train_set.indices[np.concatenate([split.val_sender, split.val_receiver])] \
        if train_set.indices is not None else np.concatenate([split.val_sender, split.val_receiver])
    if data.train_per_class is None or train_set.split == "all":
        keep = np.setdiff1d(np.arange(len(train_set)), np.concatenate([split.val_sender, split.val_receiver]))
        return train_set.images[keep]
    whole = load_dataset(data.dataset, root=data.root, split="train", download=data.download, **data.options)
    keep = np.setdiff1d(np.arange(len(whole)), held)
    return whole.images[keep]


def add_validation(resources: Resources, cfg) -> None:
    """Give ``resources`` the validation split as queries (its sender half, at most ``[eval]
    validation_queries``, evenly spaced) scored against a knowledge base of its receiver half (saved
    beside the run's KB, ``kb_validation/``, for workers)."""
    from semlink.kb import KnowledgeBase

    data = resources.context.require_training("choosing among variants on the validation split")
    encoder = resources.scoring.image_encoder
    directory = resources.kb_directory.parent / "kb_validation"
    (features, labels), (kb_x, kb_y) = data.val_sender, data.val_receiver
    if len(features) == 0 or len(kb_x) == 0:
        raise SemlinkError(
            f"the validation split has {len(features)} query image(s) and {len(kb_x)} knowledge-base item(s): too few "
            f"training images per class for data.train_fraction = {cfg.data.train_fraction} to leave a validation "
            "sender and receiver half; a system here chooses its MCS (or variant) on validation - give more training "
            "images per class, a smaller data.train_fraction, or a fixed mcs = [index] to every system")
    count = len(features) if cfg.eval.validation_queries is None else min(len(features), cfg.eval.validation_queries)
    pick = np.linspace(0, len(features) - 1, count).round().astype(np.int64) if count < len(features) \
        else np.arange(len(features))
    index = torch.as_tensor(pick, device=features.device)
    kb = KnowledgeBase.build(kb_x, kb_y, factory=cfg.kb.factory, encoder=encoder.name, seed=cfg.seed,
                             encoder_weights=encoder.weights_id)
    kb.save(directory)
    images = None if data.val_images is None else data.val_images[pick]
    queries = Queries(features[index], labels[index], images, cfg.eval.batch_size, name="validation")
    resources.validation = (queries, Scoring(kb, encoder, cfg.eval.top_k, cfg.eval.lpips))


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


def evaluation_payload(resources: Resources) -> dict[str, Any]:
    """What a worker in another process (or on another machine) needs to *evaluate* points: the
    queries, the receiver's library, the knowledge base's files and the trained codecs' files, as plain
    arrays and bytes. Training data stays behind: every codec is trained by the driver before points fan out.
    """
    ctx = resources.context

    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
                if p.is_file() and not p.name.startswith(".")} if root.is_dir() else {}

    library = ctx.library
    return {
        "queries": ctx.queries.features.cpu().numpy(),
        "query_labels": ctx.queries.labels.cpu().numpy(),
        "query_images": ctx.queries.images,
        # The receiver's own image library (kb-compose, the fallback image) is the training split: it travels too.
        "library_images": library.images,
        "library_labels": library.labels,
        "class_names": library.class_names,
        "source": {"image_shape": list(ctx.source.image_shape), "feature_dim": ctx.source.feature_dim},
        "kb_files": files(resources.kb_directory),
        "checkpoint_files": files(ctx.artifacts.checkpoints.run_dir),
        "encoder": ctx.artifacts.encoder,
        "data_fingerprint": ctx.artifacts.data_fingerprint,
        "validation": None if resources.validation is None else {
            "queries": resources.validation[0].features.cpu().numpy(),
            "query_labels": resources.validation[0].labels.cpu().numpy(),
            "query_images": resources.validation[0].images,
            "kb_files": files(resources.kb_directory.parent / "kb_validation"),
        },
    }


def resources_from_payload(cfg, payload: dict[str, Any], workdir: Path, device: torch.device,
                           log: Callable[[str], None]) -> Resources:
    """A worker's :class:`Resources` from :func:`evaluation_payload` (files written under ``workdir``);
    its context has no training data."""
    from semlink.kb import KnowledgeBase
    from semlink.phy.links import LinkFactory
    from semlink.systems.checkpoints import CheckpointStore
    from semlink.tx import create_encoder

    for folder, key in (("kb", "kb_files"), ("checkpoints", "checkpoint_files")):
        for rel, data in payload[key].items():
            target = workdir / folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    kb = KnowledgeBase.load(workdir / "kb", expect_encoder=payload["encoder"])
    source = payload["source"]
    context = SystemContext(
        source=Source(tuple(source["image_shape"]), int(source["feature_dim"])),
        queries=Queries(torch.as_tensor(payload["queries"], device=device),
                        torch.as_tensor(payload["query_labels"], device=device), payload["query_images"],
                        cfg.eval.batch_size),
        library=ReceiverLibrary(payload["library_images"], payload["library_labels"], payload["class_names"]),
        links=LinkFactory(cfg.link, device),
        artifacts=Artifacts(CheckpointStore(workdir / "checkpoints"), cfg.seed, log, payload["encoder"],
                            payload["data_fingerprint"]),
    )
    encoder = create_encoder(cfg.encoder.spec, image_size=cfg.encoder.image_size, device=str(device))
    resources = Resources(context, Scoring(kb, encoder, cfg.eval.top_k, cfg.eval.lpips), workdir / "kb")
    split = payload.get("validation")
    if split is not None:
        for rel, data in split["kb_files"].items():
            target = workdir / "kb_validation" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        queries = Queries(torch.as_tensor(split["queries"], device=device),
                          torch.as_tensor(split["query_labels"], device=device), split["query_images"],
                          cfg.eval.batch_size, name="validation")
        val_kb = KnowledgeBase.load(workdir / "kb_validation", expect_encoder=payload["encoder"])
        resources.validation = (queries, Scoring(val_kb, encoder, cfg.eval.top_k, cfg.eval.lpips))
    return resources
