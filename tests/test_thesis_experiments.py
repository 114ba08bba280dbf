"""The RaGAN thesis's wanted experiments (benchmarks/thesis_experiments.py) are valid runs of the
pipeline, and the README shows the same commands."""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import benchmark

from t2igan.config import check_families, load_params
from t2igan.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def _module():
    return benchmark("thesis_experiments")


def test_each_experiment_changes_one_option_of_ragan_v1_and_is_valid():
    m = _module()
    default = load_params(ROOT / "params.yaml")
    assert set(m.EXPERIMENTS) == {"ragan-lambda2-2", "ragan-lambda2-5", "ragan-lambda2-10", "ragan-no-fref"}
    for name, (_, overrides) in m.EXPERIMENTS.items():
        p = load_params(ROOT / "params.yaml", overrides)
        check_families(p)  # RaGAN's Options accept the values
        changed = {k for k in p.variants if p.variants[k] != default.variants[k]}
        assert changed == {"ragan_v1"}, name  # only ragan_v1's stages (and the report) re-run
        given = p.variants["ragan_v1"].given
        for key, value in overrides.items():
            assert given[key.rsplit(".", 1)[-1]] == value, name


def test_the_readme_shows_the_commands_the_script_queues():
    m = _module()
    readme = (ROOT / "README.md").read_text()
    for name in m.EXPERIMENTS:
        shown = " ".join(m.command(name)).replace('"', "")
        assert shown in readme, shown
    assert "<!-- thesis-experiments:start -->" in readme


def test_a_bad_override_is_refused_by_name():
    with pytest.raises(ConfigError, match="lambda2"):
        check_families(load_params(ROOT / "params.yaml", {"variants.ragan_v1.lambda2": "lots"}))
