"""The ``semlink run`` configuration: one TOML file, validated whole before any work starts (no torch).

>>> cfg = validate(ExperimentConfig, {"systems": [{"type": "kbsc", "channel_uses": [64, 128]}, {"type": "raw"}]})
>>> [(s.display_name, s.budgets(cfg.budgets)) for s in cfg.systems]
[('kbsc', [64, 128]), ('raw', [None])]
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import Field, SerializeAsAny, field_validator, model_validator

from semlink.config import DbList, Strict, validate
from semlink.devices import check_device_name
from semlink.phy.spec import ChannelSpec, LinkSpec
from semlink.systems.specs import SystemSpec, parse_system_spec

__all__ = [
    "DataSpec", "EncoderSpec", "EvalSpec", "ExperimentConfig", "KbSpec", "REFERENCE_TEST_SNRS",
    "REFERENCE_TRAIN_SNRS", "TrainSpec", "import_plugins", "load_experiment", "validate",
]

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
    options: dict[str, Any] = {}  # dataset-specific, e.g. photos: {image_size = 128, views = 8}; folder: image_size


class EncoderSpec(Strict):
    spec: str = "efficientnet-lite0"
    image_size: int | None = Field(None, gt=0)  # None: the encoder's own (EfficientNet-Lite0 64, CLIP its transform)
    batch_size: int = Field(256, gt=0)
    cache_dir: str | None = None  # default: $SEMLINK_CACHE or ~/.cache/semlink


class KbSpec(Strict):
    factory: str = "Flat"


_SCHEME_TRAIN_KEYS = ("recipe", "epochs", "patience", "batch_size", "lr", "hidden_dim", "class_weight",
                      "noise_input", "schedule", "warmup_epochs", "weight_decay", "ema_decay", "selection",
                      "smoothing_window", "validation", "val_size", "val_snrs", "snr_draw")


class TrainSpec(Strict):
    """``[train]``: what every trained scheme of the run shares — the training SNRs and how many codecs
    (training seeds) each trains per (system, budget, channel). How a scheme trains is its entry's own
    ``train`` table (e.g. ``[[systems]] type = "kbsc"`` with ``train = { epochs = 30 }``)."""

    snr_db: DbList = REFERENCE_TRAIN_SNRS
    seeds: int = Field(1, ge=1, le=100)  # codecs trained per (system, budget, channel): results give mean and spread

    @model_validator(mode="before")
    @classmethod
    def _scheme_keys(cls, data):
        moved = [key for key in _SCHEME_TRAIN_KEYS if isinstance(data, dict) and key in data]
        if moved:
            shown = ", ".join(f"{key} = {json.dumps(data[key])}" for key in moved)
            raise ValueError(f"{', '.join(moved)} belong to each trained system now, not to [train]: write "
                             f"train = {{ {shown} }} in the [[systems]] entries that train (kbsc, kbsc-digital)")
        return data


class EvalSpec(Strict):
    snr_db: DbList = REFERENCE_TEST_SNRS
    noiseless: bool = True
    batch_size: int = Field(1000, gt=0)
    validation_queries: int | None = Field(None, ge=1)  # senders of the validation split families are chosen on
    # A family's (e.g. an MCS table's) members are chosen on the validation split first and only the chosen one
    # scores the test queries; true: every member scores them too (each member's own curve, and the hindsight rows).
    hindsight: bool = False
    top_k: int = Field(5, ge=1)
    lpips: bool = True  # computed only where its AlexNet weights are on disk; results say when skipped


def import_plugins(modules: Any, search: str | os.PathLike[str] | None = None) -> list[str]:
    """Import the plug-in ``modules`` (``["my_pkg.my_schemes"]``), which register their system types,
    datasets, encoders or codecs from code when imported; return their names.

    A module not found on ``sys.path`` is looked for in the folder ``search`` (a config file's own):
    found there, that folder is put on ``sys.path``. The folder a plug-in was imported from (unless it
    is installed) is also put on ``PYTHONPATH``, so worker processes started later — a process pool, a
    local Ray instance — import it too; on a Ray cluster of other machines, install it on every node.
    A module that cannot be imported raises ``ValueError`` naming it and the cause.
    """
    if modules is None:
        return []
    if not isinstance(modules, list) or not all(isinstance(m, str) and m.strip() for m in modules):
        raise ValueError(f"plugins {modules!r} must be a list of module names, e.g. [\"my_pkg.my_schemes\"]")
    for name in modules:
        top = name.split(".")[0]
        if search is not None and importlib.util.find_spec(top) is None:
            folder = Path(search).resolve()
            if (folder / f"{top}.py").is_file() or (folder / top / "__init__.py").is_file():
                sys.path.insert(0, str(folder))
        try:
            module = importlib.import_module(name)
        except ImportError as err:
            raise ValueError(f"plugin {name!r} cannot be imported ({err}); install its package, put its folder on "
                             "PYTHONPATH, or place it beside the config file") from None
        _export_to_subprocesses(sys.modules.get(top, module))
    return list(modules)


def _export_to_subprocesses(module: Any) -> None:
    """Put the folder a plug-in was imported from on ``PYTHONPATH`` for processes started later (a local Ray
    instance's workers do not inherit ``sys.path``); installed packages need nothing."""
    path = getattr(module, "__file__", None)
    if not path:
        return
    file = Path(path).resolve()
    folder = file.parent.parent if file.name == "__init__.py" else file.parent
    if {"site-packages", "dist-packages"} & set(folder.parts):
        return
    entries = [e for e in os.environ.get("PYTHONPATH", "").split(os.pathsep) if e]
    if str(folder) not in entries:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(folder), *entries])


class ExperimentConfig(Strict):
    name: str = "experiment"
    plugins: list[str] = []  # modules imported first: they register system types, datasets, encoders, codecs
    seed: int = Field(42, ge=0, lt=2**63)
    device: str = "cpu"
    data: DataSpec = DataSpec()
    encoder: EncoderSpec = EncoderSpec()
    kb: KbSpec = KbSpec()
    link: LinkSpec = LinkSpec()
    channels: list[ChannelSpec] | None = None  # default: [link.channel]
    budgets: list[int] | None = None  # channel uses per image, for systems without their own channel_uses
    systems: list[SerializeAsAny[SystemSpec]] = Field(default_factory=list, validate_default=True)
    train: TrainSpec = TrainSpec()
    eval: EvalSpec = EvalSpec()

    @model_validator(mode="before")
    @classmethod
    def _plugins_first(cls, data: Any) -> Any:
        # Before any [[systems]] entry is parsed: a plug-in may define its type (also in a worker process,
        # which validates the same config).
        if isinstance(data, dict):
            import_plugins(data.get("plugins"))
        return data

    @field_validator("systems", mode="before")
    @classmethod
    def _system_specs(cls, value: Any) -> list[SystemSpec]:
        if not isinstance(value, list) or not value:
            raise ValueError("a run needs at least one [[systems]] entry (e.g. type = \"kbsc\")")
        return [parse_system_spec(entry, f"[[systems]] entry {i + 1}") for i, entry in enumerate(value)]

    @field_validator("budgets")
    @classmethod
    def _budgets(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and (not value or any(b <= 0 for b in value) or len(set(value)) != len(value)):
            raise ValueError(f"budgets {value} must be distinct positive numbers of channel uses")
        return value

    @model_validator(mode="after")
    def _check(self):
        check_device_name(self.device)
        names = [s.display_name for s in self.systems]
        for spec in self.systems:
            spec.budgets(self.budgets)  # raises when a budgeted scheme has none
            if names.count(spec.display_name) > 1:
                raise ValueError(f"system name {spec.display_name!r} repeats; give each [[systems]] entry a distinct name")
        channel_names = [ch.key for ch in self.channel_list]
        if len(set(channel_names)) != len(channel_names):
            raise ValueError(f"channels {channel_names} repeat a name; list each channel once (or give one a label)")
        # Build every link's PHY config now, so a bad grid, channel or code fails before hours of work;
        # each system checks what it needs of them.
        for channel in self.channel_list:
            self.link.on(channel).analog(channel=channel.build())
        for spec in self.systems:
            spec.check(self.link, self.channel_list, self.budgets)
        return self

    @property
    def channel_list(self) -> list[ChannelSpec]:
        return list(self.channels) if self.channels else [self.link.channel]


def load_experiment(path: str | os.PathLike[str]) -> ExperimentConfig:
    """Read and validate a run config; its ``plugins`` are looked for on ``sys.path``, then beside the file."""
    from semlink.config import read_toml
    from semlink.errors import SemlinkError

    tree = read_toml(path)
    try:
        import_plugins(tree.get("plugins"), search=Path(path).parent)
    except ValueError as err:
        raise SemlinkError(f"config {str(path)!r}: {err}") from None
    return validate(ExperimentConfig, tree, source=f"config {str(path)!r}")
