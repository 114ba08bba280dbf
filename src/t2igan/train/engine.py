"""The one training loop: GAN variants, baselines, both DAMSMs and the evaluator all run through
``train`` (the idea of stylegan2-ada-pytorch's ``training_loop``: the loop is shared, each trainer
brings its steps).

The loop owns what every trainer must do alike, so it is written once:

- **Resume.** After every epoch a checksummed checkpoint (the previous one kept beside it) holds the
  settings, a digest of the inputs, the package's source digest (``t2igan.source``), the history and
  the trainer's state.  A run resumes only from a checkpoint with the same settings, inputs and code;
  a finished one is reused where the trainer allows it (its stage then writes its outputs again
  without training, e.g. after DVC deleted them for a failed run).
- **Randomness and data order.** Each epoch reseeds torch from (seed, epoch), draws its order from a
  generator seeded the same way (``order.epoch_order``) and tells the dataset its epoch, whose items
  seed their crops and captions from (seed, epoch, item).  So a run killed anywhere and resumed
  from its last checkpoint ends bit-identical to one never stopped, on CPU.
- **The step counter** (batches since the start of the run) that critic schedules and the EMA's
  warm-up read; several data-parallel processes (each its slice of every global batch).
- **The NaN guard** (a non-finite logged term stops the run, naming the epoch and the checkpoint kept),
  the crash tests' fault injection, the progress bar, and the history row of each epoch: the mean of
  every logged term, seconds and images per second.

A ``Job`` brings the rest: its modules, its state, one step on a collated batch, and hooks around
epochs and checkpoints (sample grids, snapshots, DVCLive, the learning-rate schedule, validation).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from t2igan import distributed, faults, source
from t2igan.distributed import World
from t2igan.errors import T2IGANError
from t2igan.train import checkpoint, checksummed
from t2igan.train.order import epoch_order, epoch_seed


class Job:
    """What one trainer brings to the loop.  ``step`` gets a collated batch and the number of batches
    trained before it in the whole run, does its updates, and returns the terms to log (tensors or
    floats; their per-epoch means go into the history)."""

    name = "training"  # progress bars and messages

    def modules(self) -> list[nn.Module]:
        """The modules put in train mode at the start of every epoch."""
        raise NotImplementedError

    def replicas(self) -> list[nn.Module]:
        """The modules every data-parallel process must hold identically (compared as it trains)."""
        return self.modules()

    def state(self) -> dict:
        """What the checkpoint keeps of the trainer (weights, optimisers, EMA ...)."""
        raise NotImplementedError

    def load_state(self, state: dict) -> None:
        raise NotImplementedError

    def step(self, batch, step: int) -> dict:
        raise NotImplementedError

    def begin_epoch(self, epoch: int) -> dict:
        """Called before an epoch's first step (0-based ``epoch``); what it returns is logged."""
        return {}

    def end_epoch(self, epoch: int) -> dict:
        """Called after an epoch's last step; what it returns is logged after the terms."""
        return {}

    def why_not_resume(self, state: dict) -> str | None:
        """A reason beyond settings, inputs and code not to resume from ``state`` (None: resume)."""
        return None

    def resume_note(self, state: dict) -> str:
        return ""

    def restored(self, history: list[dict]) -> None:
        """Resuming (main process): write again what DVC removed and the checkpoint can give back."""

    def starting_over(self) -> None:
        """No checkpoint to resume (main process): remove what an earlier run left that is not this one's."""

    def epoch_done(self, history: list[dict]) -> None:
        """After each epoch's checkpoint (main process): snapshots, sample grids, live metrics."""

    def summary(self, row: dict) -> str:
        """The line printed after each epoch."""
        return " ".join(f"{k} {v:.4g}" for k, v in row.items() if k not in ("epoch", "seconds", "images_per_s")
                        and isinstance(v, float)) + f" | {row['images_per_s']} img/s"


@dataclass
class Run:
    """Where and how long a job trains, and what decides its result."""

    checkpoint: Path
    settings: dict                     # what decides the result (the code's digest is added)
    data: str                          # a digest of the inputs (prepared data, frozen encoders ...)
    epochs: int
    seed: int
    batch_size: int                    # the global batch, over every process
    batch_key: str                     # the param that sets it, for the error message
    steps_per_epoch: int | None = None
    workers: int = 0                   # DataLoader processes
    free: tuple[str, ...] = ("epochs",)  # settings that may differ from the checkpoint's
    finished_ok: bool = False          # a finished run with the same settings, inputs and code is reused
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    world: World = distributed.ONE
    progress: bool = True
    error: type[Exception] = T2IGANError


def train(run: Run, job: Job, dataset, collate=None) -> list[dict]:
    """Train (or resume) ``job`` on ``dataset`` for ``run.epochs`` epochs; returns the history (a row per
    epoch).  ``dataset`` has ``set_epoch(epoch)``; ``collate`` is the DataLoader's."""
    world, path = run.world, Path(run.checkpoint)
    settings = {**run.settings, "code": source.fingerprint()}
    state = checksummed.load(path)  # every rank reads it; only rank 0 ever writes it
    reason = checkpoint.why_not_resume(state, settings, run.data, run.epochs, run.free, run.finished_ok)
    if not reason and state is not None:
        reason = job.why_not_resume(state)
    history: list[dict] = []
    if reason:
        if world.main:
            print(f"{path}: {reason}; training from scratch", flush=True)
        state = None
    if state is not None:
        job.load_state(state)
        history = state["history"]
        if world.main:
            done = len(history)
            print(f"{path}: " + ("the run it holds is finished (same code, settings and inputs): writing its "
                                 "outputs again without training" if done == run.epochs else
                                 f"resuming after epoch {done}") + job.resume_note(state), flush=True)
            job.restored(history)
    elif world.main:
        job.starting_over()
    if len(dataset) < run.batch_size:
        raise run.error(f"{run.batch_key} = {run.batch_size} is larger than the training set "
                        f"({len(dataset)} items)")

    local_batch = world.local_batch(run.batch_size)
    progress = run.progress and world.main
    sync_check = 1 if run.device.type == "cpu" else 100  # comparing ranks' weights costs a host sync
    steps = checked = 0  # in this process: for fault injection, and the ranks' comparisons
    for epoch in range(len(history), run.epochs):
        t0 = time.perf_counter()
        torch.manual_seed(epoch_seed(run.seed, epoch))
        dataset.set_epoch(epoch)
        order = epoch_order(len(dataset), run.seed, epoch, run.batch_size, run.steps_per_epoch)
        loader = DataLoader(dataset, batch_size=local_batch, sampler=world.part(order, run.batch_size),
                            drop_last=True, collate_fn=collate, num_workers=run.workers,
                            pin_memory=run.device.type == "cuda")
        for module in job.modules():
            module.train()
        before = job.begin_epoch(epoch)
        sums: dict = {}
        counts: dict[str, int] = {}
        n = 0
        bar = tqdm(loader, desc=f"{job.name} epoch {epoch + 1}/{run.epochs}", disable=not progress, leave=False)
        for batch in bar:
            for k, v in job.step(batch, epoch * len(loader) + n).items():
                sums[k] = sums.get(k, 0.0) + v
                counts[k] = counts.get(k, 0) + 1
            n += 1
            steps += 1
            if n % 10 == 0 or run.device.type == "cpu":  # reading a GPU tensor is a host sync
                _check_finite(sums, epoch, n, path, run.error)
                bar.set_postfix({k: f"{float(sums[k]) / counts[k]:.3f}" for k in list(sums)[:3]})
            if world.size > 1 and n % sync_check == 0:
                world.check_in_sync(f"epoch {epoch + 1}, step {n}", *job.replicas())
                checked += 1
            faults.step(steps)
        sums = world.mean(sums)
        _check_finite(sums, epoch, n, path, run.error)
        seconds = time.perf_counter() - t0
        history.append({"epoch": epoch + 1, **before, "seconds": round(seconds, 2),
                        "images_per_s": round(n * run.batch_size / seconds, 2),
                        **{k: float(v) / counts[k] for k, v in sums.items()}, **job.end_epoch(epoch)})
        if world.size > 1 and progress:
            print(f"{world.size} processes: weights compared identical after {checked} steps so far", flush=True)
        if not world.main:
            continue
        checksummed.save(path, {"settings": settings, "data": run.data, "history": history,
                                "processes": world.size, **job.state()})
        job.epoch_done(history)
        if progress:
            print(f"epoch {epoch + 1}: {job.summary(history[-1])}", flush=True)
    return history


def _check_finite(sums: dict, epoch: int, step: int, path: Path, error: type[Exception]) -> None:
    bad = [k for k, v in sums.items() if not math.isfinite(float(v))]
    if bad:
        last = f"after epoch {epoch}" if epoch > 0 else "none: this was the first epoch"
        raise error(f"loss {', '.join(bad)} is not finite in epoch {epoch + 1} (by step {step}); stopped. "
                    f"The last good checkpoint ({last}) is kept at {path}")
