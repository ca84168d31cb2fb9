"""Where trained codecs live: the run's ``checkpoints/`` folder and a shared cache keyed by settings.

A codec is identified by its *provenance*: everything its training reads (the scheme and budget,
channel, link, training settings, encoder, seed and a fingerprint of the training data). The
cache key hashes the provenance without the system's display name, so a codec trained with
identical settings in any earlier run is found in the cache (default ``~/.cache/semlink/checkpoints``,
``--cache DIR`` on the CLI) instead of being retrained; adding an SNR or a system to a finished run
retrains nothing. A reused codec is copied into the run folder, which stays self-contained.

Checkpoints are verified like knowledge bases: ``config.json`` records the sha256 of every weight
file (``"sha256": {"model.safetensors": ...}``) and :func:`verify_checkpoint` checks them before
any weight is loaded — in the run folder, in the shared cache (before a copy) and in the loaders
(:func:`~semlink.systems.kbsc_model.load_codec`, :func:`~semlink.systems.jscc_model.load_jscc`). A
mismatch, a damaged ``config.json`` or one without checksums is refused in one line naming the
file and what to do. The one exception: a cache entry without checksums (written by a semlink that
did not record them) is treated as absent — the codec is retrained and the entry replaced — since
the cache is a convenience that must heal itself, while a run folder's codec made its rows.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from semlink.errors import CorruptFileError, MissingResourceError, SemlinkError

__all__ = [
    "CheckpointStore", "load_or_train", "read_checkpoint_config", "training_key", "verify_checkpoint",
    "write_checkpoint",
]

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CHECKSUMS = "sha256"
"""Key of ``config.json`` that maps each weight file's name to its hex sha256."""

RETRAIN = "delete the folder {directory} to retrain it"
CACHE_REMEDY = "delete {directory} from the shared cache to retrain it, or run with --no-cache"


def write_checkpoint(directory: str | os.PathLike[str], module: Any, *, kind: str, format: int,
                     architecture: dict[str, Any], provenance: dict[str, Any]) -> Path:
    """Write a codec as ``model.safetensors`` (its weights) + ``config.json`` (``kind``, ``format``, its
    ``architecture``, ``provenance`` and the weights' sha256), each atomically, the weights first;
    returns ``directory``. A failed write (a full disk) leaves no half-written file: at worst weights
    without a ``config.json``, which counts as no checkpoint (it is trained again).

    A provenance key that is also one of the codec's own keys is refused: it would be overwritten in
    ``config.json`` and the checkpoint would never match its provenance again (a resumed run would
    refuse it).
    """
    from safetensors.torch import save

    from semlink.io import write_bytes_atomic, write_json_atomic

    own = {"kind", "format", CHECKSUMS, *architecture}
    clash = sorted(own & set(provenance))
    if clash:
        raise SemlinkError(f"checkpoint provenance keys {clash} clash with the codec's own config keys; rename them")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    weights = save(state)  # bytes: written by Python, so a full disk is an ordinary OSError
    write_bytes_atomic(directory / WEIGHTS_FILE, weights)
    write_json_atomic(directory / CONFIG_FILE, {**provenance, "format": format, "kind": kind, **architecture,
                                                CHECKSUMS: {WEIGHTS_FILE: hashlib.sha256(weights).hexdigest()}})
    return directory


def read_checkpoint_config(directory: str | os.PathLike[str], remedy: str = RETRAIN) -> dict[str, Any]:
    """A checkpoint's ``config.json`` as a dict; a missing, unreadable or damaged one (not JSON, not an
    object) is refused in one line ending with ``remedy`` (``{directory}`` is filled in)."""
    directory = Path(directory)
    path = directory / CONFIG_FILE
    todo = remedy.format(directory=directory)
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MissingResourceError(f"checkpoint file {path} is missing; {todo}") from None
    except (OSError, ValueError) as err:  # ValueError: bad JSON or bad UTF-8
        raise CorruptFileError(f"checkpoint file {path} is damaged ({err}); {todo}") from None
    if not isinstance(meta, dict):
        raise CorruptFileError(f"checkpoint file {path} is damaged (a JSON {type(meta).__name__}, not an object); "
                               f"{todo}")
    return meta


def verify_checkpoint(directory: str | os.PathLike[str], remedy: str = RETRAIN) -> dict[str, Any]:
    """Check every weight file of the checkpoint ``directory`` against the sha256 its ``config.json``
    records; return that config. Refused in one line naming the file and ending with ``remedy``: a
    damaged config, a config without checksums (written before semlink recorded them), a missing or
    changed weight file.
    """
    from semlink.io import sha256_file

    directory = Path(directory)
    meta = read_checkpoint_config(directory, remedy)
    todo = remedy.format(directory=directory)
    recorded = meta.get(CHECKSUMS)
    if not isinstance(recorded, dict) or WEIGHTS_FILE not in recorded:
        raise CorruptFileError(
            f"checkpoint {directory} records no sha256 of its weights in {CONFIG_FILE} (written by a semlink "
            f"that did not check checkpoints), so its weights cannot be verified; {todo}"
        )
    for name, digest in sorted(recorded.items()):
        path = directory / name
        if not path.is_file():
            raise MissingResourceError(f"checkpoint file {path} is missing; {todo}")
        actual = sha256_file(path)
        if actual != digest:
            raise CorruptFileError(
                f"checkpoint file {path} is damaged: its sha256 {actual[:12]}... differs from the {str(digest)[:12]}... "
                f"recorded in {CONFIG_FILE}; {todo}"
            )
    return meta


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
        """The run's checkpoint ``name`` if present (verified, and checked against ``provenance``), else
        one verified and copied in from the cache, else None (train it, then :meth:`publish`)."""
        directory = self.run_dir / name
        if (directory / CONFIG_FILE).is_file():
            meta = verify_checkpoint(directory, RETRAIN + " (then continue with --resume)")
            stale = sorted(k for k, v in provenance.items() if meta.get(k) != v)
            if stale:
                raise SemlinkError(
                    f"checkpoint {str(directory)!r} was trained with other settings ({', '.join(stale)}); "
                    "remove it or use a new --out folder"
                )
            return directory
        cached = self._cached(provenance, log)
        if cached is None:
            return None
        verify_checkpoint(cached, CACHE_REMEDY)
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=directory.parent))
        try:
            for item in cached.iterdir():
                shutil.copy2(item, staging / item.name)
            meta = read_checkpoint_config(staging, CACHE_REMEDY)
            meta.update(system=provenance.get("system", meta.get("system")), reused_from=str(cached))
            (staging / CONFIG_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
            os.replace(staging, directory)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if log is not None:
            log(f"reused a codec trained with identical settings: {cached}")
        return directory

    def _cached(self, provenance: dict[str, Any], log=None) -> Path | None:
        """The cache's entry for ``provenance``; None if absent, or if it records no checksums (an entry
        of an older semlink: retrained and replaced)."""
        if self.cache_dir is None:
            return None
        candidate = self.cache_dir / training_key(provenance)
        if not (candidate / CONFIG_FILE).is_file():
            return None
        try:
            meta = json.loads((candidate / CONFIG_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return candidate  # damaged: verify_checkpoint says so
        if isinstance(meta, dict) and CHECKSUMS not in meta:
            if log is not None:
                log(f"the cached codec {candidate} records no checksums (an older semlink wrote it): "
                    "training it again and replacing it")
            return None
        return candidate

    def publish(self, name: str, provenance: dict[str, Any]) -> None:
        """Copy the run's freshly trained checkpoint ``name`` into the cache (atomically; best effort),
        replacing an entry without checksums."""
        if self.cache_dir is None or self._cached(provenance) is not None:
            return
        target = self.cache_dir / training_key(provenance)
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=self.cache_dir))
            retired = None
            try:
                for item in (self.run_dir / name).iterdir():
                    shutil.copy2(item, staging / item.name)
                if target.exists():  # an unverifiable entry: moved aside, then replaced
                    retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=self.cache_dir))
                    os.replace(target, retired / "entry")
                os.replace(staging, target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
                if retired is not None:
                    shutil.rmtree(retired, ignore_errors=True)
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
