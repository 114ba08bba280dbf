"""End to end: `dvc repro` of the data stages at tiny scale in a fresh git repository."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _run(args, cwd, env):
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A copy of the project (code, stages, dvc.yaml, params at tiny scale) as its own git+DVC repo."""
    work = tmp_path_factory.mktemp("project")
    for name in ("src", "stages"):
        shutil.copytree(ROOT / name, work / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", ".gitignore", ".dvcignore"):
        shutil.copy(ROOT / name, work / name)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["scale"] = "tiny"
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env["PYTHONPATH"] = str(work / "src")  # the copy's code, not the checkout's
    dvc = [sys.executable, "-m", "dvc"]
    _run(["git", "init", "-q"], work, env)
    _run(dvc + ["init", "-q"], work, env)
    shutil.copy(ROOT / ".dvc" / "config", work / ".dvc" / "config")
    _run(["git", "add", "-A"], work, env)
    _run(["git", "-c", "user.name=t2igan-test", "-c", "user.email=test@localhost", "commit", "-qm", "init"], work, env)
    return work, env, dvc


def test_repro_crop_refs_then_nothing_to_do(project):
    work, env, dvc = project
    _run(dvc + ["repro", "crop_refs"], work, env)
    stats = json.loads((work / "reports/data/stats.json").read_text())
    assert stats["images"] == 400 and stats["classes"] == 200
    assert stats["classes_train"] == 150 and stats["classes_test"] == 50
    images = np.load(work / "data/prepared/images.npy", mmap_mode="r")
    assert images.shape == (400, 38, 38, 3)
    assert (work / "reports/data/contact_sheet.png").is_file()
    refs = np.load(work / "data/refs/refs.npz")
    assert refs["assignment"].shape == (4000,)
    lock = yaml.safe_load((work / "dvc.lock").read_text())
    assert set(lock["stages"]) == {"data", "preprocess", "crop_refs"}
    assert lock["stages"]["data"]["params"]["params.yaml"]["tiny.synthetic_images"] == 400
    out = _run(dvc + ["repro", "crop_refs"], work, env)
    for stage in ("data", "preprocess", "crop_refs"):
        assert f"Stage '{stage}' didn't change, skipping" in out
    assert "Running stage" not in out


def test_bad_params_stop_the_stage_naming_the_key(project):
    work, env, dvc = project
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["data"]["on_bad_image"] = "ignore"
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        proc = subprocess.run(dvc + ["repro", "preprocess"], cwd=work, env=env, capture_output=True, text=True)
        assert proc.returncode != 0
        assert "data.on_bad_image: 'ignore' is not allowed; use one of 'error', 'skip'" in proc.stdout + proc.stderr
    finally:
        params["data"]["on_bad_image"] = "error"
        (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def _weights(path):
    import torch

    return torch.load(path, map_location="cpu", weights_only=False)["state"]


def test_damsm_killed_mid_epoch_resumes_bit_identical(project):
    """SIGKILL the DAMSM stage in its second epoch; `dvc repro` again ends with the same weights."""
    import torch

    work, env, dvc = project
    _run(dvc + ["repro", "pretrain_damsm"], work, env)
    metrics = json.loads((work / "reports/damsm/metrics.json").read_text())
    assert metrics["epochs"] == 2 and 0 <= metrics["r_precision_shuffled"] < 0.1
    clean = {name: _weights(work / f"models/damsm/{name}.pt") for name in ("text_encoder", "image_encoder")}
    curves = (work / "reports/damsm/live/plots/metrics/train/w0.tsv").read_text()

    shutil.rmtree(work / "models/damsm")
    steps_per_epoch = 300 // 16  # tiny: 300 training images, batch 16
    killed = subprocess.run(dvc + ["repro", "pretrain_damsm"], cwd=work, capture_output=True, text=True,
                            env=dict(env, T2IGAN_KILL_AT_STEP=str(steps_per_epoch + 5)))
    assert killed.returncode != 0
    state = torch.load(work / "models/damsm/checkpoint.pt", weights_only=False)
    assert len(state["history"]) == 1  # the kill came mid-way through epoch 2
    out = _run(dvc + ["repro", "pretrain_damsm"], work, env)
    assert "resuming after epoch 1" in out
    for name, tensors in clean.items():
        resumed = _weights(work / f"models/damsm/{name}.pt")
        assert tensors.keys() == resumed.keys()
        for key in tensors:
            assert torch.equal(tensors[key], resumed[key]), f"{name}.{key} differs after resume"
    assert (work / "reports/damsm/live/plots/metrics/train/w0.tsv").read_text() == curves
