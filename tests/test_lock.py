"""The committed dvc.lock describes the committed code, params and reports (issue 21, item 9).

A fresh clone has the code but none of the cached outputs (data/, models/). DVC itself, run on a
copy of exactly what a clone has, must find every stage's code and params dependencies, and the
committed reports, as dvc.lock records them: otherwise `dvc status` on a fresh clone lists stages
as changed, and the committed results are not what the committed code produces.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("src", "stages", "reports", "dvc.yaml", "dvc.lock", "params.yaml", ".dvcignore", ".gitignore")


def _fresh_clone_copy(work: Path) -> None:
    """What a commit of the working tree would hold: git's files (tracked, or new and not ignored)."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "reports"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split()
    for name in listed:
        if (ROOT / name).is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / name, work / name)
    for name in COPIED:
        if name == "reports":
            continue
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, work / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(ROOT / name, work / name)
    (work / ".dvc").mkdir()
    shutil.copy(ROOT / ".dvc" / "config", work / ".dvc" / "config")
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)


def stale_entries(status: dict, work: Path) -> list[str]:
    """What `dvc status --json` says beyond "this clone lacks the cached outputs"."""
    problems = []
    for stage, entries in status.items():
        for entry in entries:
            if isinstance(entry, str):  # e.g. "changed command"
                problems.append(f"{stage}: {entry}")
                continue
            for kind, paths in entry.items():
                if kind == "changed params":
                    problems.append(f"{stage}: {kind} {paths}")
                    continue
                for path, state in paths.items():
                    missing_output = state in ("deleted", "not in cache") and not (work / path).exists()
                    if not missing_output:
                        problems.append(f"{stage}: {kind} {path} {state}")
    return problems


def test_stale_entries_are_told_apart_from_missing_outputs(tmp_path):
    (tmp_path / "src").mkdir()
    status = {"train@x": [{"changed deps": {"data/prepared": "deleted", "src/a.py": "modified"}},
                          {"changed outs": {"models/x/generator.pt": "deleted", "models/x/s": "not in cache"}}],
              "score@x": [{"changed outs": {"reports/x/scores.json": "modified"}}, "changed command"],
              "data": [{"changed params": {"params.yaml": {"seed": "modified"}}}]}
    (tmp_path / "reports/x").mkdir(parents=True)
    (tmp_path / "reports/x/scores.json").write_text("{}")
    assert stale_entries(status, tmp_path) == [
        "train@x: changed deps src/a.py modified", "score@x: changed outs reports/x/scores.json modified",
        "score@x: changed command", "data: changed params {'params.yaml': {'seed': 'modified'}}"]


def test_the_committed_lock_matches_the_committed_code_params_and_reports(tmp_path):
    work = tmp_path / "clone"
    work.mkdir()
    _fresh_clone_copy(work)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run([sys.executable, "-m", "dvc", "status", "--json"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    status = json.loads(proc.stdout or "{}")
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"]
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert len(lock) >= len(stages)  # every stage (foreach stages expand to several) has run
    problems = stale_entries(status, work)
    assert not problems, ("dvc.lock is stale against the committed files: run `dvc repro` and commit "
                          "dvc.lock and reports/ with the change:\n" + "\n".join(problems))
