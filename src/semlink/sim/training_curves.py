"""Training curves as tables beside the checkpoints: ``checkpoints/<codec>/training_curve.csv``.

A trained codec's ``config.json`` keeps its training history (lists with one value per epoch). The
run writes it out as a table a spreadsheet or pandas reads directly — one row per epoch
(``epoch``, 1-based), one column per recorded quantity (``epoch_loss``, ``val_accuracy`` or
``val_psnr``, ``learning_rate``...), per-SNR validation values as ``<name>@<snr> dB`` columns and
``kept`` marking the epoch whose weights the checkpoint holds — and the report draws them.

>>> rows = curve_rows({"epoch_loss": [0.9, 0.5], "val_accuracy": [0.4, 0.6], "best_epoch": 1,
...                    "val_accuracy_per_snr": [[0.3, 0.5], [0.5, 0.7]]}, snr_db=[0.0, 10.0])
>>> rows[1]
{'epoch': 2, 'kept': True, 'epoch_loss': 0.5, 'val_accuracy': 0.6, 'val_accuracy@0 dB': 0.5, 'val_accuracy@10 dB': 0.7}
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from semlink.io import atomic_path

__all__ = ["CURVE_FILE", "curve_rows", "read_training_curves", "write_training_curves"]

CURVE_FILE = "training_curve.csv"


def _snr_name(snr: Any) -> str:
    try:
        return f"{float(snr):g} dB"
    except (TypeError, ValueError):
        return str(snr)


def curve_rows(history: dict[str, Any], snr_db: Sequence[float] | None = None) -> list[dict[str, Any]]:
    """One row per epoch from a training ``history`` dict (see the module docstring); ``snr_db``: the
    training SNRs, naming the entries of per-SNR lists (the history's own ``val_snr_db`` instead,
    where it records which SNRs each epoch validated)."""
    own = history.get("val_snr_db")
    if isinstance(own, list) and own:
        snr_db = own
    lengths = [len(v) for k, v in history.items() if isinstance(v, list) and k == "epoch_loss"]
    epochs = lengths[0] if lengths else max((len(v) for v in history.values() if isinstance(v, list)), default=0)
    best = history.get("best_epoch")
    rows: list[dict[str, Any]] = [{"epoch": i + 1, "kept": i == best} for i in range(epochs)]
    for name, values in history.items():
        if not isinstance(values, list) or len(values) != epochs or name == "val_snr_db":
            continue
        for row, value in zip(rows, values):
            if isinstance(value, dict):  # {"-7.0": dB, ...}
                name_base = name.removesuffix("_by_snr")
                row.update({f"{name_base}@{_snr_name(k)}": v for k, v in value.items()})
            elif isinstance(value, list):  # one value per training SNR
                name_base = name.removesuffix("_per_snr")
                labels = snr_db if snr_db is not None and len(snr_db) == len(value) else range(len(value))
                row.update({f"{name_base}@{_snr_name(s)}" if snr_db is not None else f"{name_base}@{s}": v
                            for s, v in zip(labels, value)})
            elif isinstance(value, (int, float)) or value is None:
                row[name] = value
    return rows


def _training_snrs(config: dict[str, Any]) -> list[float] | None:
    train = config.get("train")
    snrs = train.get("snr_db") if isinstance(train, dict) else None
    return list(snrs) if isinstance(snrs, list) else None


def write_training_curves(checkpoints: str | os.PathLike[str]) -> list[Path]:
    """Write ``training_curve.csv`` into every checkpoint folder under ``checkpoints`` whose ``config.json``
    holds a training history (reused or freshly trained alike); return the files written."""
    written = []
    root = Path(checkpoints)
    if not root.is_dir():
        return written
    for config_file in sorted(root.glob("*/config.json")):
        try:
            config = json.loads(config_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        history = config.get("history") if isinstance(config, dict) else None
        if not isinstance(history, dict):
            continue
        rows = curve_rows(history, _training_snrs(config))
        if not rows:
            continue
        target = config_file.parent / CURVE_FILE
        with atomic_path(target) as tmp:
            pd.DataFrame(rows).to_csv(tmp, index=False)
        written.append(target)
    return written


def read_training_curves(run_dir: str | os.PathLike[str]) -> dict[str, pd.DataFrame]:
    """``{checkpoint name: curve table}`` of a run folder (empty when it trained nothing)."""
    curves = {}
    for path in sorted(Path(run_dir).glob(f"checkpoints/*/{CURVE_FILE}")):
        try:
            frame = pd.read_csv(path)
        except (OSError, ValueError):
            continue
        if not frame.empty:
            curves[path.parent.name] = frame
    return curves
