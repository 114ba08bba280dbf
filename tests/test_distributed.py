"""Data-parallel training: 2 gloo processes (torchrun, CPU) against one process with the same global batch."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import settings
import torch

from t2igan.distributed import DistributedError, World
from t2igan.train import checksummed, gan

CHECKS = Path(__file__).with_name("distributed_checks.py")
# Two processes end within these of one process, after 6 to 12 steps: the relative L2 distance of
# each network's weights, and each epoch-mean loss term's relative difference.  Measured: weights
# 2e-7 to 6e-5, losses 3e-6 to 2e-5, from the summation order alone (it also depends on the number
# of threads, so the bounds leave room).  Per-rank BatchNorm statistics or per-rank DAMSM negatives,
# the mistakes these tests are for, move the losses by 1e-1 (DAMSM word loss 2.4 against 3.8).
WEIGHT_TOLERANCE = 1e-3
LOSS_TOLERANCE = 1e-3


def _torchrun(*args: str, nproc: int = 2) -> str:
    src = str(CHECKS.parents[1] / "src")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                           str(CHECKS), *args], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def test_each_rank_takes_its_slice_of_every_global_batch():
    order = list(range(20))[::-1]
    parts = [World(r, 2).part(order, 8) for r in range(2)]
    assert parts[0] == [19, 18, 17, 16, 11, 10, 9, 8] and parts[1] == [15, 14, 13, 12, 7, 6, 5, 4]
    for step in range(2):  # together, step k's local batches are the global batch k; the rest is dropped
        assert parts[0][4 * step:4 * step + 4] + parts[1][4 * step:4 * step + 4] == order[8 * step:8 * step + 8]
    assert World(1, 2).slice(torch.arange(6)).tolist() == [3, 4, 5]
    assert World().part(order, 8) == order[:16]
    with pytest.raises(DistributedError, match=r"batch size \(6.*multiple of the number of processes \(4, runtime.gp"):
        World(0, 4).local_batch(6)


def test_gather_global_batchnorm_and_gradient_averaging(tmp_path):
    _torchrun("ops", str(tmp_path))
    assert (tmp_path / "ok").read_text() == "ok\n"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """64 images (48 for training: 6 steps of 8 an epoch) and randomly initialised DAMSM encoders."""
    from conftest import prepare_with_damsm, write_cub

    root = tmp_path_factory.mktemp("ddp")
    prepared = prepare_with_damsm(write_cub(root / "birds", n_classes=4, per_class=16), root)
    return root, prepared


def _settings(model: str, epochs: int) -> gan.GanSettings:
    return settings.gan(model, model, epochs=epochs, batch_size=8)


def _close(a: dict, b: dict, what: str) -> None:
    for part in ("G", "Ds", "G_ema"):
        assert a[part].keys() == b[part].keys()
        diff = torch.cat([(a[part][k].float() - b[part][k].float()).flatten() for k in a[part]])
        norm = torch.cat([a[part][k].float().flatten() for k in a[part]])
        print(f"{what}: {part}: max |difference| {diff.abs().max().item():.2e}, relative L2 "
              f"{(diff.norm() / norm.norm()).item():.2e}")
        assert diff.norm() / norm.norm() < WEIGHT_TOLERANCE, f"{what}: {part} differs"
    for ha, hb in zip(a["history"], b["history"], strict=True):
        worst = max(abs(ha[k] - hb[k]) / abs(ha[k]) for k in ha if k[:2] in ("d_", "g_"))
        print(f"{what}: epoch {ha['epoch']} losses: largest relative difference {worst:.2e}")
        assert worst < LOSS_TOLERANCE, f"{what}: epoch {ha['epoch']}'s losses differ"


@pytest.mark.parametrize("model", ["attngan", "dualattngan"])
def test_two_processes_train_as_one_with_the_global_batch(data, tmp_path, model):
    root, prepared = data
    s = _settings(model, epochs=1)
    log = _torchrun("train", str(root), str(tmp_path / "two"), json.dumps(dataclasses.asdict(s)))
    # the ranks' weights were compared after every step, and only rank 0 wrote (one log line, one set of files)
    assert log.count("2 processes: weights compared identical after 6 steps so far") == 1
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["checkpoint.pt", "generator.pt", "snapshots"]
    two = checksummed.load(tmp_path / "two" / "checkpoint.pt")
    assert two["processes"] == 2

    gan.train(prepared, root / "damsm", tmp_path / "one", s, progress=False)
    one = checksummed.load(tmp_path / "one" / "checkpoint.pt")
    _close(one, two, f"{model}, 1 vs 2 processes")


def test_a_checkpoint_from_two_processes_resumes_on_one_and_back(data, tmp_path, capsys):
    root, prepared = data
    one_epoch, two_epochs = _settings("attngan", 1), _settings("attngan", 2)
    _torchrun("train", str(root), str(tmp_path / "mixed"), json.dumps(dataclasses.asdict(one_epoch)))
    capsys.readouterr()
    gan.train(prepared, root / "damsm", tmp_path / "mixed", two_epochs, progress=False)
    assert "resuming after epoch 1 (written by 2 process(es); now 1)" in capsys.readouterr().out
    gan.train(prepared, root / "damsm", tmp_path / "straight", two_epochs, progress=False)
    _close(checksummed.load(tmp_path / "straight" / "checkpoint.pt"),
           checksummed.load(tmp_path / "mixed" / "checkpoint.pt"), "2 processes then 1")

    # and the other way: one process's epoch 1, two processes' epoch 2
    gan.train(prepared, root / "damsm", tmp_path / "back", one_epoch, progress=False)
    log = _torchrun("train", str(root), str(tmp_path / "back"), json.dumps(dataclasses.asdict(two_epochs)))
    assert "resuming after epoch 1 (written by 1 process(es); now 2)" in log
    _close(checksummed.load(tmp_path / "straight" / "checkpoint.pt"),
           checksummed.load(tmp_path / "back" / "checkpoint.pt"), "1 process then 2")
