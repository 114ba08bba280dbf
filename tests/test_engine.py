"""The one training loop (t2igan.train.engine): resume, reseeding, the step clock, the NaN guard, and
that no other module keeps a copy of it."""
from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest
import settings
import torch
import torch.nn as nn

from t2igan import source
from t2igan.errors import T2IGANError
from t2igan.train import checksummed, engine, evaluator

SRC = Path(__file__).resolve().parents[1] / "src" / "t2igan"


class Points(torch.utils.data.Dataset):
    """12 noisy points of a line; each item's noise is seeded by (epoch, item), as the real data sets do."""

    def __init__(self):
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return 12

    def __getitem__(self, i: int):
        noise = torch.randn(1, generator=torch.Generator().manual_seed(1000 * self.epoch + i))
        x = torch.tensor([i / 12.0])
        return x, 3 * x + 1 + 0.1 * noise


class Line(engine.Job):
    name = "line"

    def __init__(self, fail_at: int | None = None):
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(1, 4), nn.Dropout(0.5), nn.Linear(4, 1))  # dropout: uses torch's RNG
        self.opt = torch.optim.SGD(self.net.parameters(), lr=0.1)
        self.fail_at, self.steps = fail_at, []

    def modules(self):
        return [self.net]

    def state(self):
        return {"net": self.net.state_dict(), "opt": self.opt.state_dict()}

    def load_state(self, state):
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])

    def step(self, batch, step):
        self.steps.append(step)
        x, y = batch
        loss = ((self.net(x) - y) ** 2).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return {"loss": loss.detach() if step != self.fail_at else torch.tensor(float("nan"))}

    def begin_epoch(self, epoch):
        return {"lr": 0.1}


def _run(tmp_path, epochs, **kw):
    return engine.Run(tmp_path / "checkpoint.pt", {"lr": 0.1, "epochs": epochs}, "data-digest", epochs, seed=3,
                      batch_size=4, batch_key="line.batch_size", progress=False, **kw)


def test_a_resumed_run_ends_as_one_never_stopped(tmp_path):
    straight = Line()
    history = engine.train(_run(tmp_path / "a", 3), straight, Points())
    assert [h["epoch"] for h in history] == [1, 2, 3] and straight.steps == list(range(9))  # the run's step clock
    assert list(history[0]) == ["epoch", "lr", "seconds", "images_per_s", "loss"]

    first = Line()
    engine.train(_run(tmp_path / "b", 2), first, Points())
    resumed = Line()
    again = engine.train(_run(tmp_path / "b", 3), resumed, Points())  # `epochs` is free: it continues
    assert resumed.steps == [6, 7, 8]
    assert [h["loss"] for h in again] == [h["loss"] for h in history]
    for a, b in zip(straight.net.state_dict().values(), resumed.net.state_dict().values()):
        assert torch.equal(a, b)
    state = checksummed.load(tmp_path / "b" / "checkpoint.pt")
    assert state["settings"]["code"] == source.fingerprint() and state["data"] == "data-digest"


def test_other_code_settings_or_data_train_from_scratch(tmp_path, monkeypatch, capsys):
    engine.train(_run(tmp_path, 1), Line(), Points())
    capsys.readouterr()
    run = _run(tmp_path, 2)
    engine.train(dataclasses.replace(run, progress=True), Line(), Points())
    assert "resuming after epoch 1" in capsys.readouterr().out
    for changed, why in [(dataclasses.replace(run, data="other"), "made from other data"),
                         (dataclasses.replace(run, settings={"lr": 0.2}), "made with other settings")]:
        engine.train(dataclasses.replace(changed, epochs=3), Line(), Points())
        assert f"{why}; training from scratch" in capsys.readouterr().out
    engine.train(_run(tmp_path / "c", 1), Line(), Points())
    monkeypatch.setattr(source, "fingerprint", lambda: "other code")
    engine.train(_run(tmp_path / "c", 2), Line(), Points())
    assert "made with other settings; training from scratch" in capsys.readouterr().out


def test_a_finished_run_is_reused_only_where_allowed(tmp_path, capsys):
    engine.train(_run(tmp_path, 1, finished_ok=True), Line(), Points())
    capsys.readouterr()
    job = Line()
    engine.train(_run(tmp_path, 1, finished_ok=True), job, Points())
    assert job.steps == [] and "writing its outputs again without training" in capsys.readouterr().out
    job = Line()
    engine.train(_run(tmp_path, 1), job, Points())  # not allowed: it trains again
    assert len(job.steps) == 3 and "the run it holds is finished" in capsys.readouterr().out


def test_a_non_finite_loss_stops_and_keeps_the_last_checkpoint(tmp_path):
    engine.train(_run(tmp_path, 1), Line(), Points())
    with pytest.raises(T2IGANError, match=r"loss loss is not finite in epoch 2 \(by step 2\).*after epoch 1.*kept at"):
        engine.train(_run(tmp_path, 3), Line(fail_at=4), Points())
    assert len(checksummed.load(tmp_path / "checkpoint.pt")["history"]) == 1


def test_a_batch_larger_than_the_data_is_named(tmp_path):
    with pytest.raises(T2IGANError, match=r"line.batch_size = 16 is larger than the training set \(12 items\)"):
        engine.train(dataclasses.replace(_run(tmp_path, 1), batch_size=16), Line(), Points())


def test_the_evaluator_refuses_a_checkpoint_from_other_code(tiny, monkeypatch, capsys):
    prepared, _, tmp = tiny
    s = settings.evaluator(holdout=0.1)
    evaluator.train(prepared, tmp / "ev", s, progress=False)
    monkeypatch.setattr(source, "fingerprint", lambda: "other code")
    capsys.readouterr()
    evaluator.train(prepared, tmp / "ev", dataclasses.replace(s, epochs=2), progress=False)
    assert "made with other settings; training from scratch" in capsys.readouterr().out


def test_the_loop_exists_once():
    """Reseeding, data order, the resume rule and resumable checkpoints are called from the engine only."""
    owned = {"epoch_seed", "epoch_order", "why_not_resume", "DataLoader"}
    found = {}
    for path in sorted((SRC / "train").glob("*.py")):
        tree = ast.parse(path.read_text())
        calls = {n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", None)
                 for n in ast.walk(tree) if isinstance(n, ast.Call)}
        saves = any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "save"
                    and getattr(n.func.value, "id", None) == "checksummed" for n in ast.walk(tree))
        if calls & owned or saves:
            found[path.name] = sorted(calls & owned) + (["checksummed.save"] if saves else [])
    # beside the engine: checkpoint.py's save of final models (no previous kept), order.py's epoch_order
    # seeding itself, and the DAMSM's evaluation passes (validation loss, R-precision codes), which train nothing
    assert found == {"engine.py": ["DataLoader", "epoch_order", "epoch_seed", "why_not_resume", "checksummed.save"],
                     "checkpoint.py": ["checksummed.save"], "order.py": ["epoch_seed"], "damsm.py": ["DataLoader"]}
