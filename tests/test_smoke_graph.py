"""benchmarks/smoke_graph.py runs dvc.yaml's stages in file order without DVC: that order must be one
in which every stage comes after the stages whose outputs it reads, and hold every default stage."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("smoke_graph", ROOT / "benchmarks" / "smoke_graph.py")
smoke_graph = importlib.util.module_from_spec(spec)
spec.loader.exec_module(smoke_graph)


def _inside(a: str, b: str) -> bool:
    return a == b or a.startswith(b.rstrip("/") + "/")


def test_the_file_order_is_a_dependency_order_of_every_default_stage():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    graph = smoke_graph.stages(yaml.safe_load((ROOT / "dvc.yaml").read_text()), params)
    names = [s["name"] for s in graph]
    assert set(names) == set(yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"])
    assert "train@ragan_v1" in names and "score_baseline@draw_cond" in names and names[-1] == "report"
    assert next(s for s in graph if s["name"] == "score@attngan")["cmd"] == "python stages/score.py attngan"
    made: list[tuple[str, str]] = []  # (output path, the stage that writes it), so far
    for stage in graph:
        for dep in stage["deps"]:
            writers = {w for out, w in made if _inside(dep, out) or _inside(out, dep)}
            later = [s["name"] for s in graph[names.index(stage["name"]) + 1:]
                     if any(_inside(dep, o) or _inside(o, dep) for o in s["outs"])]
            assert writers or not later, f"{stage['name']} reads {dep}, written only later by {later}"
        made += [(out, stage["name"]) for out in stage["outs"]]
