"""Thread counts from the usable CPUs: cgroup quotas, /proc/stat sampling, overrides, passive waiting."""

from __future__ import annotations

import doctest
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import semlink.threads as threads
from semlink.errors import SemlinkError
from semlink.threads import (
    ThreadChoice,
    apply_threads,
    cgroup_cpu_limit,
    choose_threads,
    sample_busy_cores,
    usable_cpus,
)

SRC = str(Path(threads.__file__).resolve().parents[1])


@pytest.fixture
def no_overrides(monkeypatch):
    monkeypatch.delenv("SEMLINK_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)


def test_doctests(no_overrides):
    assert doctest.testmod(threads).failed == 0


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v2_quota_in_own_group_and_parents(tmp_path):
    proc = tmp_path / "cgroup"
    _write(proc, "0::/outer/inner\n")
    root = tmp_path / "fs"
    _write(root / "outer" / "inner" / "cpu.max", "max 100000\n")
    assert cgroup_cpu_limit(proc, root) is None
    _write(root / "outer" / "cpu.max", "150000 100000\n")  # a parent's quota binds the child
    assert cgroup_cpu_limit(proc, root) == pytest.approx(1.5)
    _write(root / "outer" / "inner" / "cpu.max", "50000 100000\n")  # the tightest wins
    assert cgroup_cpu_limit(proc, root) == pytest.approx(0.5)


def test_cgroup_v1_quota(tmp_path):
    proc = tmp_path / "cgroup"
    _write(proc, "4:memory:/job\n2:cpu,cpuacct:/job\n")
    root = tmp_path / "fs"
    _write(root / "cpu,cpuacct" / "job" / "cpu.cfs_quota_us", "-1\n")
    _write(root / "cpu,cpuacct" / "job" / "cpu.cfs_period_us", "100000\n")
    assert cgroup_cpu_limit(proc, root) is None
    _write(root / "cpu,cpuacct" / "job" / "cpu.cfs_quota_us", "300000\n")
    assert cgroup_cpu_limit(proc, root) == pytest.approx(3.0)


def test_cgroup_unreadable_means_no_quota(tmp_path):
    assert cgroup_cpu_limit(tmp_path / "missing", tmp_path) is None
    _write(tmp_path / "cgroup", "0::/\n")
    _write(tmp_path / "fs" / "cpu.max", "garbage\n")
    assert cgroup_cpu_limit(tmp_path / "cgroup", tmp_path / "fs") is None


def test_usable_cpus_follow_affinity():
    cpus, sources = usable_cpus()
    assert 1 <= cpus <= len(os.sched_getaffinity(0))
    assert sources["affinity"] == sorted(os.sched_getaffinity(0))


def test_busy_cores_from_proc_stat_excludes_idle_and_iowait(tmp_path):
    stat = tmp_path / "stat"
    # cpu0 busy 100 of 200 jiffies over the window, cpu1 idle; cpu2 is outside the affinity.
    _write(stat, "cpu  0 0 0 0 0 0 0 0 0 0\ncpu0 100 0 0 100 0 0 0 0 0 0\ncpu1 0 0 0 200 0 0 0 0 0 0\n"
                 "cpu2 0 0 0 0 0 0 0 0 0 0\n")
    text0 = stat.read_text()
    text1 = ("cpu  0 0 0 0 0 0 0 0 0 0\ncpu0 180 0 20 100 0 0 0 0 0 0\ncpu1 0 0 0 300 100 0 0 0 0 0\n"
             "cpu2 999 0 0 0 0 0 0 0 0 0\n")
    busy0, total0 = threads._cpu_jiffies(text0, [0, 1])
    busy1, total1 = threads._cpu_jiffies(text1, [0, 1])
    assert (busy1 - busy0, total1 - total0) == (100, 300)  # iowait counts as idle, cpu2 ignored


def test_overrides_in_order(monkeypatch, no_overrides):
    assert choose_threads(3, cpus=2).threads == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert choose_threads(cpus=8, busy_cores=0.0).reason == "env OMP_NUM_THREADS"
    monkeypatch.setenv("SEMLINK_THREADS", "5")
    choice = choose_threads(cpus=8, busy_cores=0.0)
    assert (choice.threads, choice.reason) == (5, "env SEMLINK_THREADS")
    assert choose_threads(1, cpus=8).threads == 1  # the argument (--threads) beats the environment
    monkeypatch.setenv("SEMLINK_THREADS", "auto")
    assert choose_threads(cpus=8, busy_cores=0.0).threads == 2  # auto falls through to OMP_NUM_THREADS


@pytest.mark.parametrize("bad", [0, -1, "two", "1.5", True])
def test_bad_override_names_value_and_accepted(bad, monkeypatch, no_overrides):
    with pytest.raises(SemlinkError, match="positive integer or 'auto'"):
        choose_threads(bad, cpus=2)
    monkeypatch.setenv("SEMLINK_THREADS", str(bad))
    if str(bad) not in ("True",):
        with pytest.raises(SemlinkError, match="SEMLINK_THREADS"):
            choose_threads(cpus=2)


def test_busy_cores_take_threads_away(no_overrides):
    assert choose_threads(cpus=4, busy_cores=0.0).threads == 4
    assert choose_threads(cpus=4, busy_cores=threads.BUSY_CORE_THRESHOLD - 0.01).threads == 4
    assert choose_threads(cpus=4, busy_cores=0.5).threads == 3
    assert choose_threads(cpus=4, busy_cores=2.2).threads == 2
    assert choose_threads(cpus=2, busy_cores=5.0).threads == 1  # never fewer than one
    assert choose_threads(cpus=1).threads == 1  # one CPU: nothing to sample


def _burn(cpu: int) -> subprocess.Popen:
    """A CPU-bound process pinned to ``cpu``."""
    code = f"import os; os.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass"
    return subprocess.Popen([sys.executable, "-c", code])


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two usable CPUs")
def test_a_busy_core_is_seen_and_avoided(no_overrides):
    """A process spinning on one CPU shows up as >= 0.5 busy cores and costs the choice a thread.

    Other load on a shared machine only adds busy cores, so the inequalities hold whatever else runs.
    """
    cpus, sources = usable_cpus()
    burner = _burn(sources["affinity"][-1])
    try:
        time.sleep(0.3)  # let it start spinning
        assert sample_busy_cores(0.5, sources["affinity"]) >= 0.5
        choice = choose_threads(sample_s=0.5)
        assert choice.threads <= cpus - 1
        assert choice.sources["busy_cores"] >= 0.5
    finally:
        burner.kill()
        burner.wait()


def test_apply_sets_torch_and_returns_a_manifest_record(no_overrides):
    before = torch.get_num_threads()
    try:
        record = apply_threads(1)
        assert isinstance(record, ThreadChoice)
        assert torch.get_num_threads() == 1
        assert record.applied["torch_intra_op"] == 1
        assert "omp_wait_policy" in record.applied and "numba" in record.applied
        as_dict = record.as_dict()
        assert as_dict["threads"] == 1 and as_dict["reason"] == "requested"
    finally:
        torch.set_num_threads(before)


def test_numbas_thread_pool_does_not_change_torchs_count(no_overrides):
    """numba's omp layer shares torch's OpenMP runtime; starting its pool resets the calling thread's
    OpenMP count to the pool size. After apply_threads torch keeps the chosen count, also once a
    parallel numba kernel (like the layered LDPC decoders) has run."""
    numba = pytest.importorskip("numba")
    import numpy as np

    @numba.njit(parallel=True, cache=False)
    def total(x):  # noqa: ANN001, ANN202
        s = 0.0
        for i in numba.prange(x.shape[0]):
            s += x[i]
        return s

    before = torch.get_num_threads()
    try:
        record = apply_threads(1)
        assert record.applied["numba"] == 1 and torch.get_num_threads() == 1
        assert total(np.ones(1000)) == 1000.0
        assert torch.get_num_threads() == 1 and numba.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def _omp_environment(env_extra: dict[str, str], code: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update({"OMP_DISPLAY_ENV": "VERBOSE", "PYTHONPATH": SRC, **env_extra})
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                         check=True)
    return out.stderr + out.stdout


def test_importing_semlink_threads_before_torch_makes_openmp_wait_passively():
    """torch's GNU OpenMP runtime reads OMP_WAIT_POLICY when it loads and reports its spin count:
    0 (sleep at once) with PASSIVE, 300000 busy-wait iterations after every region by default."""
    shown = _omp_environment({}, "import semlink.threads, torch; torch.ones(4).sum()")
    assert "GOMP_SPINCOUNT = '0'" in shown
    shown = _omp_environment({}, "import torch; torch.ones(4).sum()")  # the runtime's own default
    assert "GOMP_SPINCOUNT = '0'" not in shown and "GOMP_SPINCOUNT" in shown


def test_a_users_wait_policy_is_kept():
    shown = _omp_environment({"OMP_WAIT_POLICY": "ACTIVE"}, "import semlink.threads, torch")
    assert "OMP_WAIT_POLICY = 'ACTIVE'" in shown and "GOMP_SPINCOUNT = '0'" not in shown


def test_record_says_when_torch_came_first():
    code = ("import torch, semlink.threads as t; "
            "print(t.apply_threads(1).applied['omp_wait_policy'])")
    shown = _omp_environment({"OMP_DISPLAY_ENV": "FALSE"}, code)
    assert shown.strip().startswith("unknown (torch was imported before semlink.threads")
