"""What the default graph will write, hold and take before it runs: ``t2igan plan [-S key=value ...]``.

Per stage: the images it writes, the disk of its DVC outputs, its peak host RAM, and, where a
benchmark of this project measured them on a GPU (``benchmarks/results/gpu-*.json``), its peak
GPU memory and its time.  Everything else is computed, and said so:

- disk: from the shapes of what the stage writes; model files from the parameter counts of the
  networks the params build (built on PyTorch's meta device: no memory, no weights), 4 bytes
  per float32 value;
- scratch: a training stage's resumable checkpoint and the one before it (weights with Adam's two
  moments), in resume/<stage> while it trains, removed when it succeeds (not a DVC output);
- RAM: a process with PyTorch loaded (``PROCESS_GB``) plus the models and the arrays the stage
  holds at once (scoring streams its sets, so the set size counts only through the features);
- time: a measured step time (GPU) times the steps of the run; none is guessed.

Nothing here reads data or needs a GPU; the params are validated as ``dvc repro`` would.
"""
from __future__ import annotations

import glob
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torchvision

from t2igan import weights
from t2igan.baselines.base import BaselineSettings
from t2igan.config import Params
from t2igan.data import cub
from t2igan.data.cub_schema import N_ATTRIBUTES
from t2igan.data.preprocess import stored_size
from t2igan.models.damsm import DIM
from t2igan.models.evaluator import Evaluator
from t2igan.train import gan
from t2igan.train.baseline import make
from t2igan.train.damsm import DamsmSettings, build_encoders
from t2igan.train.gan import snapshot_epochs

GB = 1e9
PROCESS_GB = 1.5              # python + torch + (on a GPU) the CUDA context's host side
CUB_IMAGES, CUB_TEST = 11_788, 2_933
CUB_JPEG_BYTES = 1_150_585_339 / CUB_IMAGES   # CUB_200_2011.tgz holds the JPEGs (hard-linked, see README)
SYNTHETIC_JPEG_BYTES = 21_000                 # measured: data/birds of the quick set, 168 MB for 8,000 images
PATCHES_PER_IMAGE = 12.44                     # measured: visible parts per image (99,529 patches of 8,000)
CUB_VOCAB = 5_450                             # AttnGAN's CUB vocabulary (the synthetic one is smaller)
SAMPLE_GRID_BYTES = 600_000                   # one reports/<name>/samples/epoch_NNNN.png, kept in git


@dataclass
class Row:
    """One stage of the plan.  ``ram`` is computed; ``gpu`` and ``seconds`` are measured or None."""

    stage: str
    images: int = 0
    disk: float = 0.0
    ram: float = 0.0
    scratch: float = 0.0  # resume/<stage> while it trains: two checkpoints (removed on success)
    gpu: float | None = None
    seconds: float | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Counts:
    images: int
    train: int
    test: int
    vocab: int


def counts(p: Params) -> Counts:
    if p.dataset == "cub":
        return Counts(CUB_IMAGES, CUB_IMAGES - CUB_TEST, CUB_TEST, CUB_VOCAB)
    n = p.scale.synthetic_images
    test = round(n * (1 - 0.75))  # the synthetic set splits its species 150 / 50, as CUB
    return Counts(n, n - test, test, 1_000)


def _bytes(module: torch.nn.Module) -> tuple[float, float]:
    """(all float32 values of a state dict, the trainable ones) in bytes."""
    total = sum(t.numel() for t in [*module.parameters(), *module.buffers()] if t.is_floating_point())
    trainable = sum(t.numel() for t in module.parameters() if t.requires_grad)
    return 4.0 * total, 4.0 * trainable


def _damsm(p: Params, vocab: int):
    with torch.device("meta"):
        return build_encoders(DamsmSettings.from_params(p), vocab, pretrained=False)


def _gan(p: Params, name: str, text, image):
    s = gan.GanSettings.from_params(p, name)
    with torch.device("meta"):
        variant = gan.make_variant(s, gan.FrozenDamsm(text, image, torch.device("meta")))
        G, Ds = variant.build()
    return s, variant, G, Ds


def _baseline(p: Params, name: str, **options):
    s = BaselineSettings.from_params(p, name, **options)
    with torch.device("meta"):
        return s, make(s).build()


def _set_bytes(n: int, size: int) -> float:
    return float(n) * size * size * 3


def _measured(results_dir: str | Path) -> list[dict]:
    """Rows of the GPU benchmarks (benchmarks/throughput.py, benchmarks/damsm_budget.py)."""
    rows = []
    for path in sorted(glob.glob(str(Path(results_dir) / "gpu-*.json"))):
        data = json.loads(Path(path).read_text())
        for row in data if isinstance(data, list) else [data]:
            if isinstance(row, dict):
                rows.append({**row, "file": Path(path).name})
    return rows


def _train_measured(rows: list[dict], variant: str, batch: int) -> dict | None:
    hits = [r for r in rows if r.get("variant") == variant and r.get("scale") == "paper"
            and r.get("batch_size") == batch and r.get("train_images_per_s") and not r.get("compile")]
    return hits[-1] if hits else None


def plan(p: Params, results_dir: str | Path = "benchmarks/results") -> list[Row]:
    """The rows of the default graph (params.yaml's variants and baselines) at ``p``'s scale."""
    c, sc = counts(p), p.scale
    measured = _measured(results_dir) if p.scale_name == "paper" else []
    size, stored = sc.image_size, stored_size(sc.image_size)
    final = c.test * sc.captions_per_image
    out = [Row("data", c.images, c.images * (CUB_JPEG_BYTES if p.dataset == "cub" else SYNTHETIC_JPEG_BYTES),
               PROCESS_GB * GB, notes=["CUB by hand or download: hard links into data/birds cost nothing"
                                       if p.dataset == "cub" else "synthetic JPEGs"]),
           Row("preprocess", c.images, _set_bytes(c.images, stored), PROCESS_GB * GB,
               notes=[f"crops stored at {stored} px (AttnGAN's 76/64)"]),
           Row("crop_refs", 0, c.images * PATCHES_PER_IMAGE * _set_bytes(1, p.crop_refs.patch_size),
               PROCESS_GB * GB + c.images * PATCHES_PER_IMAGE * _set_bytes(1, p.crop_refs.patch_size))]


    with torch.device("meta"):
        nets = {"fid_inception": torchvision.models.inception_v3(weights=None, aux_logits=False, num_classes=1008,
                                                                 init_weights=False),
                "imagenet_inception": torchvision.models.inception_v3(weights=None, aux_logits=True,
                                                                      init_weights=False)}
    needed = weights.needed(p)
    out.append(Row("fetch_weights", 0, sum(_bytes(nets[w.key])[0] for w in needed), PROCESS_GB * GB,
                   notes=[", ".join(w.file for w in needed) or "none needed"]))
    text, image = _damsm(p, c.vocab)
    text_b, text_t = _bytes(text)
    image_b, image_t = _bytes(image)
    damsm_ckpt = text_b + image_b + 2 * (text_t + image_t)  # both encoders and Adam's moments
    steps = sc.damsm_epochs * -(-c.train // sc.damsm_batch_size)
    step = [r for r in measured if r.get("settings", {}).get("backbone") == sc.damsm_backbone
            and r.get("settings", {}).get("batch_size") == sc.damsm_batch_size and "timing" in r]
    for name in ("pretrain_damsm", "evaluator_damsm"):
        row = Row(name, 0, text_b + image_b, PROCESS_GB * GB + 4 * (text_b + image_b), scratch=2 * damsm_ckpt)
        if step:
            row.seconds = steps * step[-1]["timing"]["seconds_per_step"]
            row.notes.append(f"time: {steps:,} steps x the step measured in {step[-1]['file']} (compute only)")
        out.append(row)

    generator_bytes: dict[str, float] = {}  # per variant, for score@'s two generators (final, snapshot)
    for name in p.variants:
        s, variant, G, Ds = _gan(p, name, text, image)
        g_b, g_t = _bytes(G)
        generator_bytes[name] = g_b
        d_b, d_t = _bytes(Ds)
        kept = len(snapshot_epochs(sc.gan_epochs, sc.snapshot_every))
        ckpt = 2 * g_b + d_b + 2 * (g_t + d_t)  # G, its EMA, the Ds, Adam's moments
        row = Row(f"train@{name}", 0, (kept + 1) * g_b,  # the snapshots are hard links of the scratch's
                  PROCESS_GB * GB + 4 * (g_b + d_b) + text_b + image_b, scratch=2 * ckpt,
                  notes=[f"G {g_b / 1e6:.0f} MB, Ds {d_b / 1e6:.0f} MB; {kept} snapshots; "
                         f"{-(-sc.gan_epochs // sc.sample_every)} sample grids in git"])
        hit = _train_measured(measured, name, sc.gan_batch_size)
        if hit:
            row.seconds = sc.gan_epochs * c.train / hit["train_images_per_s"]
            row.gpu = hit.get("peak_memory_gib", 0) * 2**30 or None
            row.notes.append(f"time and GPU memory: {hit['file']}")
        out.append(row)
        sets = 2 if variant.inputs else 1
        gen = Row(f"generate@{name}", sets * final, sets * _set_bytes(final, size),
                  PROCESS_GB * GB + g_b + text_b + 2 * _set_bytes(p.runtime.generate_batch, size),
                  notes=[f"{sets} set(s) of {final:,}" + (" (final, final_black)" if sets == 2 else "")])
        if hit and hit.get("generate_images_per_s"):
            gen.seconds = sets * final / hit["generate_images_per_s"]
        out.append(gen)

    with torch.device("meta"):
        evaluator = Evaluator(200, N_ATTRIBUTES, p.evaluator.width)
    evaluator_b = _bytes(evaluator)[0]
    out.append(Row("train_evaluator", 0, evaluator_b, PROCESS_GB * GB + 4 * evaluator_b + _set_bytes(
        p.scale.evaluator_batch_size * 4, size), scratch=2 * 3 * evaluator_b))
    features = 4.0 * (evaluator.features_dim + 200 + N_ATTRIBUTES)  # features, species and attribute logits
    if "inception" in sc.extractors:
        features += 4.0 * (2048 + 1008)                                # the FID Inception's pool3 and logits
    codes = 4.0 * DIM                                              # one judge's image or sentence code
    out.append(Row("score_reference", 0, c.test * (features + 2 * codes) + 2 * c.test * cub.N_CAPTIONS * codes,
                   PROCESS_GB * GB + 2 * image_b + _set_bytes(c.test, size) + _set_bytes(c.test, stored)))
    out.append(Row("fid_sanity", 0, 0.0, PROCESS_GB * GB + 4 * _set_bytes(c.test, size),
                   notes=["the test crops and their distorted copies, in memory"]))
    snap = min(p.score.snapshot_images, c.test)
    for name in p.variants:
        sets = 4  # final, untrained, real (features taken), black_reference
        ram = (PROCESS_GB * GB + 2 * (text_b + image_b) + evaluator_b + 2 * generator_bytes[name]
               + sets * final * (features + 2 * codes) + 2 * c.test * cub.N_CAPTIONS * codes
               + 2 * _set_bytes(500, size) + _set_bytes(c.test, stored) + _set_bytes(c.test, size)
               + 2 * final * _set_bytes(1, p.crop_refs.patch_size))
        out.append(Row(f"score@{name}", 0, 0.0, ram, notes=[
            f"the final set read a batch at a time; the floor and {snap:,} images per snapshot generated and "
            "scored a batch at a time, never stored"]))

    for name in p.baselines:
        s, nets = _baseline(p, name)
        b, t = _bytes(nets)
        out.append(Row(f"train_baseline@{name}", 0, b, PROCESS_GB * GB + 4 * b, scratch=2 * (b + 2 * t),
                       notes=[f"networks {b / 1e6:.0f} MB"]))
        out.append(Row(f"generate_baseline@{name}", final, _set_bytes(final, size),
                       PROCESS_GB * GB + b + 2 * _set_bytes(p.runtime.generate_batch, size)))
        out.append(Row(f"score_baseline@{name}", 0, 0.0,
                       PROCESS_GB * GB + 2 * b + 2 * final * (features + 2 * codes) + _set_bytes(c.test, size)))

    if p.draw_sweep is not None:
        sw, disk, scratch, biggest = p.draw_sweep, 0.0, 0.0, 0.0
        for steps in sw.steps:
            _, nets = _baseline(p, sw.base, steps=steps, z_dim=sw.total_latent // steps)
            b, t = _bytes(nets)
            # every run's checkpoints stay in resume/draw_sweep until the whole sweep succeeds
            disk, scratch, biggest = disk + b, scratch + 2 * (b + 2 * t), max(biggest, b)
        n = min(sw.images, c.test)
        out.append(Row("draw_sweep", n * len(sw.steps), disk,
                       PROCESS_GB * GB + 4 * biggest + 2 * _set_bytes(n, size), scratch=scratch,
                       notes=["images scored in memory"]))
    out.append(Row("report", 0, 0.0, PROCESS_GB * GB))
    return out


def _gb(x: float | None) -> str:
    return "-" if x is None else f"{x / GB:,.2f}"


def _hours(x: float | None) -> str:
    return "-" if x is None else f"{x / 3600:,.2f}"


def format_plan(p: Params, rows: list[Row]) -> str:
    """The plan as a table and its totals, each column marked computed or measured."""
    head = (f"t2igan plan: dataset={p.dataset} scale={p.scale_name} ({p.scale.image_size} px, "
            f"{len(p.variants)} variants, {len(p.baselines)} baselines)")
    lines = [head, "",
             f"{'stage':<28} {'images':>9} {'disk GB':>9} {'scratch':>9} {'RAM GB':>8} {'GPU GB':>8} {'GPU h':>7}"
             "  notes",
             f"{'':<28} {'':>9} {'computed':>9} {'computed':>9} {'computed':>8} {'measured':>8} {'measured':>7}"]
    for r in rows:
        lines.append(f"{r.stage:<28} {r.images:>9,} {_gb(r.disk):>9} {_gb(r.scratch or None):>9} {_gb(r.ram):>8} "
                     f"{_gb(r.gpu):>8} {_hours(r.seconds):>7}  {'; '.join(r.notes)}")
    disk = sum(r.disk for r in rows)
    timed = [r for r in rows if r.seconds is not None]
    largest = max((r for r in rows if r.stage.startswith(("generate@", "generate_b"))), key=lambda r: r.disk,
                  default=None)
    lines += ["",
              f"total: {sum(r.images for r in rows):,} images written, {disk / GB:,.1f} GB of DVC outputs "
              f"(twice that with DVC's default copy cache; `dvc config cache.type hardlink,symlink` keeps one copy), "
              f"peak RAM {max(r.ram for r in rows) / GB:,.1f} GB (the largest stage; stages run one at a time); "
              f"scratch up to {max(r.scratch for r in rows) / GB:,.1f} GB more while a stage trains "
              "(resume/<stage>: its checkpoint and the one before, removed when it succeeds)",
              f"final set: {p.scale.captions_per_image} caption(s) per test image = "
              f"{counts(p).test * p.scale.captions_per_image:,} images per variant"
              + (f"; largest generated output: {largest.stage} {largest.disk / GB:,.2f} GB" if largest else ""),
              f"time measured for {len(timed)} of {len(rows)} stages: {sum(r.seconds for r in timed) / 3600:,.1f} GPU "
              "hours for those; the others have no measured GPU step time (benchmarks/gpu_checks.sh measures them)"]
    return "\n".join(lines)
