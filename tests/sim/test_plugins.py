"""Plug-ins: the example package installed (entry points) and run through the CLI, the config's ``plugins``
key (no packaging) in the driver and in worker processes, ``semlink list``, and refusals that name the module."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from semlink.errors import SemlinkError
from semlink.sim.experiment_config import load_experiment

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "semlink-plugin-example"

CONFIG = """{plugins}
name = "plugin-test"
seed = 2
[data]
dataset = "shapes"
options = {{ per_class = 24 }}
[encoder]
cache_dir = "{cache}"
[[systems]]
type = "repetition"
channel_uses = [8, 64]
repeat = 4
[[systems]]
type = "noiseless"
[eval]
snr_db = [-10.0, 10.0]
noiseless = false
top_k = 2
"""


def _semlink(*args: str, pythonpath: list[Path], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in [ROOT / "src", *pythonpath]),
           "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "semlink.cli", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The example package installed into a folder of its own (no index, no dependencies: offline)."""
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build") / "example"
    shutil.copytree(EXAMPLE, build)  # building writes metadata beside the sources: not into the repository
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    "--no-build-isolation", "--target", str(target), str(build)], check=True, timeout=300)
    assert list(target.glob("semlink_plugin_example-*.dist-info/entry_points.txt"))
    return target


def test_the_installed_example_is_listed_dry_run_and_run_through_the_cli(tmp_path, installed):
    listed = _semlink("list", "systems", pythonpath=[installed], cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if line.startswith("repetition"))
    assert "[plug-in: semlink-plugin-example]" in line and "kbsc" in listed.stdout
    datasets = _semlink("list", "datasets", pythonpath=[installed], cwd=tmp_path)
    assert any(line.startswith("shapes") and "plug-in" in line for line in datasets.stdout.splitlines())

    config = tmp_path / "run.toml"
    config.write_text(CONFIG.format(plugins="", cache=tmp_path / "features"))
    dry = _semlink("run", str(config), "--out", str(tmp_path / "dry"), "--dry-run", pythonpath=[installed],
                   cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "repetition" in dry.stdout and "images 32x32" in dry.stdout

    out = tmp_path / "run"
    done = _semlink("run", str(config), "--out", str(out), "--no-cache", "--executor", "process", "--workers", "2",
                    pythonpath=[installed], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    frame = pd.read_parquet(out / "results.parquet")
    rows = frame[frame["system"] == "repetition"].set_index(["budget", "snr_db"])
    assert len(rows) == 4 and rows["repeat"].eq(4).all()
    assert rows.loc[(8, -10.0), "channel_uses"] == 8 and rows.loc[(64, 10.0), "cbr"] == pytest.approx(64 / 1024)
    # A real scheme: more channel uses and more SNR help (3 classes: chance is 1/3).
    assert rows.loc[(64, 10.0), "top1_accuracy"] > rows.loc[(8, -10.0), "top1_accuracy"]
    assert rows.loc[(64, 10.0), "top1_accuracy"] > 0.5


@pytest.mark.slow
def test_the_plugins_key_finds_a_module_beside_the_config_in_every_worker(tmp_path):
    pytest.importorskip("ray", reason="Ray is the 'dist' extra (scripts/setup.sh installs it)")
    shutil.copytree(EXAMPLE / "src" / "semlink_example", tmp_path / "semlink_example")
    config = tmp_path / "run.toml"
    config.write_text(CONFIG.format(plugins='plugins = ["semlink_example"]', cache=tmp_path / "features"))
    outputs = {}
    for executor in ("local", "ray"):
        out = tmp_path / executor
        args = ["--executor", executor] + (["--workers", "2"] if executor != "local" else [])
        done = _semlink("run", str(config), "--out", str(out), "--no-cache", *args, pythonpath=[], cwd=ROOT)
        assert done.returncode == 0, done.stderr
        outputs[executor] = (out / "results.csv").read_bytes()
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["config"]["plugins"] == ["semlink_example"]
    assert outputs["ray"] == outputs["local"]


def test_a_plugin_that_cannot_be_imported_is_refused_naming_it(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('plugins = ["no_such_plugin_mod"]\n[[systems]]\ntype = "raw"\n')
    with pytest.raises(SemlinkError, match=r"plugin 'no_such_plugin_mod' cannot be imported .*beside the config"):
        load_experiment(config)
    config.write_text('plugins = "semlink_example"\n[[systems]]\ntype = "raw"\n')
    with pytest.raises(SemlinkError, match="must be a list of module names"):
        load_experiment(config)


def test_a_type_a_plugin_defines_is_parsed_after_the_plugin_is_imported(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH", ""))  # importing exports the folder: undone after
    from semlink.config import validate
    from semlink.sim.experiment_config import ExperimentConfig

    cfg = validate(ExperimentConfig, {"plugins": ["semlink_example"], "data": {"dataset": "shapes"},
                                      "systems": [{"type": "repetition", "channel_uses": 16, "repeat": 3}]})
    assert type(cfg.systems[0]).__name__ == "RepetitionSpec" and cfg.systems[0].repeat == 3
    with pytest.raises(SemlinkError, match="cannot hold one symbol sent 4 times"):
        validate(ExperimentConfig, {"plugins": ["semlink_example"],
                                    "systems": [{"type": "repetition", "channel_uses": 2, "repeat": 4}]})
