"""Where trained codecs live: the run's ``checkpoints/`` folder and a shared cache keyed by settings.

A codec is identified by its *provenance*: everything its training reads (the scheme and budget,
channel, link, training settings, encoder, seed and a fingerprint of the training data). The
cache key hashes the provenance without the system's display name, so a codec trained with
identical settings in any earlier run is found in the cache (default ``~/.cache/semlink/checkpoints``,
``--cache DIR`` on the CLI) instead of being retrained; adding an SNR or a system to a finished run
retrains nothing. A reused codec is copied into the run folder, which stays self-contained.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from semlink.errors import SemlinkError

__all__ = ["CheckpointStore", "load_or_train", "training_key", "write_checkpoint"]

CONFIG_FILE = "config.json"


def write_checkpoint(directory: str | os.PathLike[str], module: Any, *, kind: str, format: int,
                     architecture: dict[str, Any], provenance: dict[str, Any]) -> Path:
    """Write a codec as ``model.safetensors`` (its weights) + ``config.json`` (``kind``, ``format``, its
    ``architecture`` and ``provenance``), each atomically; returns ``directory``.

    A provenance key that is also one of the codec's own keys is refused: it would be overwritten in
    ``config.json`` and the checkpoint would never match its provenance again (a resumed run would
    refuse it).
    """
    from safetensors.torch import save_file

    from semlink.io import atomic_path, write_json_atomic

    own = {"kind", "format", *architecture}
    clash = sorted(own & set(provenance))
    if clash:
        raise SemlinkError(f"checkpoint provenance keys {clash} clash with the codec's own config keys; rename them")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    with atomic_path(directory / "model.safetensors") as tmp:
        save_file(state, str(tmp))
    write_json_atomic(directory / CONFIG_FILE, {**provenance, "format": format, "kind": kind, **architecture})
    return directory


def training_key(provenance: dict[str, Any]) -> str:
    """Hex key of what a training run reads (``provenance`` without the display name ``system``)."""
    identity = {k: v for k, v in provenance.items() if k != "system"}
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class CheckpointStore:
    """The run's checkpoint folder plus an optional shared cache (``cache_dir``, None: no cache)."""

    def __init__(self, run_dir: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None

    def locate(self, name: str, provenance: dict[str, Any], log=None) -> Path | None:
        """The run's checkpoint ``name`` if present (checked against ``provenance``), else one copied in
        from the cache, else None (train it, then :meth:`publish`)."""
        directory = self.run_dir / name
        if (directory / CONFIG_FILE).is_file():
            meta = json.loads((directory / CONFIG_FILE).read_text())
            stale = sorted(k for k, v in provenance.items() if meta.get(k) != v)
            if stale:
                raise SemlinkError(
                    f"checkpoint {str(directory)!r} was trained with other settings ({', '.join(stale)}); "
                    "remove it or use a new --out folder"
                )
            return directory
        cached = self._cached(provenance)
        if cached is None:
            return None
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=directory.parent))
        try:
            for item in cached.iterdir():
                shutil.copy2(item, staging / item.name)
            meta = json.loads((staging / CONFIG_FILE).read_text())
            meta.update(system=provenance.get("system", meta.get("system")), reused_from=str(cached))
            (staging / CONFIG_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
            os.replace(staging, directory)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if log is not None:
            log(f"reused a codec trained with identical settings: {cached}")
        return directory

    def _cached(self, provenance: dict[str, Any]) -> Path | None:
        if self.cache_dir is None:
            return None
        candidate = self.cache_dir / training_key(provenance)
        return candidate if (candidate / CONFIG_FILE).is_file() else None

    def publish(self, name: str, provenance: dict[str, Any]) -> None:
        """Copy the run's freshly trained checkpoint ``name`` into the cache (atomically; best effort)."""
        if self.cache_dir is None or self._cached(provenance) is not None:
            return
        target = self.cache_dir / training_key(provenance)
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=self.cache_dir))
            try:
                for item in (self.run_dir / name).iterdir():
                    shutil.copy2(item, staging / item.name)
                os.replace(staging, target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        except OSError:
            pass  # a read-only or full cache must not fail a run that has its own copy


def load_or_train(artifacts, name: str, provenance: dict[str, Any], *, load, train, save, what: str):
    """The codec ``name`` of this run (``artifacts``: :class:`semlink.systems.context.Artifacts`): loaded
    from the run folder or the shared cache, else trained.

    ``load(directory) -> (codec, meta)``; ``train() -> (codec, history dict)``; ``save(codec,
    directory, history)``. A trained codec is saved into the run folder with ``provenance`` and
    published to the cache. Returns ``(codec, history dict)``; ``what`` names it in log lines.
    """
    store, log = artifacts.checkpoints, artifacts.log
    directory = store.locate(name, provenance, log=log)
    if directory is not None:
        codec, meta = load(directory)
        log(f"{what}: loaded checkpoint {directory}")
        return codec, meta.get("history", {})
    log(f"{what}: training")
    codec, history = train()
    save(codec, store.run_dir / name, history)
    store.publish(name, provenance)
    return codec, history
