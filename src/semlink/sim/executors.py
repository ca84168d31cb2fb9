"""Where a run's independent points are evaluated: in-process, in a process pool, or on Ray.

Every executor yields ``(point, row)`` pairs as points finish; the driver journals them (see
:func:`semlink.sim.runner.run_points`), so ``--resume``, the files and every row are identical
whatever the executor. Points carry their own seeds and evaluators are deterministic in them.

Work that other processes run is described by an :class:`Evaluator`: a picklable object whose
:meth:`~Evaluator.build` returns ``evaluate(point) -> row``; it is built once per worker (trained
codecs and data travel inside it as plain arrays and file bytes, never as paths a remote worker
could not read).

>>> ex = create_executor("local")
>>> [row for _, row in ex.imap(lambda p: {"x": p}, [1, 2])]
[{'x': 1}, {'x': 2}]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from semlink.errors import SemlinkError, choice_error

__all__ = ["EXECUTORS", "Evaluator", "LocalExecutor", "ProcessExecutor", "RayExecutor", "create_executor",
           "set_up_threads", "torch_threads"]

EXECUTORS = ("local", "process", "ray")


class Evaluator(Protocol):
    """A picklable recipe for ``evaluate(point) -> row`` (built once in each worker)."""

    def build(self) -> Callable[[Any], dict[str, Any]]: ...


def _as_function(evaluate: Any) -> Callable[[Any], dict[str, Any]]:
    return evaluate.build() if hasattr(evaluate, "build") else evaluate


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Torch's intra-op thread count set to ``threads`` inside the block (None: left as it is)."""
    if threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class LocalExecutor:
    """Evaluate points one after another in this process (the default).

    ``threads``: torch threads while points are evaluated (None: torch's setting). Floating-point
    sums depend on how many threads split them, so rows match a pool's to the last bit only at the
    same count as its workers' (1 by default); the accuracies themselves almost never differ.
    """

    def __init__(self, threads: int | None = None) -> None:
        self.threads = None if threads is None else _positive(threads, "threads")

    def imap(self, evaluate: Any, points: Iterable[Any]) -> Iterator[tuple[Any, dict[str, Any]]]:
        points = list(points)
        if not points:
            return
        fn = _as_function(evaluate)
        for point in points:
            with torch_threads(self.threads):
                row = fn(point)
            yield point, row

    def describe(self) -> dict[str, Any]:
        return {"name": "local"} if self.threads is None else {"name": "local", "threads": self.threads}


# -- process pool ----------------------------------------------------------------------------------

_WORKER_FN: Callable[[Any], dict[str, Any]] | None = None


def _init_worker(evaluate: Any, threads: int) -> None:
    global _WORKER_FN
    from semlink.threads import apply_threads

    apply_threads(threads)  # torch, numba and FAISS alike
    _WORKER_FN = _as_function(evaluate)


def _init_pool_worker(evaluate: Any, threads: int) -> None:
    """A pool worker leaves Ctrl-C to the driver: the terminal sends SIGINT to the whole process
    group, and a worker that died of it would print its own traceback and break the pool before the
    driver could say what ``--out`` keeps."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _init_worker(evaluate, threads)


def _run_in_worker(point: Any) -> tuple[Any, dict[str, Any]]:
    assert _WORKER_FN is not None, "worker not initialised"
    return point, _WORKER_FN(point)


class ProcessExecutor:
    """A pool of ``workers`` local processes (spawned, ``threads`` torch threads each)."""

    def __init__(self, workers: int | None = None, threads: int = 1) -> None:
        self.workers = _positive(workers if workers is not None else (os.cpu_count() or 1), "--workers")
        self.threads = _positive(threads, "threads per worker")

    def imap(self, evaluate: Any, points: Iterable[Any]) -> Iterator[tuple[Any, dict[str, Any]]]:
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        points = list(points)
        if not points:
            return
        if not hasattr(evaluate, "build"):
            raise SemlinkError("the process executor needs a picklable Evaluator, not a local function")
        context = multiprocessing.get_context("spawn")  # fork after torch/OpenMP start-up can deadlock
        with ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_pool_worker,
                                 initargs=(evaluate, self.threads)) as pool:
            pending = {pool.submit(_run_in_worker, p) for p in points}
            try:
                while pending:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        yield future.result()
            except BaseException:  # Ctrl-C, a failed point or a closed generator: queued points never start
                pool.shutdown(wait=False, cancel_futures=True)
                raise

    def describe(self) -> dict[str, Any]:
        return {"name": "process", "workers": self.workers, "threads_per_worker": self.threads}


# -- Ray -------------------------------------------------------------------------------------------


class RayExecutor:
    """Points as tasks on a Ray cluster: ``address`` of an existing one, or a local instance.

    One actor per worker builds the evaluator once (its inputs shipped through Ray's object store)
    and evaluates the points it is handed; rows return to the driver, which journals them.
    """

    def __init__(self, workers: int | None = None, address: str | None = None, threads: int = 1) -> None:
        self.address = address
        self.workers = _positive(workers, "--workers") if workers is not None else None
        self.threads = _positive(threads, "threads per worker")

    def _ray(self):
        try:
            import ray
        except ImportError:
            raise SemlinkError(
                "--executor ray needs Ray: pip install 'semlink[dist]' (on the driver and every worker node)"
            ) from None
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                      "configure_logging": False}
            if self.address:
                kwargs["address"] = self.address
            else:
                kwargs["num_cpus"] = self.workers or os.cpu_count() or 1
            try:
                ray.init(**kwargs)
            except (ConnectionError, RuntimeError, ValueError) as err:
                raise SemlinkError(f"cannot reach a Ray cluster at --address {self.address!r}: {err}") from None
        return ray

    def imap(self, evaluate: Any, points: Iterable[Any]) -> Iterator[tuple[Any, dict[str, Any]]]:
        points = list(points)
        if not points:
            return
        if not hasattr(evaluate, "build"):
            raise SemlinkError("the Ray executor needs a picklable Evaluator, not a local function")
        ray = self._ray()
        workers = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)) // self.threads)
        workers = min(workers, len(points))
        actor_class = ray.remote(num_cpus=self.threads)(_RayWorker)
        payload = ray.put(evaluate)
        actors = [actor_class.remote(payload, self.threads) for _ in range(workers)]
        queue = list(points)
        running = {}
        for actor in actors:
            if queue:
                point = queue.pop(0)
                running[actor.evaluate.remote(point)] = (actor, point)
        try:
            while running:
                ready, _ = ray.wait(list(running), num_returns=1)
                actor, point = running.pop(ready[0])
                row = ray.get(ready[0])
                if queue:
                    nxt = queue.pop(0)
                    running[actor.evaluate.remote(nxt)] = (actor, nxt)
                yield point, row
        finally:
            for actor in actors:
                ray.kill(actor)

    def describe(self) -> dict[str, Any]:
        return {"name": "ray", "address": self.address, "workers": self.workers,
                "threads_per_worker": self.threads}


class _RayWorker:
    def __init__(self, evaluate: Any, threads: int) -> None:
        _init_worker(evaluate, threads)

    def evaluate(self, point: Any) -> dict[str, Any]:
        return _run_in_worker(point)[1]


def _positive(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SemlinkError(f"{what} must be a positive integer, got {value!r}")
    return value


def set_up_threads(executor: str = "local", threads: int | str | None = None):
    """Thread counts of this process for a run on ``executor``; returns the
    :class:`~semlink.threads.ThreadChoice` (the manifest records it).

    ``threads`` (a count, ``auto`` or None = auto) is this process's count with the local executor;
    with a pool this process only trains and collects, so it takes the automatic choice and
    ``threads`` goes to each worker (:func:`create_executor`)."""
    from semlink.threads import apply_threads

    return apply_threads(threads if executor == "local" else None)


def create_executor(name: str = "local", workers: int | None = None, address: str | None = None,
                    threads: int | str | None = None):
    """``local`` | ``process`` (``workers`` processes) | ``ray`` (``address`` of a cluster, or local);
    ``threads``: torch threads per worker (local: None keeps this process's, see :func:`set_up_threads`;
    pools: 1 when None or ``auto``)."""
    if isinstance(threads, str):
        from semlink.threads import parse_thread_count

        threads = parse_thread_count(threads, "--threads")
    if name not in EXECUTORS:
        raise choice_error("executor", name, EXECUTORS)
    if address is not None and name != "ray":
        raise SemlinkError(f"--address is for --executor ray, not {name!r}")
    if name == "local":
        if workers not in (None, 1):
            raise SemlinkError("--workers needs --executor process or ray (local runs one point at a time)")
        return LocalExecutor(threads)
    if name == "process":
        return ProcessExecutor(workers, threads or 1)
    return RayExecutor(workers, address, threads or 1)
