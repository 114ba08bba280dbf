"""DVC's promise is that a changed input re-runs what depends on it.  For code that means: every
project file a stage's script imports, directly or through other modules, inside functions too,
is one of the stage's deps in dvc.yaml (after DVC's foreach expansion), and no other code is.

A family's module is imported by name (t2igan.families), which no parser sees: the rule here is
that a stage loads the family of its own entry (``train@x`` / ``generate@x`` ... the `variants`
or `baselines` entry ``x``) when it reaches the code that loads families, validate_params loads
every family, and draw_sweep the family of ``draw_sweep.base``.
"""
from __future__ import annotations

import shlex
from functools import cache
from pathlib import Path

import pytest
import yaml
from dvc.dependency.param import ParamsDependency
from dvc.repo import Repo
from import_graph import ROOT, SRC, closure, cycles, import_statements, inert, module_file

from t2igan import families

# DVC gives the entries of a foreach stage the same deps but for what ${item.model} names (a family's own
# two files; a list per entry cannot be interpolated: treeverse/dvc#7151).  So the template lists what any
# entry's family imports, and a family that does not build on AttnGAN lists AttnGAN's modules too: an
# edit to them re-runs its stages as well.  The one such family, and what it over-includes:
OVER_INCLUDED = {"dfgan": {"src/t2igan/losses/attngan.py", "src/t2igan/models/attngan.py",
                           "src/t2igan/variants/attngan.py"}}

# the modules that load a family by name, and the params.yaml section they read it from
LOADERS = {SRC / "t2igan/train/gan.py": "variants", SRC / "t2igan/baselines/base.py": "baselines"}


def _family_file(section: str, model: str) -> Path:
    return module_file(families.module_name(section, model))


@cache
def stage_code() -> dict[str, tuple[set[str], set[str]]]:
    """stage -> (the project files its command runs, the code files its deps name)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    out = {}
    with Repo(str(ROOT)) as repo:
        for stage in repo.index.stages:
            argv = shlex.split(stage.cmd)
            assert argv[0] == "python" and argv[1].startswith("stages/"), f"{stage.name}: {stage.cmd}"
            files = closure(ROOT / argv[1])
            key = stage.name.partition("@")[2]
            if stage.name == "validate_params":
                files |= closure(*(_family_file(s, m) for s in families.FAMILIES for m in families.FAMILIES[s]))
            elif stage.name == "draw_sweep":
                files |= closure(_family_file("baselines", params["baselines"][params["draw_sweep"]["base"]]["model"]))
            for loader, section in LOADERS.items():
                if loader in files and key in params.get(section, {}):
                    files |= closure(_family_file(section, params[section][key]["model"]))
            needed = {str(f.relative_to(ROOT)) for f in files if not inert(f)}
            listed = set()
            for dep in stage.deps:
                if isinstance(dep, ParamsDependency):
                    continue
                path = ROOT / str(dep.def_path)
                if path.is_dir() and path.is_relative_to(SRC):
                    listed |= {str(f.relative_to(ROOT)) for f in path.rglob("*.py") if not inert(f)}
                elif path.suffix == ".py":
                    listed.add(str(path.relative_to(ROOT)))
            out[stage.name] = needed, listed
    return out


def _over_included(stage: str) -> set[str]:
    """What the stage lists without importing it, by OVER_INCLUDED (a variant's stages only)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())  # a baseline never shares a variant's name
    entry = params["variants"].get(stage.partition("@")[2])
    return OVER_INCLUDED.get(entry["model"], set()) if entry else set()


def test_every_stage_depends_on_exactly_the_code_it_runs():
    code = stage_code()
    assert len(code) > 30 and {"train@attngan", "score@ragan_v1", "validate_params", "data"} <= set(code)
    wrong = {name: {"missing": sorted(needed - listed), "not imported": sorted(listed - needed)}
             for name, (needed, listed) in code.items() if needed != listed - _over_included(name)}
    assert wrong == {}, "dvc.yaml deps differ from what the stages import:\n" + yaml.safe_dump(wrong)
    for name, (needed, listed) in code.items():  # the exception is exactly what it says, no more
        assert listed - needed == _over_included(name), name


def test_the_caption_rule_reaches_every_stage_that_reads_captions():
    code = stage_code()
    readers = sorted(n for n, (needed, _) in code.items() if "src/t2igan/data/text.py" in needed)
    for name in ("preprocess", "pretrain_damsm", "train@attngan", "generate@ragan_v1", "score@dualattngan",
                 "train_evaluator"):
        assert name in readers, name
    assert "data" not in readers and "fetch_weights" not in readers


def test_a_family_is_reached_only_by_its_own_stages():
    code = stage_code()
    reach = {n for n, (needed, _) in code.items() if "src/t2igan/models/dualattngan.py" in needed}
    assert reach == {"validate_params", "train@dualattngan", "generate@dualattngan", "score@dualattngan"}
    # RaGAN's reference patch is its own business: no other stage (score_reference, the baselines'
    # scores, the other variants) reaches its networks or its reader of crop_refs
    for path in ("src/t2igan/models/ragan.py", "src/t2igan/variants/ragan.py"):
        reach = {n for n, (needed, _) in code.items() if path in needed}
        own = {f"{stage}@ragan_v{v}" for stage in ("train", "generate", "score") for v in (0, 1)}
        assert reach == {"validate_params", *own}, path
    assert not any("src/t2igan/synthbirds/draw.py" in needed for n, (needed, _) in code.items() if n != "data")


def test_no_import_cycles():
    assert cycles() == []


# A command line imports what its command needs when it runs, so `t2igan --help` starts without torch;
# no stage imports it.  Everywhere else a project import inside a function would hide a layering problem.
LAZY_OK = {SRC / "t2igan/cli.py"}


@pytest.mark.parametrize("file", sorted([*SRC.rglob("*.py"), *(ROOT / "stages").glob("*.py")]),
                         ids=lambda f: str(f.relative_to(ROOT)))
def test_no_project_import_inside_a_function(file):
    if file in LAZY_OK:
        return
    local = [f"line {line}: {module}" for module, _, line, inside in import_statements(file)
             if inside and module.split(".")[0] == "t2igan"]
    assert local == []


def test_no_stage_imports_the_command_line():
    assert not any("src/t2igan/cli.py" in needed for needed, _ in stage_code().values())


# the params that name where the pipeline's data and models live (the stages read them, never a literal)
LOCATIONS = ("data.raw_dir", "data.out_dir", "preprocess.out_dir", "crop_refs.out_dir", "damsm.out_dir",
             "train.out_dir", "generate.out_dir", "evaluator.out_dir", "score.reference_dir", "weights.dir")


def test_dvc_yaml_states_no_path_that_a_param_states():
    """One place per path: dvc.yaml writes ``${preprocess.out_dir}`` where params.yaml says data/prepared,
    so `-S preprocess.out_dir=...` moves the stage's outputs and the deps that read them alike."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    values = {}
    for key in LOCATIONS:
        node = params
        for part in key.split("."):
            node = node[part]
        values[key] = node.rstrip("/")
    literal = []
    for number, line in enumerate((ROOT / "dvc.yaml").read_text().splitlines(), 1):
        item = line.split("#")[0].strip().removeprefix("- ").removeprefix("path:").strip().rstrip(":")
        for key, value in values.items():
            if item == value or item.startswith(value + "/"):
                literal.append(f"dvc.yaml:{number}: {item} (write ${{{key}}})")
    assert not literal, "\n".join(literal)
    with Repo(str(ROOT)) as repo:  # and DVC resolves them to the params' places
        outs = {str(o.def_path) for s in repo.index.stages for o in s.outs}
    assert f"{values['preprocess.out_dir']}" in outs and f"{values['train.out_dir']}/attngan/generator.pt" in outs
