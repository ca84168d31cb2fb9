"""``semlink run CONFIG.toml``: a KBSC experiment from one validated TOML file.

Steps: load the dataset → extract (cached) image features → split them into training,
validation sender/receiver, test queries and the receiver's knowledge base → build and save the
FAISS knowledge base → train (or load) each system's codec per channel → evaluate every point
(system × channel × SNR, each with its own seed) → ``results.csv``/``.parquet``,
``manifest.json`` and accuracy-vs-SNR plots. ``resume=True`` continues a killed run: finished
points come from the journal, trained codecs from ``checkpoints/``.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import torch
from pydantic import Field, model_validator

from semlink.errors import SemlinkError
from semlink.seeding import seed_everything
from semlink.sim.config import ChannelSpec, DbList, LinkSpec, Strict, load_toml
from semlink.sim.plots import plot_accuracy
from semlink.sim.runner import Point, RunDirectory, make_points, run_points

REFERENCE_TEST_SNRS = [-7.0, -6.0, -5.0, -4.0, -2.0, 0.0, 2.0, 4.0, 5.0, 6.0, 7.0, 10.0]
REFERENCE_TRAIN_SNRS = [-7.0, -4.0, 0.0, 4.0, 7.0, 10.0]


class DataSpec(Strict):
    dataset: str = "fashion-mnist"
    root: str | None = None
    download: bool = False
    train_per_class: int | None = None  # None: the whole training split
    test_per_class: int | None = None  # None: the whole test split (halves: queries | knowledge base)
    train_fraction: float = Field(0.8, gt=0, lt=1)  # of the training split; the rest: validation sender/receiver
    test_fraction: float = Field(0.2, gt=0, lt=1)  # only for a folder without train/ and test/: held out per class


class EncoderSpec(Strict):
    spec: str = "efficientnet-lite0"
    image_size: int | None = Field(None, gt=0)  # None: the encoder's own (EfficientNet-Lite0 64, CLIP its transform)
    batch_size: int = Field(256, gt=0)
    cache_dir: str | None = None  # default: $SEMLINK_CACHE or ~/.cache/semlink


class KbSpec(Strict):
    factory: str = "Flat"


class TrainSpec(Strict):
    recipe: Literal["robust", "reference"] = "robust"
    epochs: int = Field(100, gt=0)
    patience: int = Field(20, gt=0)
    batch_size: int = Field(128, gt=1)
    lr: float | None = Field(None, gt=0)
    snr_db: DbList = REFERENCE_TRAIN_SNRS
    hidden_dim: int = Field(384, gt=0)

    def settings(self):
        from semlink.systems.kbsc_model import TrainSettings

        return TrainSettings(
            recipe=self.recipe, epochs=self.epochs, patience=self.patience, batch_size=self.batch_size,
            lr=self.lr, snr_db=tuple(self.snr_db), hidden_dim=self.hidden_dim,
        )


class SystemSpec(Strict):
    type: str
    name: str | None = None
    channel_uses: int | None = Field(None, gt=0)
    bits_per_value: int = Field(1, ge=1, le=16)
    modulation: str | None = None
    code: tuple[int, int] | Literal["uncoded"] | None = None


class EvalSpec(Strict):
    snr_db: DbList = REFERENCE_TEST_SNRS
    noiseless: bool = True
    batch_size: int = Field(1000, gt=0)
    top_k: int = Field(5, ge=1)


class ExperimentConfig(Strict):
    name: str = "kbsc"
    seed: int = Field(42, ge=0, lt=2**63)
    device: str = "cpu"
    data: DataSpec = DataSpec()
    encoder: EncoderSpec = EncoderSpec()
    kb: KbSpec = KbSpec()
    link: LinkSpec = LinkSpec()
    channels: list[ChannelSpec] | None = None  # default: [link.channel]
    systems: list[SystemSpec] = [
        SystemSpec(type="kbsc", channel_uses=128),
        SystemSpec(type="raw"),
        SystemSpec(type="noiseless"),
    ]
    train: TrainSpec = TrainSpec()
    eval: EvalSpec = EvalSpec()

    @model_validator(mode="after")
    def _check(self):
        from semlink.systems import SYSTEMS

        for spec in self.systems:
            if spec.type not in SYSTEMS:
                raise ValueError(f"unknown system type {spec.type!r}; accepted: {', '.join(sorted(SYSTEMS))}")
        if self.device not in ("cpu", "cuda", "auto") and not self.device.startswith("cuda:"):
            raise ValueError(f"device {self.device!r}; accepted: cpu, cuda, cuda:N, auto")
        # Build every link's PHY config now, so a bad grid, channel or code fails before hours of work.
        for channel in self.channel_list:
            self.link.analog(channel=channel.build())
            for spec in self.systems:
                if spec.type == "kbsc-digital":
                    code = spec.code if spec.code is not None else self.link.code
                    k, n = (None, None) if code == "uncoded" else code
                    self.link.digital(channel=channel.build(), modulation=(spec.modulation or self.link.modulation),
                                      code_k=k, code_n=n)
        return self

    @property
    def channel_list(self) -> list[ChannelSpec]:
        return list(self.channels) if self.channels else [self.link.channel]


def load_experiment(path: str | os.PathLike[str]) -> ExperimentConfig:
    return load_toml(ExperimentConfig, path)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SemlinkError(f"device {name!r} asked for but CUDA is not available; use device = 'cpu' or 'auto'")
    return torch.device(name)


def default_cache_dir() -> Path:
    return Path(os.environ.get("SEMLINK_CACHE", Path.home() / ".cache" / "semlink"))


def _log(message: str) -> None:
    print(f"[semlink {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def prepare_features(cfg: ExperimentConfig, device: torch.device, log=_log) -> dict[str, Any]:
    """Load data, extract features, split; returns tensors and the source size for CBR."""
    import numpy as np

    from semlink.data import kbsc_split, load_dataset, subset_per_class
    from semlink.tx import create_encoder, extract_features

    data = cfg.data
    train_set = load_dataset(data.dataset, root=data.root, split="train", download=data.download)
    if train_set.split == "all":
        # One pool of images (a folder without train/ and test/): hold out a seeded part per class.
        train_set, test_set = _hold_out(train_set, data.test_fraction, cfg.seed)
    else:
        test_set = load_dataset(data.dataset, root=data.root, split="test", download=data.download)
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

    shape = train_set.images.shape[1:]
    source_values = int(np.prod(shape))  # H·W (grayscale) or H·W·3: the values of one source image
    return {
        "encoder": encoder.name,
        "train": part(train_x, train_y, split.train),
        "val_sender": part(train_x, train_y, split.val_sender),
        "val_receiver": part(train_x, train_y, split.val_receiver),
        "queries": part(test_x, test_y, split.test_sender),
        "kb": part(test_x, test_y, split.test_receiver),
        "split_sizes": split.sizes(),
        "source_values": source_values,
        "source_shape": list(shape),
    }


def _hold_out(pool, test_fraction: float, seed: int):
    """Split a single pool per class into (train, test); test keeps dataset order within a class."""
    import numpy as np

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


def run_experiment(
    cfg: ExperimentConfig, out: str | os.PathLike[str], resume: bool = False, progress: bool | None = None, log=_log
) -> pd.DataFrame:
    from semlink.kb import KnowledgeBase
    from semlink.systems.base import ExperimentContext, create_system, is_noiseless, retrieval_metrics

    out = Path(out)
    config = cfg.model_dump(mode="json")
    # Refuse a used folder (or a resume with another config) before anything in it is overwritten.
    RunDirectory(out).prepare(config, cfg.seed, resume)
    seed_everything(cfg.seed)
    device = _device(cfg.device)
    started = time.perf_counter()
    feats = prepare_features(cfg, device, log=log)
    kb_x, kb_y = feats["kb"]
    kb = KnowledgeBase.build(kb_x, kb_y, factory=cfg.kb.factory, encoder=feats["encoder"], seed=cfg.seed)
    kb.save(out / "kb")
    log(f"knowledge base: {len(kb_x)} items ({cfg.kb.factory}); {len(feats['queries'][0])} queries")
    ctx = ExperimentContext(
        train_features=feats["train"][0],
        val_sender=feats["val_sender"],
        val_receiver=feats["val_receiver"],
        queries=feats["queries"][0],
        query_labels=feats["queries"][1],
        kb=kb,
        link=cfg.link,
        source_values=feats["source_values"],
        checkpoint_dir=out / "checkpoints",
        eval_batch_size=cfg.eval.batch_size,
        top_k=cfg.eval.top_k,
        seed=cfg.seed,
        train=cfg.train.settings(),
        encoder=feats["encoder"],
        log=log,
    )
    systems = [create_system(spec) for spec in cfg.systems]
    names = [s.name for s in systems]
    if len(set(names)) != len(names):
        raise SemlinkError(f"system names {names} repeat; give each [[systems]] entry a distinct name")
    by_name = {s.name: s for s in systems}
    channels = {ch.name: ch for ch in cfg.channel_list}
    if len(channels) != len(cfg.channel_list):
        raise SemlinkError("channels repeat a name; list each channel once")

    snrs = list(cfg.eval.snr_db) + ([math.inf] if cfg.eval.noiseless else [])
    grid: list[dict[str, Any]] = []
    for system in systems:
        if system.spec.type == "noiseless":
            grid.append({"system": system.name, "channel": "none", "snr_db": math.inf})
            continue
        for ch in channels:
            grid.extend({"system": system.name, "channel": ch, "snr_db": float(s)} for s in snrs)
    points = make_points(cfg.seed, grid)

    def evaluate(point: Point) -> dict[str, Any]:
        system = by_name[point.params["system"]]
        channel = channels.get(point.params["channel"])
        if channel is not None:
            system.prepare(ctx, channel)
        seed_everything(point.seed)
        tic = time.perf_counter()
        decoded, extras = system.decode_queries(ctx, channel, point.params["snr_db"])
        metrics = retrieval_metrics(decoded, ctx.queries, ctx.query_labels, kb, top_k=ctx.top_k)
        uses = system.channel_uses(ctx)
        return {
            "noiseless": is_noiseless(point.params["snr_db"]),
            "channel_uses": uses,
            "channel_uses_with_padding": system.channel_uses_with_padding(ctx, channel) if channel else 0,
            "cbr": uses / ctx.source_values,
            **metrics,
            **extras,
            "eval_seconds": time.perf_counter() - tic,
        }

    def refresh(frame: pd.DataFrame) -> None:
        write_plots(frame, out, cfg.name)

    frame = run_points(
        points, evaluate, out, config=config, seed=cfg.seed, resume=resume, progress=progress,
        desc="KBSC points", on_row=refresh,
    )
    log(f"done in {time.perf_counter() - started:.0f} s: {out}/results.csv, accuracy plots")
    return frame


def write_plots(frame: pd.DataFrame, out: Path, title: str) -> None:
    """One top-1 and one top-k accuracy-vs-SNR plot per channel; the noiseless bound on each."""
    bound = frame[frame["channel"] == "none"]
    topk = next((c for c in frame.columns if c.startswith("top") and c.endswith("_accuracy") and c != "top1_accuracy"), None)
    for channel, part in frame[frame["channel"] != "none"].groupby("channel"):
        part = pd.concat([part, bound])
        plot_accuracy(part, out / f"accuracy_top1_{channel}.png", title=f"{title}: top-1, {channel}")
        if topk:
            ci = (topk.replace("accuracy", "ci_low"), topk.replace("accuracy", "ci_high"))
            plot_accuracy(part, out / f"accuracy_{topk.split('_')[0]}_{channel}.png", metric=topk, ci=ci,
                          title=f"{title}: {topk.split('_')[0]}, {channel}")
