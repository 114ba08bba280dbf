"""The report: tables and figures rendered from fixture metrics, every linked image present."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from t2igan.report import document

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = {"extractor": "evaluator", "weights_file": "evaluator.pt", "weights_sha256": "ab" * 32,
            "n_generated": 100, "n_real": 10, "resize": "none", "isc_splits": 10, "kid_subset_size_used": 10,
            "notes": []}


def _row(fid: float, text: bool = True) -> dict:
    t = {"r_precision_damsm": 0.25, "r_precision_damsm_std": 0.01, "r_precision_evaluator_damsm": 0.125,
         "r_precision_evaluator_damsm_std": 0.01, "attribute_accuracy": 0.5}
    if not text:
        t = {k: "n/a" for k in t}
    return {"is": 3.5, "is_std": 0.25, "fid": fid, "kid": 0.0123, "kid_std": 0.001, "images": 100,
            "protocol": PROTOCOL, **t}


def _write(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def _png(path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4)).save(path)


@pytest.fixture
def fixture_reports(tmp_path):
    """Outputs of one text-to-image variant (`attngan`) and one baseline (`draw_attn`)."""
    reports, models = tmp_path / "reports", tmp_path / "models"
    _write(reports / "attngan" / "scores.json", {"final": _row(54.84), "real": _row(0.0), "untrained": _row(150.0)})
    _write(reports / "attngan" / "train.json", {"seconds": 600.0, "epochs": 3, "images_per_s": 52.8})
    _write(reports / "attngan" / "score_epochs.json",
           [{"epoch": e, "is": 3.0 + e, "fid": 100.0 / e, "r_precision_evaluator_damsm": 0.05 * e} for e in (1, 2)])
    live = reports / "attngan" / "live" / "plots" / "metrics"
    (live / "g").mkdir(parents=True)
    (live / "g" / "adv.tsv").write_text("step\tadv\n1\t2.5\n2\t2.0\n")
    (live / "seconds.tsv").write_text("step\tseconds\n1\t10\n2\t10\n")
    _png(reports / "attngan" / "attention" / "caption_0.png")
    draw = {"reconstruction_bce": 7290.0, "reconstruction_mse": 226.0, "kl_total": 51.6, "inactive_latents": 6,
            "latents": 128, "variance_law_per_step": [1.2, 0.9]}
    _write(reports / "draw_attn" / "scores.json", {"final": {**_row(118.0, text=False), "draw": draw},
                                                   "real": _row(0.0, False), "untrained": _row(231.0, False)})
    _write(reports / "draw_attn" / "train.json", {"seconds": 120.0, "epochs": 5, "images_per_s": 560.0})
    (reports / "draw_attn" / "live" / "plots" / "metrics").mkdir(parents=True)
    (reports / "draw_attn" / "live" / "plots" / "metrics" / "kl.tsv").write_text("step\tkl\n1\t19.7\n2\t17.8\n")
    _png(reports / "draw_attn" / "figures" / "canvas.png")
    torch.save({"state": {"w": torch.zeros(10, 10), "bn.running_mean": torch.zeros(5)}},
               _mkdir(models / "attngan") / "generator.pt")
    torch.save({"state": {"draw.w": torch.zeros(3, 4), "D.w": torch.zeros(100)}},
               _mkdir(models / "draw_attn") / "generator.pt")
    return reports, models


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_report_from_fixture_metrics_links_only_existing_images(fixture_reports):
    reports, models = fixture_reports
    loaded = document.load_models(reports, models, {"attngan": ("attngan", False), "draw_attn": ("draw", True)})
    assert [m.parameters for m in loaded] == [100, 12]   # BN statistics and DRAW's... D are not counted
    assert loaded[0].losses == {"g": {"g/adv": [(1, 2.5), (2, 2.0)]}}  # timings left out
    figures = {}
    assert document.curves_figure(loaded, reports / "report" / "curves.png")
    figures["curves"] = "report/curves.png"
    for m in loaded:
        assert document.loss_figure(m, reports / "report" / f"losses_{m.name}.png")
        figures[f"losses_{m.name}"] = f"report/losses_{m.name}.png"
    figures["attention_attngan"] = "attngan/attention/caption_0.png"
    figures["canvas_draw_attn"] = "draw_attn/figures/canvas.png"
    images = np.zeros((2, 8, 8, 3), np.uint8)
    document.sample_comparison({"real": images, "attngan": images, "draw_attn": images}, ["a red bird", "a blue"],
                               reports / "report" / "samples.png")
    figures["samples"] = "report/samples.png"
    sweep = {"base": "draw_attn", "total_latent": 128, "epochs": 5, "images": 50,
             "runs": [{"steps": 1, "z_per_step": 128, "reconstruction_bce": 8000.0, "kl_total": 30.0,
                       "inactive_latents": 100, "latents": 128, "fid": 150.0, "is": 1.2}]}
    text = document.render(loaded, figures=figures, sweep=sweep, fid_sanity=None,
                           data={"dataset": "synthetic", "scale": "quick", "image_size": 64, "images": 100,
                                 "classes": 4, "classes_train": 3, "classes_test": 1},
                           damsm={"r_precision_real": 0.2306})
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(links) == len(figures) and all((reports / link).is_file() for link in links)
    # every number is the fixture's, formatted: FID 54.8, R-precision 25.0 %, "n/a" for the baseline
    assert "| `attngan` | attngan | 3.50 ± 0.25 | 54.8 | 0.012 | 25.0 ± 1.0 % | 12.5 ± 1.0 % | 50.0 % |" in text
    assert "| `draw_attn` | draw | 3.50 ± 0.25 | 118.0 | 0.012 | n/a | n/a | n/a |" in text
    assert "| real test images (ceiling) |" in text and "6 / 128" in text and "23.1 %" in text
    assert "| 1 | 128 | 8000 | 30.0 | 100 / 128 | 150.0 | 1.20 |" in text
    assert "not comparable" in text and "67.82 %" in text


def test_a_missing_metrics_file_is_named(fixture_reports):
    reports, models = fixture_reports
    with pytest.raises(FileNotFoundError, match=r"ragan_v0/scores.json: missing"):
        document.load_models(reports, models, {"ragan_v0": ("ragan", False)})


def test_the_report_stage_depends_on_every_model_in_params():
    """A model added to params.yaml without its report deps would leave the report stale."""
    from dvc.repo import Repo

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    with Repo(str(ROOT)) as repo:  # resolved: dvc.yaml names the data and model folders by their params
        (stage,) = repo.stage.collect("report")
        deps = {str(d.def_path) for d in stage.deps}
    for name in [*params["variants"], *params["baselines"]]:
        # file by file: scores.json and train.json are DVC-cached, so a whole-folder dep would differ
        # between a fresh clone (no cache) and the run that wrote dvc.lock
        needed = {f"reports/{name}/scores.json", f"reports/{name}/train.json", f"reports/{name}/live",
                  f"models/{name}/generator.pt", f"data/generated/{name}"}
        needed |= ({f"reports/{name}/score_epochs.json", f"reports/{name}/attention"} if name in params["variants"]
                   else {f"reports/{name}/figures"})
        assert needed <= deps, name
        assert f"reports/{name}" not in deps


def test_pr_comment_shows_changed_metrics_and_figures(tmp_path):
    """A git + DVC repository with one metric and one figure committed; after a change, the
    comment carries the metric's diff and the changed and new figures, not the unchanged ones."""
    import subprocess
    import sys

    from PIL import Image

    from t2igan.report import pr

    def run(*args):
        subprocess.run(args, cwd=tmp_path, check=True, capture_output=True)

    run("git", "init", "-q")
    run(sys.executable, "-m", "dvc", "init", "-q")
    (tmp_path / "dvc.yaml").write_text("stages:\n  score:\n    cmd: echo\n    metrics:\n"
                                       "      - reports/m.json:\n          cache: false\n")
    _write(tmp_path / "reports" / "m.json", {"fid": 50.0})
    Image.new("RGB", (4, 4), "red").save(_mkdir(tmp_path / "reports") / "same.png")
    Image.new("RGB", (4, 4), "red").save(tmp_path / "reports" / "changed.png")
    run("git", "add", "-A")
    run("git", "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-qm", "base")
    _write(tmp_path / "reports" / "m.json", {"fid": 40.0})
    Image.new("RGB", (4, 4), "blue").save(tmp_path / "reports" / "changed.png")
    Image.new("RGB", (4, 4), "blue").save(tmp_path / "reports" / "new.png")

    assert pr.main(["--base", "HEAD", "-o", "comment.md", "--repo", str(tmp_path)]) == 0
    text = (tmp_path / "comment.md").read_text()
    assert re.search(r"\| reports/m\.json \| fid \| 50 \| 40 \| -10 \|", text), text
    assert "![reports/changed.png](reports/changed.png)" in text and "reports/new.png" in text
    assert "same.png" not in text
    assert pr.main(["--base", "nosuchrev", "--repo", str(tmp_path)]) == 1


def test_pr_comment_of_two_committed_revisions_has_params_and_no_timings(tmp_path):
    """The comment between two commits: the changed param, the changed result metric and figure;
    the run time stored beside the metrics is left out, and so is everything unchanged."""
    import subprocess
    import sys

    from PIL import Image

    from t2igan.report import pr

    def run(*args):
        subprocess.run(args, cwd=tmp_path, check=True, capture_output=True)

    def commit(message):
        run("git", "add", "-A")
        run("git", "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-qm", message)

    run("git", "init", "-q")
    run(sys.executable, "-m", "dvc", "init", "-q")
    (tmp_path / "dvc.yaml").write_text("stages:\n  train:\n    cmd: echo\n    params: [lambda, seed]\n    metrics:\n"
                                       "      - reports/train.json:\n          cache: false\n")
    (tmp_path / "params.yaml").write_text("lambda: 5.0\nseed: 0\n")
    _write(tmp_path / "reports" / "train.json", {"fid": 50.0, "seconds": 300.0, "final": {"images_per_s": 60.0,
                                                                                         "kl": 0.5}})
    Image.new("RGB", (4, 4), "red").save(tmp_path / "reports" / "curve.png")
    commit("base")
    (tmp_path / "params.yaml").write_text("lambda: 2.0\nseed: 0\n")
    _write(tmp_path / "reports" / "train.json", {"fid": 45.5, "seconds": 280.0, "final": {"images_per_s": 64.0,
                                                                                         "kl": 0.5}})
    Image.new("RGB", (4, 4), "blue").save(tmp_path / "reports" / "curve.png")
    commit("lambda 2")
    (tmp_path / "reports" / "curve.png").unlink()  # the working tree must not matter with --head

    assert pr.main(["--base", "HEAD~1", "--head", "HEAD", "-o", "c.md", "--repo", str(tmp_path)]) == 0
    text = (tmp_path / "c.md").read_text()
    assert "| params.yaml | lambda | 5 | 2 | -3 |" in text, text
    assert "| reports/train.json | fid | 50 | 45.5 | -4.5 |" in text, text
    assert "seconds" not in text and "images_per_s" not in text and "| seed |" not in text and "kl" not in text
    assert "![reports/curve.png](reports/curve.png)" in text


def test_model_cards_from_fixture_metrics(fixture_reports, tmp_path):
    """A card per model with its params entry, its three score rows as the report formats them, how to
    sample it (text-to-image variants: with its DVC artifact's name, as dvc.yaml declares it) and its limits."""
    from t2igan.report import model_cards

    reports, models_dir = fixture_reports
    models = document.load_models(reports, models_dir, {"attngan": ("attngan", False), "draw_attn": ("draw", True)})
    given = {"attngan": {"model": "attngan"}, "draw_attn": {"model": "draw", "attention": True}}
    paths = model_cards.write_cards(models, given, tmp_path / "cards", dataset="synthetic", scale="quick",
                                    image_size=64)
    assert [p.name for p in paths] == ["attngan.md", "draw_attn.md"]
    attngan, draw = (p.read_text() for p in paths)
    assert attngan.startswith("# Model card: `attngan` (AttnGAN)")
    rows = [line for line in attngan.splitlines() if line.startswith("| ")]
    assert [r.split("|")[1].strip() for r in rows[2:]] == ["final", "untrained (floor)", "real test images"]
    assert _fid_cell(rows, "final") == document._num(54.84, 1) and _fid_cell(rows, "untrained (floor)") == "150.0"
    assert "generator parameters: 100 (100)" in attngan  # the 10 x 10 weight; BatchNorm statistics not counted
    assert '`variants.attngan`: `{"model": "attngan"}`' in attngan
    assert "dvc artifacts get <repository url> attngan-generator" in attngan
    assert "t2igan sample --variant attngan" in attngan
    assert model_cards.artifact_name("ragan_v0") == "ragan-v0-generator"
    declared = yaml.safe_load((ROOT / "dvc.yaml").read_text())["artifacts"]
    for name in ("attngan", "dualattngan", "ragan_v0", "ragan_v1"):
        assert declared[model_cards.artifact_name(name)]["meta"]["card"] == f"reports/model_cards/{name}.md"
    assert "`baselines.draw_attn`: `{\"attention\": true, \"model\": \"draw\"}`" in draw
    assert "artifacts get" not in draw and "python stages/generate_baseline.py draw_attn" in draw
    assert "not birds" in draw and "generator parameters: 12 (12)" in draw  # DRAW's 3 x 4; the D is not sampled
    index = (tmp_path / "cards" / "README.md").read_text()
    assert "[`attngan`](attngan.md): AttnGAN" in index and "[`draw_attn`](draw_attn.md): DRAW" in index


def _fid_cell(rows: list[str], label: str) -> str:
    header = [c.strip() for c in rows[0].split("|")]
    row = next(r for r in rows if r.split("|")[1].strip() == label)
    return [c.strip() for c in row.split("|")][header.index("FID ↓")]
