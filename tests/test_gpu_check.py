"""``scripts/gpu_check.sh``: the GPU check in one call, rehearsed on the CPU where no GPU is present.

No GPU has been lent to this project's machines yet, so the rehearsal (``GPU_CHECK_ON_CPU=1``: every
step with ``cpu`` where ``cuda`` stands, small sizes, NumPy in place of CuPy) is what keeps the
script's flags, APIs and files working until one is.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_check.sh"


def _gpu_check(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHON": sys.executable, "GPU_CHECK_OUT": str(tmp_path), **env}
    return subprocess.run(["bash", str(SCRIPT)], cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=1200)


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="a GPU machine runs the real check")
def test_without_a_gpu_the_check_says_it_skipped(tmp_path):
    done = _gpu_check(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no NVIDIA GPU here" in done.stdout and "skipped" in done.stdout


@pytest.mark.slow
def test_the_rehearsal_runs_every_step_on_the_cpu(tmp_path):
    """Every step passes on the CPU: the CUDA-only tests (skipping), three BER sweeps whose rows say
    where they ran, FAISS results alike on both sides, a zero-copy crossing, and two small runs whose
    rows are identical (the same device twice: no tolerance)."""
    done = _gpu_check(tmp_path, GPU_CHECK_ON_CPU="1")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    out = done.stdout
    for step in ("== 1.", "== 2.", "== 3.", "== 4.", "== 5."):
        assert step in out, out
    assert "FAILED" not in out and out.strip().endswith(f"gpu_check: all checks passed (outputs in {tmp_path})")
    assert out.count("information Mb/s") == 3
    assert "same top-10 ids on cpu and the CPU: 1.0000" in out
    assert "torch -> NumPy -> torch: same memory: True" in out
    assert "|difference| 0.000 (tolerance 0.000)" in out
    assert (tmp_path / "run-reference" / "results.csv").exists() and (tmp_path / "run-other" / "results.csv").exists()
