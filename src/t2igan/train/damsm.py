"""Pretraining the DAMSM text and image encoders (stage ``pretrain_damsm``, and ``evaluator_damsm``).

Trained by the one training loop (``t2igan.train.engine``): a checkpoint after every epoch with the
encoders, the optimiser, the history and the code's digest; everything random in an epoch (data
order, crops, caption choice, dropout) seeded by (seed, epoch), so a run killed anywhere and resumed
ends with bit-identical weights on CPU.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from t2igan import weights
from t2igan.data.dataset import TextImageDataset, collate, to_branches
from t2igan.data.preprocess import Prepared
from t2igan.errors import T2IGANError
from t2igan.losses.damsm import damsm_loss
from t2igan.metrics.r_precision import oracle_r_precision, r_precision
from t2igan.models.damsm import ImageEncoder, TextEncoder
from t2igan.train import checkpoint, checksummed, engine, guard, updates
from t2igan.train.device import pick_device

LOSS_TERMS = ("w0", "w1", "s0", "s1")


class TrainingError(T2IGANError):
    pass


@dataclass(frozen=True)
class DamsmSettings:
    """Everything that decides the trained encoders (params.yaml `damsm` + the scale preset).
    No field has a default: params.yaml is the one place a value is set, read through ``from_params``
    (tests build theirs the same way: tests/settings.py)."""

    backbone: str
    epochs: int
    batch_size: int
    image_size: int
    max_words: int
    seed: int
    lr: float
    lr_decay: float
    lr_min: float
    beta1: float
    beta2: float
    clip_rnn: float
    gamma1: float
    gamma2: float
    gamma3: float
    embedding: int
    cnn_width: int
    cnn_input: int | None  # side the cnn backbone sees (None: image_size)
    dropout: float  # on the word embeddings
    inception_weights: str | None  # the ImageNet Inception-v3 file (stage fetch_weights places it)
    inception_sha256: str | None  # its checksum when not the pinned one (test-only random weights)
    steps_per_epoch: int | None  # at most this many batches an epoch (the smoke preset); None: all
    workers: int

    @classmethod
    def from_params(cls, p, *, evaluator: bool = False) -> "DamsmSettings":
        """The settings of stage pretrain_damsm (or, with ``evaluator``, of its twin evaluator_damsm)."""
        d, sc = p.damsm, p.scale
        return cls(
            backbone=sc.damsm_backbone, epochs=sc.damsm_epochs, batch_size=sc.damsm_batch_size,
            image_size=sc.image_size, max_words=p.preprocess.max_words,
            seed=p.seed + (d.evaluator_seed_offset if evaluator else 0),
            lr=d.lr, lr_decay=d.lr_decay, lr_min=d.lr_min, beta1=d.beta1, beta2=d.beta2, clip_rnn=d.clip_rnn,
            gamma1=d.gamma1, gamma2=d.gamma2, gamma3=d.gamma3, embedding=d.embedding, cnn_width=d.cnn_width,
            workers=p.runtime.loader_workers, cnn_input=sc.damsm_input, **_inception(p),
            dropout=sc.damsm_dropout, steps_per_epoch=sc.steps_per_epoch)


def _inception(p) -> dict:
    """The backbone's weights file for an inception_v3 DAMSM: where fetch_weights put it, and its
    checksum when it is a test-only random file (else the pinned one is checked)."""
    if p.scale.damsm_backbone != "inception_v3":
        return {"inception_weights": None, "inception_sha256": None}
    path, digest, random = weights.located(p.weights.dir, weights.IMAGENET_INCEPTION)
    return {"inception_weights": str(path), "inception_sha256": digest if random else None}


def build_encoders(s: DamsmSettings, vocab_size: int, pretrained: bool = True) -> tuple[TextEncoder, ImageEncoder]:
    torch.manual_seed(s.seed)
    text = TextEncoder(vocab_size, embedding=s.embedding, dropout=s.dropout)
    image = ImageEncoder(s.backbone, weights_path=s.inception_weights, weights_sha256=s.inception_sha256,
                         pretrained=pretrained, cnn_width=s.cnn_width,
                         cnn_input=s.cnn_input)
    return text, image


def learning_rate(s: DamsmSettings, epoch: int) -> float:
    """AttnGAN's schedule, multiplication for multiplication: after each epoch, lr *= lr_decay while lr >
    lr_min, so it ends at the first value at or below lr_min (2e-3 -> 1.999e-4 after 114 decays, not
    2e-4).  Set on one optimiser, never re-created."""
    lr = s.lr
    for _ in range(epoch):
        if lr <= s.lr_min:
            break
        lr *= s.lr_decay
    return lr


def _device_of(module: torch.nn.Module) -> torch.device:
    return next(module.parameters()).device


def _epoch_loss(text, image, batch, s: DamsmSettings) -> dict[str, torch.Tensor]:
    dev = _device_of(text)
    lengths = batch["lengths"].to(dev)
    words, sentence = text(batch["captions"].to(dev), lengths)
    regions, code = image(to_branches(batch["images"].to(dev, non_blocking=True), [s.image_size])[-1])
    return damsm_loss(words, sentence, regions, code, lengths, batch["class_ids"].to(dev),
                      gamma1=s.gamma1, gamma2=s.gamma2, gamma3=s.gamma3)


def train(prepared: Prepared, out_dir: str | Path, s: DamsmSettings, **kwargs) -> list[dict]:
    """``_train`` with one trainer per folder and none outliving its launcher (``guard``)."""
    with guard.training(out_dir):
        return _train(prepared, out_dir, s, **kwargs)


class _DamsmJob(engine.Job):
    """The two encoders in the shared loop: AttnGAN's lr schedule, the RNN's gradient clip, the validation loss."""

    name = "damsm"

    def __init__(self, text: TextEncoder, image: ImageEncoder, phase: updates.Phase, val_set, s: DamsmSettings, live):
        self.text, self.image, self.phase, self.val_set, self.s, self.live = text, image, phase, val_set, s, live
        self.opt = phase.optimizer

    def modules(self) -> list[torch.nn.Module]:
        return [self.text, self.image]

    def state(self) -> dict:
        return {"text": self.text.state_dict(), "image": self.image.state_dict(), "optimizer": self.opt.state_dict()}

    def load_state(self, state: dict) -> None:
        self.text.load_state_dict(state["text"])
        self.image.load_state_dict(state["image"])
        self.opt.load_state_dict(state["optimizer"])  # moves its state to the parameters' device

    def begin_epoch(self, epoch: int) -> dict:
        lr = learning_rate(self.s, epoch)
        for group in self.opt.param_groups:
            group["lr"] = lr
        return {"lr": lr}

    def step(self, batch, step: int) -> dict:
        losses = _epoch_loss(self.text, self.image, batch, self.s)
        self.phase.update(losses["total"])
        return {f"train_{k}": losses[k].item() for k in LOSS_TERMS}

    def end_epoch(self, epoch: int) -> dict:
        return {f"val_{k}": v for k, v in evaluate_loss(self.text, self.image, self.val_set, self.s).items()}

    def epoch_done(self, history: list[dict]) -> None:
        if self.live is not None:
            self.live(history)

    def summary(self, h: dict) -> str:
        return (f"train w {h['train_w0'] + h['train_w1']:.3f} s {h['train_s0'] + h['train_s1']:.3f} | "
                f"val w {h['val_w0'] + h['val_w1']:.3f} s {h['val_s0'] + h['val_s1']:.3f} | {h['seconds']} s")


def _train(prepared: Prepared, out_dir: str | Path, s: DamsmSettings, *, device: str = "cpu", live=None,
          progress: bool = True) -> list[dict]:
    """Train (or resume) into ``out_dir``; returns the per-epoch history.

    ``device`` (cpu | cuda | auto) is not part of the settings: a run may resume on another
    device (only CPU runs are bit-reproducible).  ``live`` is an optional callback
    ``live(history)`` called after every checkpoint.
    """
    dev = pick_device(device)
    text, image = build_encoders(s, len(prepared.vocab))
    updates.place((text, image), dev, "fp32")
    params = [p for p in list(text.parameters()) + list(image.parameters()) if p.requires_grad]
    # AttnGAN clips the RNN's gradient norm only
    phase = updates.Phase("damsm", torch.optim.Adam(params, lr=s.lr, betas=(s.beta1, s.beta2)), clip=s.clip_rnn,
                          clip_params=text.parameters())
    train_set = TextImageDataset(prepared, "train", image_size=s.image_size, branches=1, max_words=s.max_words,
                                 seed=s.seed)
    val_set = TextImageDataset(prepared, "test", image_size=s.image_size, branches=1, max_words=s.max_words,
                               seed=s.seed + 7919)  # one fixed random caption and crop per test image
    run = engine.Run(Path(out_dir) / "checkpoint.pt", asdict(s), prepared.fingerprint(), s.epochs, s.seed,
                     s.batch_size, "the scale's damsm_batch_size", s.steps_per_epoch, s.workers, device=dev,
                     progress=progress, error=TrainingError)
    return engine.train(run, _DamsmJob(text, image, phase, val_set, s, live), train_set, collate)


@torch.no_grad()
def evaluate_loss(text, image, dataset, s: DamsmSettings) -> dict[str, float]:
    text.eval()
    image.eval()
    # a fixed shuffle: the split is stored class by class, and a batch of one or two species
    # would make the (class-masked) loss measure something else than the training loss does
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(s.seed + 7919)).tolist()
    loader = DataLoader(dataset, batch_size=s.batch_size, sampler=order, drop_last=True, collate_fn=collate,
                        num_workers=s.workers)
    sums, n = dict.fromkeys(LOSS_TERMS, 0.0), 0
    for batch in loader:
        losses = _epoch_loss(text, image, batch, s)
        for k in LOSS_TERMS:
            sums[k] += float(losses[k])
        n += 1
    return {k: v / max(n, 1) for k, v in sums.items()}


@torch.no_grad()
def encode_split(text, image, prepared: Prepared, split: str, s: DamsmSettings, batch_size: int = 128):
    """Codes of every image (centre crop) and of every caption (10 per image) of a split."""
    text.eval()
    image.eval()
    dev = _device_of(text)
    ds = TextImageDataset(prepared, split, image_size=s.image_size, branches=1, max_words=s.max_words,
                          train=False, seed=s.seed)
    image_codes, sentence_codes = [], []
    loader = DataLoader(ds, batch_size=batch_size, collate_fn=collate, num_workers=s.workers)
    for batch in loader:
        _, sent = text(batch["captions"].to(dev), batch["lengths"].to(dev))
        sentence_codes.append(sent.cpu())
        first = (batch["caption_rows"] % 10) == 0  # one image pass per image, at its caption 0
        if first.any():
            image_codes.append(image(to_branches(batch["images"][first].to(dev), [s.image_size])[-1])[1].cpu())
    rows = prepared.split_indices(split)
    return torch.cat(image_codes), torch.cat(sentence_codes), prepared.index["class_ids"][rows]


def real_r_precision(text, image, prepared: Prepared, s: DamsmSettings, *, candidates: int = 100,
                     folds: int = 10, seed: int = 0) -> dict:
    """R-precision of real test images with their own captions, and with shuffled captions (chance)."""
    image_codes, sentence_codes, classes = encode_split(text, image, prepared, "test", s)
    n_img = len(image_codes)
    per_caption_image = image_codes.repeat_interleave(10, dim=0)
    caption_class = np.repeat(classes, 10)
    real = r_precision(per_caption_image, sentence_codes, caption_class, sentence_codes, caption_class,
                       candidates=candidates, folds=folds, seed=seed)
    perm = np.random.default_rng([seed, 1]).permutation(len(sentence_codes))
    shuffled = r_precision(per_caption_image, sentence_codes[perm], caption_class, sentence_codes, caption_class,
                           candidates=candidates, folds=folds, seed=seed)
    return {"real": real.as_dict(), "shuffled": shuffled.as_dict(), "images": n_img}


def caption_ceiling(prepared: Prepared, *, candidates: int = 100, folds: int = 10, seed: int = 0) -> dict | None:
    """Oracle R-precision of the test captions (see ``oracle_r_precision``); None without caption attribute ids."""
    rows = prepared.split_indices("test")
    caption_rows = (rows[:, None] * 10 + np.arange(10)).ravel()
    named = [prepared.caption_attributes(int(r)).astype(np.int64) - 1 for r in caption_rows]
    if not any(len(n) for n in named):
        return None  # CUB as downloaded: no caption_attributes.txt
    images = np.repeat(rows, 10)
    return oracle_r_precision(prepared.index["attributes"][images].astype(bool), prepared.index["class_ids"][images],
                              named, candidates=candidates, folds=folds, seed=seed)


def export(out_dir: str | Path, s: DamsmSettings, vocab_size: int) -> tuple[TextEncoder, ImageEncoder]:
    """Load the final checkpoint and write the two encoders as separate files for later stages."""
    out_dir = Path(out_dir)
    state = checksummed.load(out_dir / "checkpoint.pt")
    text, image = build_encoders(s, vocab_size)
    text.load_state_dict(state["text"])
    image.load_state_dict(state["image"])
    meta = {"settings": asdict(s), "vocab_size": vocab_size}
    checkpoint.save(out_dir / "text_encoder.pt", {"state": text.state_dict(), **meta})
    checkpoint.save(out_dir / "image_encoder.pt", {"state": image.state_dict(), **meta})
    return text.eval(), image.eval()


def load_encoders(model_dir: str | Path) -> tuple[TextEncoder, ImageEncoder, DamsmSettings]:
    """The exported encoders of a DAMSM stage, in eval mode (as ``export`` wrote them)."""
    model_dir = Path(model_dir)
    text_state = checkpoint.load(model_dir / "text_encoder.pt")
    image_state = checkpoint.load(model_dir / "image_encoder.pt")
    if text_state is None or image_state is None:
        raise T2IGANError(f"{model_dir}: no DAMSM encoders here (text_encoder.pt, image_encoder.pt); "
                          "run `dvc repro pretrain_damsm`")
    s = DamsmSettings(**text_state["settings"])
    text, image = build_encoders(s, text_state["vocab_size"], pretrained=False)
    text.load_state_dict(text_state["state"])
    image.load_state_dict(image_state["state"])
    return text.eval(), image.eval(), s
