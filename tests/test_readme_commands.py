"""The README's experiment commands do what its text says they do (issue 22)."""
from __future__ import annotations

import re
from pathlib import Path

import networkx as nx
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _rerun(key: str) -> set[str]:
    """The stages `dvc exp run -S <key>=<new value>` runs: those listing ``key`` among their params and
    every stage below them.  validate_params lists every key, but its output is the same text for any
    valid params, so nothing below it runs for its sake."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        graph = repo.index.graph  # edges run from a stage to the stages it depends on
        direct = [s for s in graph if s.name != "validate_params"
                  and any(isinstance(d, ParamsDependency) and key in d.params for d in s.deps)]
        return {s.addressing for s in direct} | {s.addressing for d in direct for s in nx.ancestors(graph, d)}


def test_the_lambda_experiment_reruns_the_gans_and_what_follows_them_only():
    readme = (ROOT / "README.md").read_text()
    line = re.search(r"^dvc exp run -S lambda=(\S+) .*$", readme, re.M)
    assert line, "README: the `dvc exp run -S lambda=...` example is gone"
    committed = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert float(line.group(1)) != committed["lambda"]  # a value that changes something
    assert "re-runs the GANs" in line.group(0)
    variants = committed["variants"]
    expected = {f"{stage}@{v}" for v in variants for stage in ("train", "generate", "score")} | {"report"}
    assert _rerun("lambda") == expected  # "the DAMSMs, data and baselines stay"


def test_a_baseline_param_reruns_that_baseline_only():
    expected = {f"{stage}@wgan_gp" for stage in ("train_baseline", "generate_baseline", "score_baseline")}
    assert _rerun("baselines.wgan_gp") - {"report"} == expected
