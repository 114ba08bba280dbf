"""`t2igan plan`: what the default graph writes, holds and takes, before it runs (issue 18)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from t2igan import cli, plan
from t2igan.config import load_params

ROOT = Path(__file__).resolve().parents[1]


def _paper():
    return load_params(ROOT / "params.yaml", {"dataset": "cub", "scale": "paper"})


def test_paper_on_cub_fits_the_budget_with_one_image_per_test_caption():
    p = _paper()
    rows = {r.stage: r for r in plan.plan(p, results_dir=ROOT / "benchmarks" / "results")}
    for name in p.variants:
        assert rows[f"generate@{name}"].images in (29_330, 2 * 29_330)  # RaGAN adds final_black
        assert rows[f"generate@{name}"].disk < 12e9                     # no variant's sets reach 12 GB
    # hand-computed: one 256 px uint8 image per test caption; the 304 px stored crops of every image
    assert rows["generate@attngan"].disk == 29_330 * 256 * 256 * 3
    assert rows["preprocess"].disk == 11_788 * 304 * 304 * 3
    assert sum(r.disk for r in rows.values()) <= 100e9
    assert rows["score@attngan"].disk == 0 and rows["score@attngan"].ram < 16e9


def test_every_default_stage_is_planned():
    p = _paper()
    stages = {r.stage for r in plan.plan(p)}
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    expected = set()
    for name, stage in dvc.items():
        if name == "validate_params":
            continue
        if "foreach" in stage:
            keys = p.variants if stage["foreach"] == "${variants}" else p.baselines
            expected |= {f"{name}@{key}" for key in keys}
        else:
            expected.add(name)
    assert stages == expected


def test_model_sizes_from_the_meta_device_match_the_built_networks():
    """The plan counts parameters on PyTorch's meta device: the same bytes as the real networks."""
    p = load_params(ROOT / "params.yaml", {"scale": "tiny"})
    text, image = plan._damsm(p, 1000)
    _, _, G_meta, Ds_meta = plan._gan(p, "attngan", text, image)
    from t2igan.train import damsm, gan

    real_text, real_image = damsm.build_encoders(damsm.DamsmSettings.from_params(p), 1000, pretrained=False)
    variant = gan.make_variant(gan.GanSettings.from_params(p, "attngan"),
                               gan.FrozenDamsm(real_text, real_image, torch.device("cpu")))
    G, Ds = variant.build()
    state = sum(t.numel() * t.element_size() for t in G.state_dict().values() if t.is_floating_point())
    assert plan._bytes(G_meta)[0] == state == plan._bytes(G)[0]
    assert plan._bytes(Ds_meta) == plan._bytes(Ds)


def test_measured_gpu_rows_give_time_and_memory(tmp_path):
    """A throughput row of benchmarks/throughput.py for the paper batch: time = epochs x train
    images / images per second; its peak memory is the GPU column.  Without one: no time."""
    p = _paper()
    (tmp_path / "gpu-throughput.json").write_text(json.dumps([
        {"variant": "attngan", "scale": "paper", "batch_size": p.scale.gan_batch_size, "compile": False,
         "train_images_per_s": 100.0, "generate_images_per_s": 1000.0, "peak_memory_gib": 20.0}]))
    rows = {r.stage: r for r in plan.plan(p, results_dir=tmp_path)}
    assert rows["train@attngan"].seconds == pytest.approx(600 * 8_855 / 100.0)
    assert rows["train@attngan"].gpu == 20.0 * 2**30
    assert rows["generate@attngan"].seconds == pytest.approx(29_330 / 1000.0)
    assert rows["train@dualattngan"].seconds is None and rows["train@dualattngan"].gpu is None
    assert rows["pretrain_damsm"].seconds is None  # no DAMSM benchmark in this folder


def test_plan_command_prints_the_totals(capsys):
    assert cli.main(["--params", str(ROOT / "params.yaml"), "plan", "-S", "dataset=cub", "-S", "scale=paper"]) == 0
    out = capsys.readouterr().out
    assert "29,330 images per variant" in out and "GB of DVC outputs" in out
    assert "computed" in out and "measured" in out
    assert cli.main(["--params", str(ROOT / "params.yaml"), "plan", "-S", "scale=huge"]) == 1
    assert "scale: 'huge' is not allowed" in capsys.readouterr().err
    assert cli.main(["--params", str(ROOT / "params.yaml"), "plan", "-S", "scale"]) == 1
    assert "expected KEY=VALUE" in capsys.readouterr().err


def test_resumable_checkpoints_are_scratch_not_outputs():
    """A trainer's checkpoints (weights and Adam's two moments, and the one before) live in resume/<stage>
    while it trains; its DVC outputs hold the final weights only (issue 22: the run cache is back on)."""
    p = _paper()
    rows = {r.stage: r for r in plan.plan(p, results_dir=ROOT / "benchmarks" / "results")}
    _, nets = plan._baseline(p, "dcgan")
    weights, trained = plan._bytes(nets)
    assert rows["train_baseline@dcgan"].disk == weights
    assert rows["train_baseline@dcgan"].scratch == 2 * (weights + 2 * trained)
    for name, row in rows.items():
        training = name.startswith(("train", "pretrain", "evaluator_damsm", "draw_sweep"))
        assert (row.scratch > 0) == training, name
    out = plan.format_plan(p, list(rows.values()))
    assert f"scratch up to {max(r.scratch for r in rows.values()) / 1e9:,.1f} GB" in out
