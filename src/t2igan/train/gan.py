"""GAN training (stage ``train@<variant>``): what every variant shares, run by the one training loop.

This knows nothing about a variant's networks or losses (``t2igan.variants``); it owns the
variant's two optimiser phases (one Adam for G, one for all the discriminators: Adam is
per-parameter, so that equals the original's one Adam per D), snapshots and sample grids.  The
loop itself (resume, reseeding, data order, checkpoints, the NaN guard, progress) is
``t2igan.train.engine``'s, and the phases, the EMA of G and the precision are
``t2igan.train.updates``', all shared with the baselines, the DAMSMs and the evaluator.

Several processes (torchrun, ``runtime.gpus``) train data-parallel: see ``t2igan.distributed``.
"""
from __future__ import annotations

import copy
import shutil
import time
from collections.abc import Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn

from t2igan import distributed, families
from t2igan.data.cub import N_CAPTIONS
from t2igan.data.dataset import TextImageDataset, WithInputs, branch_sizes, collate, collate_with_inputs, to_branches
from t2igan.data.preprocess import Prepared
from t2igan.distributed import World
from t2igan.errors import T2IGANError
from t2igan.generate import grid_path, sample_grid
from t2igan.losses.damsm import word_mask
from t2igan.train import checkpoint, engine, guard, updates
from t2igan.train.damsm import load_encoders
from t2igan.variants.base import Batch, RowInput, Variant

# Settings that may change between a run and its resumption without changing the result.
FREE_SETTINGS = ("epochs", "device", "workers", "compile", "snapshot_every", "sample_every", "sample_captions")


class TrainingError(T2IGANError):
    pass


@dataclass(frozen=True)
class GanSettings:
    """Everything that decides a trained generator (params.yaml `train`, `lambda`, the scale, and the
    variant's entry in `variants`: its family ``model`` and that family's ``options``).
    No field has a default: params.yaml is the one place a value is set, read through ``from_params``
    (tests build theirs the same way: tests/settings.py)."""

    variant: str
    model: str
    epochs: int
    batch_size: int
    image_size: int
    branches: int
    gf_dim: int
    df_dim: int
    max_words: int
    seed: int
    lam: float
    z_dim: int
    c_dim: int
    r_num: int
    lr_g: float
    lr_d: float
    beta1: float
    beta2: float
    ema_decay: float
    ema_warmup: bool  # the decay grows to ema_decay over the first updates: see ema_decay_at
    gamma1: float
    gamma2: float
    gamma3: float
    snapshot_every: int
    sample_every: int
    steps_per_epoch: int | None  # at most this many batches an epoch (the smoke preset); None: all
    sample_captions: int
    workers: int
    device: str
    precision: str  # fp32, or bf16: autocast to bfloat16 (and NHWC weights) on any device
    compile: bool
    options: dict

    @property
    def sizes(self) -> list[int]:
        return branch_sizes(self.image_size, self.branches)

    @classmethod
    def from_params(cls, p, variant: str) -> GanSettings:
        """From validated params (t2igan.config.Params): `train`, `lambda`, DAMSM gammas, the scale."""
        t, sc, d = p.train, p.scale, p.damsm
        if variant not in p.variants:
            raise TrainingError(f"variants: no entry {variant!r} in params.yaml; "
                                f"known: {', '.join(p.variants) or 'none'}")
        entry = p.variants[variant]
        return cls(
            variant=variant, model=entry.model, options=dict(entry.options), epochs=sc.gan_epochs,
            batch_size=sc.gan_batch_size, image_size=sc.image_size,
            branches=sc.branches, gf_dim=sc.gf_dim, df_dim=sc.df_dim, max_words=p.preprocess.max_words,
            seed=p.seed, lam=p.lam, z_dim=t.z_dim, c_dim=t.c_dim, r_num=t.r_num, lr_g=t.lr_g, lr_d=t.lr_d,
            beta1=t.beta1, beta2=t.beta2, ema_decay=t.ema_decay, ema_warmup=t.ema_warmup, gamma1=d.gamma1,
            gamma2=d.gamma2, gamma3=d.gamma3, snapshot_every=sc.snapshot_every, sample_every=sc.sample_every,
            steps_per_epoch=sc.steps_per_epoch,
            sample_captions=t.sample_captions, precision=t.precision, workers=p.runtime.loader_workers,
            device=p.runtime.device, compile=p.runtime.compile)


class FrozenDamsm:
    """The pretrained DAMSM encoders as a fixed judge: eval mode, no gradients to their weights
    (gradients still flow through the image encoder into the generated images)."""

    def __init__(self, text: nn.Module, image: nn.Module, device: torch.device):
        self.text = text.to(device).eval().requires_grad_(False)
        self.image = image.to(device).eval().requires_grad_(False)

    @classmethod
    def load(cls, model_dir: str | Path, device: torch.device) -> FrozenDamsm:
        text, image, _ = load_encoders(model_dir)
        return cls(text, image, device)

    @torch.no_grad()
    def encode(self, captions: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.text(captions, lengths)


def make_batch(raw: dict, damsm: FrozenDamsm, sizes: list[int], device: torch.device) -> Batch:
    """A collated batch (uint8 images, word ids, the family's inputs if any) -> what the networks
    take, on ``device``."""
    captions, lengths = raw["captions"].to(device), raw["lengths"]
    words, sentence = damsm.encode(captions, lengths)
    lengths = lengths.to(device)
    real = to_branches(raw["images"].to(device, non_blocking=True), sizes)
    if device.type == "cuda":
        real = [x.contiguous(memory_format=torch.channels_last) for x in real]
    inputs = {name: to_branches(x.to(device, non_blocking=True), [x.shape[-1]])[0]
              for name, x in raw.get("inputs", {}).items()}
    return Batch(real=real, words=words, sentence=sentence, pad_mask=~word_mask(lengths, captions.shape[1]),
                 lengths=lengths, class_ids=raw["class_ids"].to(device), inputs=inputs)


class PhaseTimer:
    """Wall time per phase of a step (benchmarks); synchronises CUDA so the numbers are honest."""

    def __init__(self, device: torch.device):
        self.device, self.seconds = device, {}

    @contextmanager
    def __call__(self, name: str):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        yield
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t


def _no_timer(name: str):
    return nullcontext()


@dataclass
class Trainer:
    """A variant's networks, its two phases (D then G, each on the same fake images) and the EMA of G."""

    variant: Variant
    G: nn.Module
    Ds: nn.ModuleList
    ema: updates.Ema
    d: updates.Phase
    g: updates.Phase
    device: torch.device
    world: World = distributed.ONE
    precision: str = "fp32"  # train.precision; benchmarks/throughput.py compares fp32 and bf16

    @property
    def G_ema(self) -> nn.Module:
        return self.ema.module

    @classmethod
    def create(cls, s: GanSettings, damsm: FrozenDamsm, device: torch.device,
               world: World = distributed.ONE) -> Trainer:
        torch.manual_seed(s.seed)
        variant = make_variant(s, damsm)
        G, Ds = variant.build()
        G_ema = copy.deepcopy(G)
        if world.size > 1:  # BatchNorm over the global batch, as in one process
            G, Ds = distributed.global_batchnorm(G), distributed.global_batchnorm(Ds)
        updates.place((G, Ds, G_ema), device, s.precision)
        world.follow_main(G, Ds, G_ema)  # the same seed built them; this makes sure
        # fused: one pass over each parameter per step instead of six (same update, rounded differently);
        # the paper discriminators' 100 M parameters made the unfused step a tenth of a CPU step
        o = variant.optimisation()  # `train`'s values, or the family's own (DF-GAN)
        opt_g = torch.optim.Adam(G.parameters(), lr=o.lr_g, betas=o.betas, fused=True)
        opt_d = torch.optim.Adam(Ds.parameters(), lr=o.lr_d, betas=o.betas, fused=True)
        if s.compile:
            for m in (G, *Ds):
                m.compile()  # in place: state_dict keys stay the same
        return cls(variant, G, Ds, updates.Ema(G, o.ema_decay, s.ema_warmup, copy_of=G_ema),
                   updates.Phase("d", opt_d, label="discriminator step"),
                   updates.Phase("g", opt_g, frozen=[Ds], label="generator step"),  # G's loss goes through D
                   device, world, precision=s.precision)

    def state(self) -> dict:
        return {"G": self.G.state_dict(), "Ds": self.Ds.state_dict(), "G_ema": self.G_ema.state_dict(),
                "opt_g": self.g.optimizer.state_dict(), "opt_d": self.d.optimizer.state_dict()}

    def load_state(self, state: dict) -> None:
        self.G.load_state_dict(state["G"])
        self.Ds.load_state_dict(state["Ds"])
        self.G_ema.load_state_dict(state["G_ema"])
        self.g.optimizer.load_state_dict(state["opt_g"])
        self.d.optimizer.load_state_dict(state["opt_d"])

    def step(self, batch: Batch, step: int, timer=_no_timer) -> dict[str, torch.Tensor]:
        """Training step number ``step`` of the run (0-based): one D update then one G update on the same
        fake images, then the EMA; returns every loss term (this process's: ``world.mean`` averages them
        over the ranks)."""
        autocast = updates.autocast(self.device, self.precision)
        # The noise is drawn for the global batch and sliced: the same as one process would draw.
        n, s = len(batch.sentence) * self.world.size, self.variant.s
        z = self.world.slice(torch.randn(n, s.z_dim, device=self.device))
        eps = self.world.slice(torch.randn(n, s.c_dim, device=self.device))
        with timer("generator forward"), autocast:
            fake = self.variant.generate(self.G, batch, z, eps=eps)

        def loss(phase: updates.Phase) -> dict[str, torch.Tensor]:
            with autocast:
                if phase is self.d:
                    return self.variant.d_loss(self.Ds, batch, fake.detached())
                return self.variant.g_loss(self.Ds, batch, fake)

        terms = updates.run_phases([self.d, self.g], step, loss, self.world, timer)
        with timer("EMA update"):
            self.ema.update(step)
        return terms


def make_variant(s: GanSettings, damsm: FrozenDamsm) -> Variant:
    return families.load("variants", s.model, s.variant)(s, damsm)


def row_inputs(variant: Variant, data_dirs: Mapping[str, str | Path] | None, prepared: Prepared) -> dict[str, RowInput]:
    """Where the variant's inputs come from (its ``inputs``; none for most), read from the data stages'
    folders ``data_dirs`` (``config.Params.data_dirs``)."""
    if not variant.inputs:
        return {}
    if data_dirs is None:
        raise TrainingError(f"{variant.s.variant} takes {', '.join(variant.inputs)} with every caption: give the "
                            "data stages' folders (data_dirs)")
    sources = variant.row_inputs(data_dirs, len(prepared.index["class_ids"]) * N_CAPTIONS)
    if sorted(sources) != sorted(variant.inputs):
        raise TrainingError(f"{variant.s.variant}: row_inputs gave {sorted(sources)}, its inputs are "
                            f"{sorted(variant.inputs)}")
    return sources


def train(prepared: Prepared, damsm_dir: str | Path, out_dir: str | Path, s: GanSettings, *,
          data_dirs: Mapping[str, str | Path] | None = None, samples_dir: str | Path | None = None, live=None,
          progress: bool = True) -> list[dict]:
    """Train (or resume) ``s.variant`` into ``out_dir``; returns the per-epoch history.
    ``data_dirs``: the data stages' folders (``config.Params.data_dirs``), for variants with inputs.

    ``out_dir`` gets checkpoint.pt (everything needed to resume), snapshots/epoch_NNNN.pt (the
    EMA generator every ``snapshot_every`` epochs, and at the end) and generator.pt (the
    final EMA generator).  ``live(history)`` is called after every epoch's checkpoint.
    """
    world, device = distributed.join(s.device)
    try:
        with guard.training(out_dir, main=world.main):  # one trainer per folder; none outliving its launcher
            return _train(prepared, damsm_dir, Path(out_dir), s, world, device, data_dirs=data_dirs,
                      samples_dir=samples_dir, live=live, progress=progress and world.main)
    finally:
        distributed.leave(world)


class _GanJob(engine.Job):
    """A variant's trainer in the shared loop: its step, its snapshots, sample grids and live metrics."""

    def __init__(self, trainer: Trainer, damsm: FrozenDamsm, prepared: Prepared, s: GanSettings, out_dir: Path,
                 samples_dir, inputs, live):
        self.trainer, self.damsm, self.prepared, self.s = trainer, damsm, prepared, s
        self.out_dir, self.samples_dir, self.inputs, self.live = out_dir, samples_dir, inputs, live
        self.name = s.variant
        self.kept = snapshot_epochs(s.epochs, s.snapshot_every)

    def modules(self) -> list[nn.Module]:
        return [self.trainer.G, self.trainer.Ds]

    def replicas(self) -> list[nn.Module]:
        return [self.trainer.G, self.trainer.Ds, self.trainer.G_ema]

    def state(self) -> dict:
        return self.trainer.state()

    def load_state(self, state: dict) -> None:
        self.trainer.load_state(state)

    def step(self, batch, step: int) -> dict:
        terms = self.trainer.step(make_batch(batch, self.damsm, self.s.sizes, self.trainer.device), step)
        return {k: v.float() for k, v in terms.items()}

    def _snapshot(self, epoch: int) -> Path:
        return self.out_dir / "snapshots" / f"epoch_{epoch:04d}.pt"

    def why_not_resume(self, state: dict) -> str | None:
        done = len(state["history"])
        lost = [e for e in self.kept if e < done and not self._snapshot(e).exists()]
        # only the last finished epoch's EMA is in the checkpoint
        return f"the snapshots of epoch(s) {lost} are missing" if lost else None

    def resume_note(self, state: dict) -> str:
        return f" (written by {state.get('processes', 1)} process(es); now {self.trainer.world.size})"

    def restored(self, history: list[dict]) -> None:
        # what DVC removed before this run and the checkpoint can give back: the last epoch's
        # snapshot and sample grid (earlier grids persist), and the live metrics
        done = len(history)
        if done in self.kept and not self._snapshot(done).exists():
            save_generator(self._snapshot(done), self.trainer.G_ema, self.s, done)
        if self.samples_dir is not None and _is_sample_epoch(done, self.s) and \
                not grid_path(self.samples_dir, done).exists():
            _sample_grid(self.trainer, self.damsm, self.prepared, self.s, self.samples_dir, done, self.inputs)
        if self.live is not None:
            self.live(history)

    def starting_over(self) -> None:
        # snapshots and grids of an earlier run (they persist between `dvc repro`s) are not this run's
        shutil.rmtree(self.out_dir / "snapshots", ignore_errors=True)
        if self.samples_dir is not None:
            shutil.rmtree(self.samples_dir, ignore_errors=True)

    def epoch_done(self, history: list[dict]) -> None:
        epoch = len(history)
        if epoch in self.kept:
            save_generator(self._snapshot(epoch), self.trainer.G_ema, self.s, epoch)
        if self.samples_dir is not None and _is_sample_epoch(epoch, self.s):
            _sample_grid(self.trainer, self.damsm, self.prepared, self.s, self.samples_dir, epoch, self.inputs)
        if self.live is not None:
            self.live(history)

    def summary(self, h: dict) -> str:
        return (f"D {h['d_total']:.3f} G {h['g_total']:.3f} (adv {h['g_adv']:.3f}, "
                f"DAMSM w {h.get('g_damsm_w', float('nan')):.3f} s {h.get('g_damsm_s', float('nan')):.3f}) | "
                f"{h['images_per_s']} img/s")


def _train(prepared: Prepared, damsm_dir: str | Path, out_dir: Path, s: GanSettings, world: World,
           device: torch.device, *, data_dirs, samples_dir, live, progress: bool) -> list[dict]:
    damsm = FrozenDamsm.load(damsm_dir, device)
    trainer = Trainer.create(s, damsm, device, world)
    # the frozen inputs' digests are part of the data: a run is resumed (or a finished one reused)
    # only with the same code, settings and inputs
    sources = row_inputs(trainer.variant, data_dirs, prepared)
    files = [Path(damsm_dir) / "text_encoder.pt", Path(damsm_dir) / "image_encoder.pt",
             *(f for source in sources.values() for f in source.files)]
    dataset = TextImageDataset(prepared, "train", image_size=s.image_size, branches=s.branches,
                               max_words=s.max_words, seed=s.seed)
    collate_fn = collate
    if sources:
        dataset, collate_fn = WithInputs(dataset, sources), collate_with_inputs
    run = engine.Run(out_dir / "checkpoint.pt", asdict(s), checkpoint.inputs_digest(prepared.fingerprint(), files),
                     s.epochs, s.seed, s.batch_size, "the scale's gan_batch_size", s.steps_per_epoch, s.workers,
                     FREE_SETTINGS, finished_ok=True, device=device, world=world, progress=progress,
                     error=TrainingError)
    job = _GanJob(trainer, damsm, prepared, s, out_dir, samples_dir, sources, live)
    history = engine.train(run, job, dataset, collate_fn)
    if world.main:
        save_generator(out_dir / "generator.pt", trainer.G_ema, s, len(history))
    world.barrier()  # the others wait until the outputs are written
    return history


def _is_sample_epoch(epoch: int, s: GanSettings) -> bool:
    return epoch % s.sample_every == 0 or epoch == s.epochs


def _sample_grid(trainer: Trainer, damsm: FrozenDamsm, prepared: Prepared, s: GanSettings, samples_dir, epoch: int,
                 inputs) -> None:
    sample_grid(trainer.variant, trainer.G_ema, damsm, prepared, s, grid_path(samples_dir, epoch),
                title=f"{s.variant}, epoch {epoch}", inputs=inputs)


def snapshot_epochs(epochs: int, every: int) -> list[int]:
    """The epochs whose EMA generator is kept as a snapshot: every ``every``-th, and the last."""
    return sorted({*range(every, epochs + 1, every), epochs})


def missing_snapshots(paths: list[Path], epochs: list[int], what: str, remedy: str) -> None:
    """Raise, naming the first missing file, when a snapshot (or its generated set) is absent."""
    missing = [(e, path) for e, path in zip(epochs, paths) if not path.exists()]
    if missing:
        e, path = missing[0]
        raise TrainingError(f"{path}: no {what} for epoch {e} ({len(missing)} of {len(epochs)} missing); the params "
                            f"keep snapshots at epochs {epochs} (the scale's snapshot_every and gan_epochs). "
                            f"Run `{remedy}`")


def save_generator(path: Path, G_ema: nn.Module, s: GanSettings, epoch: int) -> None:
    checkpoint.save(path, {"state": G_ema.state_dict(), "settings": asdict(s), "epoch": epoch})


def load_generator(path: str | Path, damsm: FrozenDamsm, device: torch.device) -> tuple[Variant, nn.Module, int]:
    """An EMA generator written by ``train``: (its variant, the network in eval mode, its epoch)."""
    state = checkpoint.load(path)
    if state is None:
        raise TrainingError(f"{path}: no generator here; run the train stage first")
    s = GanSettings(**state["settings"])
    variant = make_variant(s, damsm)
    G = checkpoint.built_from(lambda: variant.build()[0], state["state"])
    return variant, G.to(device).eval(), state["epoch"]

