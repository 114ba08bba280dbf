"""Training the evaluator classifier (stage ``train_evaluator``) on real images of all species.

The generated images show the 50 *test* species, so the evaluator must know every species:
it trains on all of them, holding out a seeded ``holdout`` share of each species' images
to measure its accuracy (species top-1, and attribute reading on the held-out images'
own captions: the ceiling for generated images).  Checkpointed every epoch; resumable.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from t2igan.data import cub
from t2igan.data.dataset import centre_crops, crop, to_branches
from t2igan.data.preprocess import Prepared
from t2igan.errors import T2IGANError
from t2igan.models.evaluator import Evaluator, attribute_accuracy, attribute_groups
from t2igan.train import checkpoint, engine, guard, updates


class EvaluatorError(T2IGANError):
    pass


@dataclass(frozen=True)
class EvaluatorSettings:
    """Everything that decides the trained evaluator (params.yaml `evaluator` and the scale).
    No field has a default: params.yaml is the one place a value is set, read through ``from_params``
    (tests build theirs the same way: tests/settings.py)."""

    epochs: int
    batch_size: int
    image_size: int
    seed: int
    width: int
    lr: float
    holdout: float
    steps_per_epoch: int | None  # at most this many batches an epoch (the smoke preset); None: all
    workers: int

    @classmethod
    def from_params(cls, p) -> EvaluatorSettings:
        e, sc = p.evaluator, p.scale
        return cls(epochs=sc.evaluator_epochs, batch_size=sc.evaluator_batch_size, image_size=sc.image_size,
                   seed=p.seed, width=e.width, lr=e.lr, holdout=e.holdout, steps_per_epoch=sc.steps_per_epoch,
                   workers=p.runtime.loader_workers)


def holdout_mask(class_ids: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """True for the held-out images: a seeded ``fraction`` of each class, at least one."""
    rng = np.random.default_rng([seed, 11])
    held = np.zeros(len(class_ids), bool)
    for c in np.unique(class_ids):
        members = np.flatnonzero(class_ids == c)
        k = max(1, round(fraction * len(members)))
        held[rng.choice(members, size=min(k, len(members) - 1) if len(members) > 1 else 0, replace=False)] = True
    return held


class CropDataset(Dataset):
    """Prepared crops of ``rows``: random crop and flip (seeded by seed, epoch, item) or the centre."""

    def __init__(self, prepared: Prepared, rows: np.ndarray, size: int, train: bool, seed: int):
        self.data, self.rows, self.size, self.train, self.seed = prepared, rows, size, train, seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.rows)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, item: int):
        row = int(self.rows[item])
        rng = np.random.default_rng([self.seed, self.epoch, item]) if self.train else None
        return crop(self.data.images[row], self.size, rng), row


def _loss(model, images, rows, prepared):
    _, species, attrs = model(to_branches(images, [images.shape[-1]])[-1])
    target = torch.from_numpy(prepared.index["class_ids"][rows.numpy()].astype(np.int64) - 1)  # CUB ids are 1-based
    labels = torch.from_numpy(prepared.index["attributes"][rows.numpy()].astype(np.float32))
    target, labels = target.to(species.device), labels.to(species.device)
    return F.cross_entropy(species, target) + F.binary_cross_entropy_with_logits(attrs, labels)


def train(prepared: Prepared, out_dir: str | Path, s: EvaluatorSettings, *, progress: bool = True,
          device="cpu") -> Evaluator:
    """``_train`` with one trainer per folder and none outliving its launcher (``guard``).  Only a
    CPU run is bit-reproducible; the model comes back on ``device``."""
    with guard.training(out_dir):
        return _train(prepared, out_dir, s, progress=progress, device=torch.device(device))


class _EvaluatorJob(engine.Job):
    name = "evaluator"

    def __init__(self, model: Evaluator, phase: updates.Phase, prepared: Prepared, device: torch.device):
        self.model, self.phase, self.prepared, self.device = model, phase, prepared, device
        self.opt = phase.optimizer

    def modules(self) -> list[torch.nn.Module]:
        return [self.model]

    def state(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.opt.state_dict()}

    def load_state(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])  # moved to the parameters' device by the optimizer

    def step(self, batch, step: int) -> dict:
        images, rows = batch
        loss = _loss(self.model, images.to(self.device), rows, self.prepared)
        self.phase.update(loss)
        return {"loss": loss.item()}


def _train(prepared: Prepared, out_dir: str | Path, s: EvaluatorSettings, *, progress: bool,
           device: torch.device) -> Evaluator:
    out_dir = Path(out_dir)
    torch.manual_seed(s.seed)
    model = Evaluator(len(prepared.meta["class_names"]), len(prepared.meta["attribute_names"]), s.width)
    updates.place([model], device, "fp32")  # before the optimizer, whose state then lives there too
    phase = updates.Phase("evaluator", torch.optim.Adam(model.parameters(), lr=s.lr))
    rows = np.flatnonzero(~holdout_mask(prepared.index["class_ids"], s.holdout, s.seed))
    if len(rows) < s.batch_size:  # every batch is full (drop_last): there would be none
        raise EvaluatorError(f"{prepared.root}: {len(rows)} images to train the evaluator on (of "
                             f"{len(prepared.index['class_ids'])}, holding out evaluator.holdout = {s.holdout} of each "
                             f"species, at least one), fewer than one batch "
                             f"(the scale's evaluator_batch_size = {s.batch_size})")
    data = CropDataset(prepared, rows, s.image_size, train=True, seed=s.seed)
    run = engine.Run(out_dir / "checkpoint.pt", asdict(s), prepared.fingerprint(), s.epochs, s.seed, s.batch_size,
                     "the scale's evaluator_batch_size", s.steps_per_epoch, s.workers, ("epochs", "workers"),
                     device=device, progress=progress, error=EvaluatorError)
    engine.train(run, _EvaluatorJob(model, phase, prepared, device), data)
    checkpoint.save(out_dir / "evaluator.pt", {"state": model.state_dict(), "settings": asdict(s),
                                               "n_classes": model.species.out_features,
                                               "n_attributes": model.attributes.out_features})
    return model.eval()


@torch.no_grad()
def predict(model: Evaluator, images: np.ndarray, batch_size: int = 256) -> dict[str, np.ndarray]:
    """uint8 [N, s, s, 3] -> features, species logits, attribute logits (numpy)."""
    model.eval()
    out: dict[str, list] = {"features": [], "species": [], "attributes": []}
    for start in range(0, len(images), batch_size):
        x = torch.from_numpy(np.array(images[start:start + batch_size])).permute(0, 3, 1, 2)  # writable copy
        x = x.to(next(model.parameters()).device)
        for key, value in zip(out, model(to_branches(x, [x.shape[-1]])[-1])):
            out[key].append(value.float().cpu().numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def held_out_accuracy(model: Evaluator, prepared: Prepared, s: EvaluatorSettings) -> dict:
    """Species top-1 and attribute reading (each held-out image against its 10 captions)."""
    rows = np.flatnonzero(holdout_mask(prepared.index["class_ids"], s.holdout, s.seed))
    pred = predict(model, centre_crops(prepared, rows, s.image_size))
    species = float((pred["species"].argmax(1) + 1 == prepared.index["class_ids"][rows]).mean())
    groups = attribute_groups(prepared.meta["attribute_names"])
    caption_rows = (rows[:, None] * cub.N_CAPTIONS + np.arange(cub.N_CAPTIONS)).ravel()
    named = [prepared.caption_attributes(int(r)).astype(np.int64) - 1 for r in caption_rows]
    attrs = attribute_accuracy(np.repeat(pred["attributes"], cub.N_CAPTIONS, axis=0), named, groups)
    return {"species_accuracy": species, "attribute_accuracy": attrs["accuracy"],
            "attribute_pairs": attrs["pairs"], "held_out_images": int(len(rows))}
