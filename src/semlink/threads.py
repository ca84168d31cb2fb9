"""Thread counts from the CPUs this process can actually use, applied to every runtime in one call.

Torch's intra-op threads meet at a barrier after every parallel region: when one of them shares
its core with another busy process, every region waits for the scheduler to give that core back,
and a small-op workload (training an MLP through the link) runs several times slower with two
threads than with one. So the count is chosen from what is really free:

1. an override: the ``requested`` argument (the CLI's ``--threads``), else ``SEMLINK_THREADS``,
   else ``OMP_NUM_THREADS`` (set by the user before the process started);
2. otherwise the CPUs this process may run on: its affinity (``os.sched_getaffinity``) capped by
   the cgroup CPU quota (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us / cpu.cfs_period_us``), minus the
   cores other processes keep busy, sampled from ``/proc/stat`` over a short window (a core counts
   as taken once others use more than :data:`BUSY_CORE_THRESHOLD` of it).

Threads never spin on a busy core: importing this module sets ``OMP_WAIT_POLICY=PASSIVE`` (unless
the user set a policy), which the GNU OpenMP runtime of torch (and of numba's ``omp`` layer) reads
once, when it is loaded, so it only takes effect if this module is imported before torch. libgomp's
default spins ~300000 iterations after every parallel region; two threads then train a KBSC codec
4-5x slower when another process keeps one of two cores busy (``benchmarks/threads_speed.py``). The
price: on a free machine two passive threads train that small MLP no faster than one (spinning two
were ~1.4x faster); a user on a dedicated machine can set ``OMP_WAIT_POLICY=ACTIVE`` or
``GOMP_SPINCOUNT`` and it is kept.
:func:`apply_threads` sets torch's intra-op and inter-op threads, numba's threads (the layered
LDPC decoders) and FAISS's, and returns a :class:`ThreadChoice` for the run's manifest.

>>> choice = choose_threads(4, cpus=2)
>>> choice.threads, choice.reason
(4, 'requested')
>>> choose_threads(cpus=2, busy_cores=0.9).threads  # one of two cores busy elsewhere
1
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from semlink.errors import SemlinkError

__all__ = [
    "BUSY_CORE_THRESHOLD",
    "THREADS_ENV",
    "ThreadChoice",
    "apply_threads",
    "applied_threads",
    "cgroup_cpu_limit",
    "choose_threads",
    "parse_thread_count",
    "prefer_passive_waiting",
    "sample_busy_cores",
    "usable_cpus",
]

#: Environment variable that overrides the automatic choice (a positive integer, or ``auto``).
THREADS_ENV = "SEMLINK_THREADS"

#: Fraction of one core that other processes must keep busy for that core to count as taken.
#: An intra-op thread on a core that is busy even a third of the time stalls every barrier it
#: reaches while the other process runs, so a partly busy core is already a bad place for one.
BUSY_CORE_THRESHOLD = 0.3

#: How long :func:`choose_threads` samples ``/proc/stat`` by default [s].
DEFAULT_SAMPLE_S = 0.25

_TORCH_LOADED_BEFORE = "torch" in sys.modules
_APPLIED: ThreadChoice | None = None  # the last apply_threads() of this process (for the run's manifest)
_USER_WAIT_POLICY = os.environ.get("OMP_WAIT_POLICY")


def prefer_passive_waiting() -> bool:
    """Ask OpenMP runtimes for passive waiting (idle threads sleep instead of spinning).

    Sets ``OMP_WAIT_POLICY=PASSIVE`` unless the environment names a policy already. Returns True when
    the policy in force is (or will be) passive: set before torch was imported, or set by the user.
    Called once when this module is imported.
    """
    policy = os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE").strip().upper()
    return policy == "PASSIVE" and (_USER_WAIT_POLICY is not None or not _TORCH_LOADED_BEFORE)


prefer_passive_waiting()


def _wait_policy() -> str:
    policy = os.environ.get("OMP_WAIT_POLICY", "").strip().upper() or "default"
    if _TORCH_LOADED_BEFORE and _USER_WAIT_POLICY is None:
        return f"unknown (torch was imported before semlink.threads; environment says {policy})"
    return policy


def cgroup_cpu_limit(proc_cgroup: str | os.PathLike[str] = "/proc/self/cgroup",
                     root: str | os.PathLike[str] = "/sys/fs/cgroup") -> float | None:
    """CPUs the cgroup quota allows this process (e.g. ``1.5``), or None when there is no quota.

    Reads cgroup v2 ``cpu.max`` (``"<quota> <period>"`` or ``"max <period>"``) and cgroup v1
    ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (quota ``-1``: none) in the process's own cgroup and
    every parent up to ``root``; the tightest quota wins. Unreadable files count as no quota.
    """
    root = Path(root)
    limits: list[float] = []
    try:
        lines = Path(proc_cgroup).read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, rel = parts
        if controllers == "":  # cgroup v2 (unified): cpu.max in the group or a parent
            bases = [root, root / "unified"]
            names = ("cpu.max",)
        elif "cpu" in controllers.split(","):
            bases = [root / controllers, root / "cpu", root / "cpu,cpuacct"]
            names = ("cpu.cfs_quota_us",)
        else:
            continue
        for base in bases:
            group = base / rel.lstrip("/")
            while True:
                for name in names:
                    limit = _read_quota(group, name)
                    if limit is not None:
                        limits.append(limit)
                if group == base or base not in group.parents:
                    break
                group = group.parent
    return min(limits) if limits else None


def _read_quota(group: Path, name: str) -> float | None:
    try:
        if name == "cpu.max":
            quota, _, period = (group / name).read_text().strip().partition(" ")
            if quota == "max":
                return None
            return int(quota) / int(period or 100_000)
        quota_us = int((group / "cpu.cfs_quota_us").read_text().strip())
        period_us = int((group / "cpu.cfs_period_us").read_text().strip())
    except (OSError, ValueError):
        return None
    return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us


def usable_cpus() -> tuple[int, dict[str, Any]]:
    """``(cpus, sources)``: the CPUs this process may run on (affinity, capped by the cgroup quota, at least 1).

    ``sources`` names each figure: ``affinity`` (CPU ids allowed), ``cgroup_quota`` (CPUs, or None),
    ``os_cpu_count``.
    """
    try:
        affinity = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        affinity = list(range(os.cpu_count() or 1))
    quota = cgroup_cpu_limit()
    cpus = len(affinity)
    if quota is not None:
        cpus = min(cpus, max(1, math.floor(quota + 1e-9)))
    return max(1, cpus), {"affinity": affinity, "cgroup_quota": quota, "os_cpu_count": os.cpu_count()}


def _cpu_jiffies(stat_text: str, cpu_ids: list[int]) -> tuple[int, int]:
    """``(busy, total)`` jiffies summed over ``cpu_ids`` from the text of ``/proc/stat``."""
    wanted = {f"cpu{i}" for i in cpu_ids}
    busy = total = 0
    for line in stat_text.splitlines():
        name, _, rest = line.partition(" ")
        if name not in wanted:
            continue
        values = [int(v) for v in rest.split()]
        # user nice system idle iowait irq softirq steal [guest guest_nice] (guest is inside user)
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        work = sum(values[:8]) - idle
        busy += work
        total += work + idle
    return busy, total


def sample_busy_cores(sample_s: float = DEFAULT_SAMPLE_S, cpu_ids: list[int] | None = None,
               stat_path: str | os.PathLike[str] = "/proc/stat") -> float | None:
    """Cores' worth of CPU time that *other* processes used on ``cpu_ids`` during ``sample_s`` seconds.

    Samples ``/proc/stat`` twice and subtracts this process's own CPU time over the window. None
    where ``/proc/stat`` is unreadable (not Linux).
    """
    if cpu_ids is None:
        cpu_ids = usable_cpus()[1]["affinity"]
    path = Path(stat_path)
    try:
        before_text = path.read_text()
        own_before = sum(os.times()[:2])
        time.sleep(sample_s)
        after_text = path.read_text()
        own_after = sum(os.times()[:2])
    except OSError:
        return None
    busy0, total0 = _cpu_jiffies(before_text, cpu_ids)
    busy1, total1 = _cpu_jiffies(after_text, cpu_ids)
    if total1 <= total0 or not cpu_ids:
        return None
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    window_per_cpu = (total1 - total0) / len(cpu_ids)
    others = (busy1 - busy0) - (own_after - own_before) * ticks
    return max(0.0, others / window_per_cpu)


@dataclass(frozen=True)
class ThreadChoice:
    """The thread count a run uses and why (for the run's manifest: :meth:`as_dict`).

    ``reason``: ``requested`` (argument), ``env SEMLINK_THREADS``, ``env OMP_NUM_THREADS``,
    ``all usable CPUs free`` or ``N of M usable CPUs busy``. ``sources``: every figure the choice
    read (affinity, cgroup quota, busy cores, sample window). ``applied``: what
    :func:`apply_threads` set in each runtime (empty until applied).
    """

    threads: int
    reason: str
    cpus: int
    sources: dict[str, Any] = field(default_factory=dict)
    applied: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_thread_count(value: Any, where: str) -> int | None:
    """A positive thread count from ``value``; None for ``auto``/empty."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise SemlinkError(f"{where} = {value!r}; accepted: a positive integer or 'auto'")
    if isinstance(value, int):
        count = value
    else:
        text = str(value).strip().lower()
        if text in ("", "auto"):
            return None
        try:
            count = int(text)
        except ValueError:
            raise SemlinkError(f"{where} = {value!r}; accepted: a positive integer or 'auto'") from None
    if count < 1:
        raise SemlinkError(f"{where} = {value!r}; accepted: a positive integer or 'auto'")
    return count


def choose_threads(requested: int | str | None = None, *, cpus: int | None = None,
                   busy_cores: float | None = None, sample_s: float = DEFAULT_SAMPLE_S) -> ThreadChoice:
    """The intra-op thread count for this process (see the module docstring for the order).

    :param requested: an explicit count (``--threads``); ``None`` or ``"auto"`` chooses.
    :param cpus: usable CPUs (default: :func:`usable_cpus`).
    :param busy_cores: cores' worth of CPU other processes use on this process's CPUs (default:
        sampled for ``sample_s`` seconds with :func:`sample_busy_cores`; pass ``0.0`` to skip sampling).
    """
    if cpus is None:
        cpus, sources = usable_cpus()
    else:
        sources = {"cpus_given": cpus}
    for value, where, reason in ((requested, "threads", "requested"),
                                 (os.environ.get(THREADS_ENV), THREADS_ENV, f"env {THREADS_ENV}"),
                                 (os.environ.get("OMP_NUM_THREADS"), "OMP_NUM_THREADS", "env OMP_NUM_THREADS")):
        count = parse_thread_count(value, where)
        if count is not None:
            return ThreadChoice(count, reason, cpus, {**sources, "override": f"{where}={value}"})
    if busy_cores is None and cpus > 1:
        busy_cores = sample_busy_cores(sample_s, sources.get("affinity"))
        sources["sample_s"] = sample_s
    sources["busy_cores"] = None if busy_cores is None else round(busy_cores, 3)
    allowed = len(sources.get("affinity", range(cpus)))
    taken = 0 if busy_cores is None else max(0, math.ceil(busy_cores - BUSY_CORE_THRESHOLD))
    threads = max(1, min(cpus, allowed - taken))
    reason = "all usable CPUs free" if threads == cpus else f"{cpus - threads} of {cpus} usable CPUs busy"
    if busy_cores is None and cpus > 1:
        reason = "all usable CPUs (load unknown)"
    return ThreadChoice(threads, reason, cpus, sources)


def apply_threads(requested: int | str | None = None, *, choice: ThreadChoice | None = None,
                  sample_s: float = DEFAULT_SAMPLE_S) -> ThreadChoice:
    """Choose (or take ``choice``) and set the count in torch, numba and FAISS; return the record.

    Torch: ``set_num_threads`` (OpenMP and MKL) and one inter-op thread (only possible before any
    inter-op work has started; otherwise left as it is, and the record says so). numba (layered
    LDPC decoders): ``set_num_threads`` when it is loaded (capped by its pool size), else
    ``NUMBA_NUM_THREADS`` for when it loads; numba's ``omp`` layer shares torch's OpenMP runtime
    and sets its thread count to the pool size when the pool starts, so with the pool the size of
    torch's count, that start changes nothing. FAISS: ``omp_set_num_threads`` when it is loaded.
    """
    import torch

    choice = choice or choose_threads(requested, sample_s=sample_s)
    n = choice.threads
    applied: dict[str, Any] = {"omp_wait_policy": _wait_policy()}
    # numba first: starting its OpenMP thread pool sets the OpenMP thread count of the calling
    # thread (torch's too, one runtime) to numba's pool size; torch's count is set after it.
    if "numba" in sys.modules:
        import numba

        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
        applied["numba"] = numba.get_num_threads()
    elif "NUMBA_NUM_THREADS" not in os.environ:
        os.environ["NUMBA_NUM_THREADS"] = str(n)  # its pool, when it starts, is then torch's size
        applied["numba"] = f"{n} (NUMBA_NUM_THREADS, when loaded)"
    else:
        applied["numba"] = f"{os.environ['NUMBA_NUM_THREADS']} (NUMBA_NUM_THREADS from the environment)"
    torch.set_num_threads(n)
    applied["torch_intra_op"] = torch.get_num_threads()
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # inter-op pool already started: only settable once, before use
        pass
    applied["torch_inter_op"] = torch.get_num_interop_threads()
    if "faiss" in sys.modules:
        faiss = sys.modules["faiss"]
        if hasattr(faiss, "omp_set_num_threads"):
            faiss.omp_set_num_threads(n)
            applied["faiss"] = n
    global _APPLIED
    _APPLIED = ThreadChoice(choice.threads, choice.reason, choice.cpus, choice.sources, applied)
    return _APPLIED


def applied_threads() -> ThreadChoice | None:
    """What :func:`apply_threads` last set in this process (None: never called; runtimes' defaults)."""
    return _APPLIED
