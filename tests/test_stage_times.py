"""Stage timings: every stage records its wall and CPU time beside its outputs, and the README's
table is made from those records (benchmarks/stage_times.py)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import benchmark

from t2igan import stage

ROOT = Path(__file__).resolve().parents[1]


def _stage_times():
    return benchmark("stage_times")


def test_label_names_the_dvc_stage():
    assert stage.label(["stages/train.py", "attngan"]) == "train@attngan"
    assert stage.label(["/x/stages/report.py"]) == "report"


def test_a_successful_stage_records_its_times(tmp_path, monkeypatch):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["stages/score.py", "attngan"])
    monkeypatch.delenv("RANK", raising=False)
    stage.run(lambda p: sum(i * i for i in range(200_000)))  # some CPU work
    rec = json.loads((tmp_path / "reports/timings/score@attngan.json").read_text())
    assert rec["stage"] == "score@attngan" and rec["wall_seconds"] >= 0 and rec["cpu_seconds"] >= 0
    assert rec["peak_rss_gib"] > 0 and rec["threads"] >= 1


def test_a_failing_stage_and_other_ranks_record_nothing(tmp_path, monkeypatch):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["stages/train.py", "attngan"])
    monkeypatch.setenv("RANK", "1")
    stage.run(lambda p: None)
    monkeypatch.setenv("RANK", "0")

    def fail(p):
        raise stage.ConfigError("bad")

    with pytest.raises(SystemExit):
        stage.run(fail)
    assert not (tmp_path / "reports/timings").exists()


def test_table_sums_and_orders_the_stages(tmp_path):
    records = [{"stage": "a", "wall_seconds": 60.0, "cpu_seconds": 120.0, "threads": 2, "peak_rss_gib": 1.0},
               {"stage": "b@x", "wall_seconds": 180.0, "cpu_seconds": 90.0, "threads": 2, "peak_rss_gib": 2.5}]
    for r in records:
        (tmp_path / f"{r['stage']}.json").write_text(json.dumps(r))
    st = _stage_times()
    text = st.table(st.rows(tmp_path))
    lines = text.splitlines()
    assert lines[2].startswith("| `b@x` | 3.0 min | 75 % | 0.25 (partly waiting)")
    assert lines[3].startswith("| `a` | 1.0 min | 25 % | 1.00 (CPU-bound)")
    assert "**all 2 stages** | **4.0 min**" in lines[4]


def test_a_resumed_training_stage_counts_every_epoch(tmp_path):
    """train@x resumed for its last epoch: its row is the sum of all its epochs' seconds, marked."""
    timings = tmp_path / "timings"
    timings.mkdir()
    (timings / "train@x.json").write_text(json.dumps({"stage": "train@x", "wall_seconds": 100.0,
                                                       "cpu_seconds": 200.0, "threads": 2, "peak_rss_gib": 1.0}))
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "train.json").write_text(json.dumps({"epochs": 3, "seconds": 300.0}))
    st = _stage_times()
    text = st.table(st.rows(timings, tmp_path))
    assert "| `train@x`* | 5.0 min | 100 % | 1.00 (CPU-bound)" in text and "resumed from its checkpoint" in text


def test_readme_tables_replace_only_what_lies_between_their_markers(tmp_path):
    readme = benchmark("readme")
    path = tmp_path / "README.md"
    path.write_text("intro\n<!-- t:start -->\nold \\1 table\n<!-- t:end -->\noutro\n")
    readme.replace_between("t", "| new | \\d |", path)
    assert path.read_text() == "intro\n<!-- t:start -->\n| new | \\d |\n<!-- t:end -->\noutro\n"
    with pytest.raises(SystemExit, match="no <!-- other:start -->"):
        readme.replace_between("other", "x", path)
