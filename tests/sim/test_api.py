"""The Python API: semlink.run / semlink.load_runs, errors in Python's words, and docs/PYTHON.md executed."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest

import semlink
from semlink.errors import SemlinkError
from semlink.sim.api import _speak_python

DOC = Path(__file__).parents[2] / "docs" / "PYTHON.md"

CONFIG = {"data": {"dataset": "fashion-mnist"}, "systems": [{"type": "raw"}], "eval": {"snr_db": [0.0]}}


def test_errors_name_the_api_arguments_not_command_line_flags(tmp_path):
    out = tmp_path / "used"
    out.mkdir()
    (out / "points.jsonl").write_text('{"key": "x", "row": {}}\n')
    with pytest.raises(SemlinkError) as caught:
        semlink.run(CONFIG, out=out)
    message = str(caught.value)
    assert "resume=True" in message and "--" not in message, message
    with pytest.raises(SemlinkError, match=r"resume=True needs the folder") as caught:
        semlink.run(CONFIG, resume=True)
    with pytest.raises(SemlinkError, match=r"resume=True given but .* does not exist; call semlink.run without"):
        semlink.run(CONFIG, out=tmp_path / "new", resume=True)
    with pytest.raises(SemlinkError, match=r"figures=True needs a folder"):
        semlink.run(CONFIG, figures=True)
    with pytest.raises(SemlinkError, match=r"workers needs executor='process' or ray"):
        semlink.run(CONFIG, workers=2)
    with pytest.raises(SemlinkError, match="config must be an ExperimentConfig"):
        semlink.run(42)
    with pytest.raises(SemlinkError, match=r"systems.*unknown system type 'nope'"):
        semlink.run({"systems": [{"type": "nope"}]})
    plain = SemlinkError("nothing to reword")
    assert _speak_python(plain) is plain


def test_load_runs_takes_one_folder_or_several(tmp_path):
    with pytest.raises(SemlinkError, match="does not exist"):
        semlink.load_runs(tmp_path / "missing")


def _cells(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_the_notebook_in_the_docs_runs(tmp_path, monkeypatch, capsys, fashion_features, single_thread):
    cells = _cells(DOC.read_text(encoding="utf-8"))
    assert len(cells) == 5
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEMLINK_CACHE", str(tmp_path / "cache"))  # features and codecs: not the user's cache
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where out=None runs live
    namespace: dict = {}
    for cell in cells:
        exec(compile(cell, str(DOC), "exec"), namespace)  # noqa: S102 - the documentation's own examples
    printed = capsys.readouterr().out
    assert "resume=True" in printed and "--resume" not in printed
    results, table = namespace["results"], namespace["table"]
    assert sorted(results["snr_db"].unique().tolist()) == [0.0, 5.0, 10.0, float("inf")]
    assert str(results["budget"].dtype) == "Int64"
    assert set(table["run"]) == {"notebook"} and len(table) == len(results)
    assert (tmp_path / "runs" / "notebook" / "accuracy_top1_awgn.png").is_file()
    assert list(scratch.iterdir()) == []  # the temporary run is gone
