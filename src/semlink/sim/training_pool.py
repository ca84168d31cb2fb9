"""A run's codecs trained before its points — the small conv codecs side by side, one process each.

Why: training deep JSCC through the link is a long chain of small convolutions. Torch's intra-op
threads split every op and meet after it (passively: :mod:`semlink.threads`), so a second thread
barely helps: on Fashion-MNIST 1.0-1.2x faster at 2 threads than at 1 (1.7 ms per image at 1 thread),
while two 1-thread trainings at once use both cores (2x). KBSC's MLP through the link gains 1.7x
from a second thread and trains best in the run's own process. A codec says which it is
(``TrainedCodecs.side_by_side``).

The rule (:func:`training_threads`) depends only on the config and this process's thread count
``T``, never on what the codec cache already holds, so a resumed run trains what is left exactly as
the uninterrupted run would have (a codec's weights depend on the threads that trained it):

- ``J``: the side-by-side codecs the run's points use — (codec, channel) pairs of every point,
  finished or not; each trains at ``max(1, T // J)`` threads, up to ``T // that`` at a time, each in
  a spawned worker process (fork after torch has started OpenMP can deadlock), the ones with the most
  training (``TrainedCodecs.training_work``: examples x epochs) first; one left to train (or one at a
  time) trains in this process at that thread count;
- every other codec trains in this process at ``T`` threads, one after another, as before;
- on a GPU every codec trains in this process, one after another.

``SEMLINK_TRAINING_WORKERS`` (a positive count or ``auto``) caps the processes at a time; ``1`` trains
every codec in this process (no process start-up: ~10 s per worker). Where a codec trains never
changes it: only its thread count does, and that follows the rule above.

Workers build the run's resources from its config (data, cached features, training split), train
and save into the run's checkpoints — and publish to the shared cache — exactly as this process
would; :meth:`~semlink.systems.base.SystemBase.prepare` then loads them here. Their log lines come
through this process's ``log``. A worker's error is raised here as it was raised there; Ctrl-C stops
the workers (a checkpoint is written atomically: a training cut short leaves nothing behind).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["TRAINING_WORKERS_ENV", "TrainingJob", "train_side_by_side", "training_threads"]

#: Caps how many codecs train at once, each in its own process (``auto``: as many as the threads allow).
TRAINING_WORKERS_ENV = "SEMLINK_TRAINING_WORKERS"


@dataclass(frozen=True)
class TrainingJob:
    """One codec to train: the ``index``-th of :meth:`trained_codecs` of the system ``system`` (its id:
    name, budget, variant) on the channel ``channel`` (its key)."""

    system: tuple
    index: int
    channel: str
    what: str


def training_threads(threads: int, codecs: int) -> tuple[int, int]:
    """``(threads per codec, codecs trained at once)`` for ``threads`` of this process and ``codecs`` in the run.

    >>> training_threads(2, 14), training_threads(2, 1), training_threads(16, 4), training_threads(1, 3)
    ((1, 2), (2, 1), (4, 4), (1, 1))
    """
    per_codec = max(1, threads // max(1, codecs))
    return per_codec, max(1, threads // per_codec)


def _pairs(pairs: Iterable[tuple[Any, Any]]) -> dict[tuple[int, str], tuple[Any, Any, Any, int]]:
    """``(system, channel)`` → one entry per distinct (trained codec, channel): ``(codecs, channel, system, index)``."""
    found: dict[tuple[int, str], tuple[Any, Any, Any, int]] = {}
    for system, channel in pairs:
        for index, codecs in enumerate(trained_codecs(system)):
            found.setdefault((id(codecs), channel.key), (codecs, channel, system, index))
    return found


def train_side_by_side(
    every: Iterable[tuple[Any, Any]],
    todo: Iterable[tuple[Any, Any]],
    ctx,
    *,
    config: dict[str, Any],
    out: Path,
    cache_dir: str | Path | None,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Train every codec the ``todo`` (system, channel) pairs need and no checkpoint holds; ``every``: the
    pairs of all the run's points (they decide the threads, :func:`training_threads`). ``config``: the
    run's resolved config (workers rebuild the run from it). Returns what was done, for the manifest:
    ``{"trained", "side_by_side", "threads_per_codec", "at_once"}`` (the last two: side-by-side codecs').
    """
    import os

    import torch

    from semlink.sim.executors import torch_threads
    from semlink.sim.grid import system_id
    from semlink.threads import parse_thread_count

    side_pairs = [e for e in _pairs(every).values() if e[0].side_by_side]
    per_codec, at_once = training_threads(torch.get_num_threads(), len(side_pairs))
    cap = parse_thread_count(os.environ.get(TRAINING_WORKERS_ENV), TRAINING_WORKERS_ENV)
    at_once = min(at_once, cap or at_once)
    pending = [entry for entry in _pairs(todo).values() if entry[0].needs_training(ctx, entry[1])]
    side = [entry for entry in pending if entry[0].side_by_side]
    # The largest first (stable: the config's order among equals), so the longest trainings overlap.
    side.sort(key=lambda entry: -entry[0].training_work(ctx))
    record = {"trained": len(pending), "side_by_side": len(side), "threads_per_codec": per_codec,
              "at_once": at_once}
    on_gpu = torch.device(ctx.device).type != "cpu"
    if side and not on_gpu and len(side) > 1 and at_once > 1:
        jobs = [TrainingJob(system_id(system), index, channel.key, f"{codecs.what} [{channel.key}]")
                for codecs, channel, system, index in side]
        log(f"training {len(jobs)} codecs side by side, {min(at_once, len(jobs))} at a time ({per_codec} thread"
            f"{'s' if per_codec > 1 else ''} each)")
        _run_workers(jobs, min(at_once, len(jobs)), per_codec, config, out, cache_dir, log)
    else:
        with torch_threads(None if on_gpu else per_codec):
            for codecs, channel, _, _ in side:
                codecs.get(ctx, channel)
    for codecs, channel, _, _ in pending:  # the others, at this process's threads (the side-by-side ones: loaded)
        codecs.get(ctx, channel)
    return record


def trained_codecs(system) -> list:
    """``system.trained_codecs()``; none for a system without the method (a plug-in's own class)."""
    method = getattr(system, "trained_codecs", None)
    return list(method()) if callable(method) else []


def _run_workers(jobs: list[TrainingJob], workers: int, threads: int, config: dict[str, Any], out: Path,
                 cache_dir: str | Path | None, log: Callable[[str], None]) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    from semlink.errors import SemlinkError
    from semlink.progress import current_mode

    mode = current_mode()
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    relay = threading.Thread(target=_relay, args=(messages, log), daemon=True)
    relay.start()
    initargs = (config, str(out), None if cache_dir is None else str(cache_dir), threads, messages,
                "lines" if mode == "bar" else mode)  # workers' bars would overwrite each other
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=initargs)
    try:
        futures = [pool.submit(_train_job, job) for job in jobs]  # started in this order
        finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for future in finished:
            future.result()
    except BrokenProcessPool as err:
        raise SemlinkError(f"a training worker process died ({err}): out of memory? "
                           f"{TRAINING_WORKERS_ENV}=1 trains one codec at a time in this process") from None
    finally:
        # A failed training or Ctrl-C: the other workers stop now, not when their training ends.
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            if process.is_alive():
                process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        messages.put(None)
        relay.join(timeout=5)


def _relay(messages, log: Callable[[str], None]) -> None:
    """Pass the workers' log lines to this process's ``log`` until the end marker (None)."""
    while True:
        message = messages.get()
        if message is None:
            return
        log(message)


# -- in the worker -----------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(config: dict[str, Any], out: str, cache_dir: str | None, threads: int, messages,
                 progress: str) -> None:
    """A training worker leaves Ctrl-C to the driver (which terminates it): see the process executor."""
    import signal

    from semlink.threads import apply_threads

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    apply_threads(threads)
    _WORKER.update(config=config, out=Path(out), cache_dir=cache_dir, messages=messages, progress=progress)


def _train_job(job: TrainingJob) -> str:
    """Train (and save) one codec in this worker; its resources are built once per worker."""
    if "run" not in _WORKER:
        _WORKER["run"] = _worker_run()
    from semlink.progress import progress_mode

    ctx, systems, channels = _WORKER["run"]
    with progress_mode(_WORKER["progress"]):
        trained_codecs(systems[job.system])[job.index].get(ctx, channels[job.channel])
    return job.what


def _worker_run():
    from semlink.config import validate
    from semlink.devices import resolve_device
    from semlink.seeding import seed_everything
    from semlink.sim.experiment import ExperimentConfig, build_systems
    from semlink.sim.grid import system_id
    from semlink.sim.resources import build_resources

    cfg = validate(ExperimentConfig, _WORKER["config"])
    seed_everything(cfg.seed)
    messages = _WORKER["messages"]
    workdir = Path(tempfile.mkdtemp(prefix="semlink-trainer-"))
    try:
        resources = build_resources(cfg, workdir, resolve_device(cfg.device), lambda message: None,
                                    _WORKER["cache_dir"], checkpoints=_WORKER["out"] / "checkpoints")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)  # the knowledge base it saved: this process keeps it in memory
    ctx = resources.context
    ctx.artifacts.log = messages.put
    systems, channels = build_systems(cfg, ctx.source)
    return ctx, {system_id(s): s for s in systems}, channels
