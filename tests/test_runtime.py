"""`runtime` holds how a machine runs the stages (device, workers, processes, compile, inference
batch), not what they compute: no stage of dvc.yaml depends on it, so changing it re-runs nothing."""
from __future__ import annotations

from pathlib import Path

import yaml
from dvc.dependency.param import ParamsDependency
from dvc.repo import Repo

ROOT = Path(__file__).resolve().parents[1]


def _stage_params() -> dict[str, set[str]]:
    """Each stage (foreach expanded, as DVC resolves dvc.yaml) -> the params.yaml keys it depends on."""
    with Repo(str(ROOT)) as repo:
        return {stage.addressing: {key for dep in stage.deps if isinstance(dep, ParamsDependency)
                                   for key in dep.params}
                for stage in repo.index.stages}


def test_no_stage_depends_on_runtime_and_validate_params_on_everything_else():
    stages = _stage_params()
    assert len(stages) > 30 and "train@attngan" in stages
    assert {name: sorted(k for k in keys if k.split(".")[0] == "runtime") for name, keys in stages.items()
            if any(k.split(".")[0] == "runtime" for k in keys)} == {}
    # validate_params reads every other section, so a bad edit there still stops `dvc repro` first
    top = set(yaml.safe_load((ROOT / "params.yaml").read_text()))
    assert "runtime" in top
    assert stages["validate_params"] == top - {"runtime"}


def test_no_stage_lists_params_yaml_as_a_file():
    """A file dep on params.yaml would re-run its stage on any edit, `runtime` included."""
    with Repo(str(ROOT)) as repo:
        files = {stage.addressing: [str(d.def_path) for d in stage.deps if not isinstance(d, ParamsDependency)]
                 for stage in repo.index.stages}
    assert {name: deps for name, deps in files.items() if "params.yaml" in deps} == {}
