"""The baselines' training (stage ``train_baseline@<name>``) and their generation.

The loop is ``t2igan.train.engine``'s, as for the GANs (resume, reseeding, data order, the code
digest in the checkpoint); a family's optimiser phases (``t2igan.train.updates``) run on its step
clock, which counts batches from the start of the run, so a resumed run keeps the critic schedule.

There is no EMA here (none of the baselines' papers used one): the trained networks are sampled.
"""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from tqdm import tqdm

from t2igan import families, io
from t2igan.baselines.base import Baseline, BaselineSettings, RealBatch, resize, species_one_hot
from t2igan.data import cub
from t2igan.data.dataset import TextImageDataset, collate, to_branches
from t2igan.data.preprocess import Prepared
from t2igan.generate import encode_rows, generation_batch, grid_path, sample_rows, to_uint8
from t2igan.report.grids import labelled_sheet
from t2igan.train import checkpoint, engine, guard, updates
from t2igan.train.device import pick_device
from t2igan.train.gan import FrozenDamsm, TrainingError

FREE_SETTINGS = ("epochs", "device", "workers")


def make(s: BaselineSettings) -> Baseline:
    return families.load("baselines", s.model, s.name)(s)


def load_judge(family: Baseline, damsm_dir: str | Path | None, device: torch.device) -> FrozenDamsm | None:
    """The frozen DAMSM a sentence-conditioned family reads its captions with; None for the others."""
    if family.condition != "sentence":
        return None
    if damsm_dir is None:
        raise TrainingError(f"{family.s.name} is conditioned on sentences: give the pretrained DAMSM directory")
    return FrozenDamsm.load(damsm_dir, device)


def conditions(family: Baseline, captions: torch.Tensor, lengths: torch.Tensor, class_ids: torch.Tensor,
               damsm: FrozenDamsm | None) -> torch.Tensor | None:
    """The condition of each item: None, a species one-hot, or the DAMSM sentence code."""
    if family.condition == "species":
        return species_one_hot(class_ids)
    if family.condition == "sentence":
        return damsm.encode(captions, lengths)[1]
    return None


@torch.no_grad()
def row_conditions(family: Baseline, prepared: Prepared, rows: np.ndarray, *, seed: int, damsm: FrozenDamsm | None,
                   device: torch.device, batch_size: int = 500) -> torch.Tensor | None:
    """The condition of each caption row [N, cond_dim] on ``device`` (None when unconditional); a
    caption's words are chosen as everywhere else (the 18-word rule seeded by (seed, row))."""
    if family.condition == "none":
        return None
    class_ids = torch.from_numpy(prepared.index["class_ids"][rows // cub.N_CAPTIONS].astype(np.int64))
    if family.condition == "species":
        return species_one_hot(class_ids).to(device)
    captions, lengths = encode_rows(prepared, rows, family.s.max_words, seed)
    return torch.cat([conditions(family, captions[i:i + batch_size].to(device), lengths[i:i + batch_size],
                                 class_ids[i:i + batch_size], damsm) for i in range(0, len(rows), batch_size)])


def _batch(family: Baseline, raw: dict, damsm, device: torch.device) -> RealBatch:
    images = family.to_own_side(to_branches(raw["images"].to(device), [raw["images"].shape[-1]])[0])
    with torch.no_grad():
        cond = conditions(family, raw["captions"].to(device), raw["lengths"], raw["class_ids"].to(device), damsm)
    return RealBatch(images, cond)


def train(prepared: Prepared, out_dir: str | Path, s: BaselineSettings, **kwargs) -> list[dict]:
    """``_train`` with one trainer per folder and none outliving its launcher (``guard``)."""
    with guard.training(out_dir):
        return _train(prepared, out_dir, s, **kwargs)


class _BaselineJob(engine.Job):
    """A baseline family in the shared loop: its step (with its critic schedule), sample sheets, live metrics."""

    def __init__(self, family: Baseline, nets: nn.ModuleDict, phases: list[updates.Phase], damsm,
                 device: torch.device, prepared: Prepared, s: BaselineSettings, samples_dir, live):
        self.family, self.nets, self.phases, self.damsm, self.device = family, nets, phases, damsm, device
        self.prepared, self.s, self.samples_dir, self.live = prepared, s, samples_dir, live
        self.name = s.name

    def modules(self) -> list[nn.Module]:
        return [self.nets]

    def state(self) -> dict:
        return {"nets": self.nets.state_dict(), "opts": updates.optimiser_states(self.phases)}

    def load_state(self, state: dict) -> None:
        self.nets.load_state_dict(state["nets"])
        updates.load_optimiser_states(self.phases, state["opts"])

    def step(self, batch, step: int) -> dict:
        # ``step`` counts batches from the start of the run: the phases' clock (the critic schedule's)
        terms = self.family.step(self.nets, self.phases, _batch(self.family, batch, self.damsm, self.device), step)
        return {k: float(v) for k, v in terms.items()}

    def restored(self, history: list[dict]) -> None:
        # what DVC removed before this run and the checkpoint can give back (earlier grids persist)
        if self.samples_dir is not None and not grid_path(self.samples_dir, len(history)).exists():
            _sample_sheet(self.family, self.nets, self.prepared, self.samples_dir, len(history), self.damsm, self.s)
        if self.live is not None:
            self.live(history)

    def starting_over(self) -> None:
        if self.samples_dir is not None:  # the grids of an earlier run (they persist between `dvc repro`s)
            shutil.rmtree(self.samples_dir, ignore_errors=True)

    def epoch_done(self, history: list[dict]) -> None:
        if self.samples_dir is not None:
            _sample_sheet(self.family, self.nets, self.prepared, self.samples_dir, len(history), self.damsm, self.s)
        if self.live is not None:
            self.live(history)

    def summary(self, h: dict) -> str:
        terms = sorted(k for k in h if k not in ("epoch", "seconds", "images_per_s"))
        return " ".join(f"{k} {h[k]:.4g}" for k in terms) + f" | {h['images_per_s']} img/s"


def _train(prepared: Prepared, out_dir: str | Path, s: BaselineSettings, *, damsm_dir: str | Path | None = None,
          samples_dir: str | Path | None = None, live=None, progress: bool = True) -> list[dict]:
    """Train (or resume) baseline ``s`` into ``out_dir`` (checkpoint.pt, then generator.pt);
    returns the per-epoch history (mean of every loss term, seconds, images/s)."""
    out_dir = Path(out_dir)
    device = pick_device(s.device)
    family = make(s)
    damsm = load_judge(family, damsm_dir, device)
    torch.manual_seed(s.seed)
    nets = family.build()
    updates.place([nets], device, s.precision, nhwc=family.channels_last)
    phases = family.phases(nets)
    # the data digest covers the frozen judge: a finished run that matches is reused
    judge = [Path(damsm_dir) / "text_encoder.pt", Path(damsm_dir) / "image_encoder.pt"] if damsm is not None else []
    dataset = TextImageDataset(prepared, "train", image_size=s.data_size, branches=1, max_words=s.max_words,
                               seed=s.seed)
    run = engine.Run(out_dir / "checkpoint.pt", asdict(s), checkpoint.inputs_digest(prepared.fingerprint(), judge),
                     s.epochs, s.seed, family.o.batch_size, f"baselines.{s.name}.batch_size", s.steps_per_epoch,
                     s.workers, FREE_SETTINGS, finished_ok=True, device=device, progress=progress,
                     error=TrainingError)
    history = engine.train(run, _BaselineJob(family, nets, phases, damsm, device, prepared, s, samples_dir, live),
                           dataset, collate)
    save_model(out_dir / "generator.pt", nets, s, len(history))
    return history


def _sample_sheet(family: Baseline, nets: nn.ModuleDict, prepared: Prepared, samples_dir, epoch: int, damsm,
                  s: BaselineSettings) -> None:
    # in eval mode: in train mode BatchNorm would normalise with the sheet's batch and fold it into its
    # running statistics, so the saved generator would depend on whether sheets were drawn
    training = nets.training
    nets.eval()
    try:
        sample_sheet(family, nets, prepared, grid_path(samples_dir, epoch), damsm=damsm,
                     title=f"{s.name}, epoch {epoch}")
    finally:
        nets.train(training)


def sample_sheet(family: Baseline, nets: nn.ModuleDict, prepared: Prepared, path: str | Path, *, damsm=None,
                 n: int = 16, title: str = "") -> None:
    """A family's images for the fixed sample captions: with the caption (sentence-conditioned), the
    species (species-conditioned), or just the sample's number (unconditional)."""
    rows = sample_rows(prepared, n)
    images = generate(family, nets, prepared, rows, seed=family.s.seed, damsm=damsm, side=family.s.image_size)
    if family.condition == "sentence":
        labels = [prepared.decode(prepared.caption_ids(int(r))) for r in rows]
    elif family.condition == "species":
        labels = [f"species {prepared.index['class_ids'][int(r) // cub.N_CAPTIONS]}" for r in rows]
    else:
        labels = [f"{title} #{k}".strip() for k in range(len(rows))]
    labelled_sheet(list(images), labels, path, text_lines=5 if family.condition == "sentence" else 1)


def save_model(path: Path, nets: nn.ModuleDict, s: BaselineSettings, epoch: int) -> None:
    checkpoint.save(path, {"state": nets.state_dict(), "settings": asdict(s), "epoch": epoch})


def load_model(path: str | Path, device: torch.device) -> tuple[Baseline, nn.ModuleDict, int]:
    """A trained baseline written by ``train``: (its family, its networks in eval mode, its epoch)."""
    state = checkpoint.load(path)
    if state is None:
        raise TrainingError(f"{path}: no trained baseline here; run its train_baseline stage first")
    family = make(BaselineSettings(**state["settings"]))
    nets = checkpoint.built_from(family.build, state["state"])
    return family, nets.to(device).eval(), state["epoch"]


def untrained(family: Baseline, seed: int, device: torch.device) -> nn.ModuleDict:
    """A freshly initialised copy of the family's networks (the floor row of the scores)."""
    torch.manual_seed(seed)
    return family.build().to(device).eval()


@torch.no_grad()
def generate_batches(family: Baseline, nets: nn.ModuleDict, prepared: Prepared, rows: np.ndarray, *, seed: int,
                     damsm: FrozenDamsm | None = None, batch_size: int = 250, progress: bool = False,
                     noise: torch.Tensor | None = None, side: int | None = None) -> Iterator[np.ndarray]:
    """uint8 images [B, side, side, 3] a batch at a time, in order, one per caption row (the row gives a
    conditional family its species or caption; the others ignore it).  The noise of item i is
    drawn from (seed, 7) in one go, so a set is the same whatever the batch size; or give ``noise``.
    ``side``: by default the data's (``data_size``), where every model is scored; images the networks make
    smaller (the paper's 64 px baselines) are upsampled bilinearly to it."""
    device = next(nets.parameters()).device
    side = family.s.data_size if side is None else side
    batch_size = generation_batch(batch_size, side)
    if noise is None:
        noise = family.noise(len(rows), np.random.default_rng([seed, 7]))
    if len(noise) != len(rows):
        raise ValueError(f"{len(noise)} latents for {len(rows)} rows")
    cond = row_conditions(family, prepared, rows, seed=seed, damsm=damsm, device=device)
    for start in tqdm(range(0, len(rows), batch_size), desc="generate", disable=not progress, leave=False):
        sl = slice(start, start + batch_size)
        yield to_uint8(resize(family.sample(nets, noise[sl].to(device), None if cond is None else cond[sl]), side))


def generate(family: Baseline, nets: nn.ModuleDict, prepared: Prepared, rows: np.ndarray, *, seed: int,
             damsm: FrozenDamsm | None = None, batch_size: int = 250, progress: bool = False,
             noise: torch.Tensor | None = None, out: np.ndarray | None = None, side: int | None = None) -> np.ndarray:
    """``generate_batches`` gathered: uint8 images [N, side, side, 3] (into ``out`` if given)."""
    side = family.s.data_size if side is None else side
    if out is None:
        out = np.zeros((len(rows), side, side, 3), np.uint8)
    at = 0
    for images in generate_batches(family, nets, prepared, rows, seed=seed, damsm=damsm, batch_size=batch_size,
                                   progress=progress, noise=noise, side=side):
        out[at:at + len(images)] = images
        at += len(images)
    return out


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between latents a and b [..., D] at fractions t [K]: [K, ..., D].
    Gaussian latents live near a sphere; a straight line between two passes through its inside,
    where the prior has little mass (White 2016).  Falls back to a straight line for parallel ends."""
    fa, fb = a.flatten(), b.flatten()
    cos = torch.dot(fa, fb) / (fa.norm() * fb.norm())
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    t = t.to(a.dtype).view(-1, *([1] * a.dim()))
    if float(omega.sin().abs()) < 1e-6:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / omega.sin()


def interpolation(family: Baseline, nets: nn.ModuleDict, prepared: Prepared, rows: np.ndarray, *, steps: int,
                  seed: int, damsm: FrozenDamsm | None = None) -> np.ndarray:
    """For each caption row (its condition held fixed), ``steps`` images along the slerp between two
    prior draws: uint8 [len(rows), steps, s, s, 3]."""
    rng = np.random.default_rng([seed, 13])
    ends = family.noise(2 * len(rows), rng)
    t = torch.linspace(0, 1, steps)
    paths = torch.stack([slerp(ends[2 * k], ends[2 * k + 1], t) for k in range(len(rows))])  # [R, K, ...]
    flat = paths.flatten(0, 1)
    images = generate(family, nets, prepared, np.repeat(rows, steps), seed=seed, damsm=damsm, noise=flat,
                      side=family.s.image_size)
    return images.reshape(len(rows), steps, *images.shape[1:])


def write_set(path: str | Path, family: Baseline, nets: nn.ModuleDict, prepared: Prepared, rows: np.ndarray, *,
              seed: int, damsm: FrozenDamsm | None, meta: dict, batch_size: int = 250) -> None:
    """The family's images for caption ``rows`` as a generated set (``io.write_image_set``)."""
    io.write_image_set(path, rows, family.s.data_size, meta, lambda images: generate(
        family, nets, prepared, rows, seed=seed, damsm=damsm, batch_size=batch_size, progress=True, out=images))
