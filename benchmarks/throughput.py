"""Throughput of the GAN variants: training and generation images/s, and data loading on its own.

Run by hand (not in CI), from the project root:

    python benchmarks/throughput.py                                   # variants of params.yaml, scale quick
    python benchmarks/throughput.py --scales paper --steps 30          # on a GPU
    python benchmarks/throughput.py --scales paper --variants attngan --precision-steps 10   # bf16 vs fp32
    python benchmarks/throughput.py --scales quick --branches 1 --gf-dim 32 --df-dim 64 --batch-size 16 --no-damsm
    python benchmarks/throughput.py --scales quick --image-size 128 --branches 2 --gf-dim 32 --df-dim 64 \
        --batch-size 8 --no-damsm    # MODELS.md's 64 + 128 px reference setting
    python benchmarks/throughput.py --against-original --steps 4 --warmup 2 --readme \
        --out benchmarks/results/cpu-vs-original.json   # all four reference settings, with the ratios

Training is timed on batches already in memory (random pixels and word ids through the real
DAMSM text encoder), so it measures the networks only; data loading (the real DataLoader
over data/prepared, when it exists at the scale's size) is timed separately.  Each phase
is synchronised on CUDA, so the shares are honest; the total is taken over whole steps.
The DAMSM encoders are randomly initialised (same cost as trained ones; no download).
Results are printed as a table and written to --out (JSON).

Peak memory of a training step (``peak_memory_gib``): on CUDA, the allocator's peak for that
variant; on the CPU, the process's peak resident set so far (so run one variant per call when
comparing them), e.g. the paper-scale check of issue 6 without a GPU:

    python benchmarks/throughput.py --scales paper --batch-size 2 --steps 1 --warmup 1 --variants ragan_v1
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import resource
import sys
import time
from pathlib import Path

import torch

from t2igan import allocator
from t2igan.config import load_params
from t2igan.data.dataset import TextImageDataset, collate
from t2igan.data.preprocess import Prepared
from t2igan.errors import T2IGANError
from t2igan.train import gan
from t2igan.train.damsm import DamsmSettings, build_encoders
from t2igan.train.device import pick_device

# MODELS.md "Speed references": one AttnGAN step (all D steps + G step, no DAMSM loss) of the
# original code, fp32, 2 threads, on this project's 2-core CPU; images/s.
ORIGINAL_CODE = [
    ({"image_size": 64, "branches": 1, "gf_dim": 32, "df_dim": 64, "batch_size": 16}, 17.2),
    ({"image_size": 128, "branches": 2, "gf_dim": 32, "df_dim": 64, "batch_size": 8}, 3.3),
    ({"image_size": 256, "branches": 3, "gf_dim": 32, "df_dim": 64, "batch_size": 4}, 0.6),
    ({"image_size": 256, "branches": 3, "gf_dim": 16, "df_dim": 32, "batch_size": 16}, 2.3),
]


def against_original(p, damsm, device, vocab: int, steps: int, warmup: int) -> list[dict]:
    """AttnGAN's step at each MODELS.md reference setting (fp32, no DAMSM term), and its ratio to
    the original code's images/s there."""
    out = []
    for setting, original in ORIGINAL_CODE:
        row = {**setting, "original_images_per_s": original}
        for precision in ("fp32", "bf16"):  # fp32 is the like-for-like comparison; bf16 beside it
            s = dataclasses.replace(gan.GanSettings.from_params(p, "attngan"), precision=precision, **setting)
            print(f"attngan vs original code: {setting}, {precision}", file=sys.stderr)
            r = bench_training(s, damsm, device, vocab, steps, warmup, use_damsm=False)
            key = "" if precision == "fp32" else "_bf16"
            row.update({f"images_per_s{key}": r["train_images_per_s"],
                        f"ratio{key}": round(r["train_images_per_s"] / original, 2)})
        out.append({**row, "device": _device_name(device), "threads": torch.get_num_threads(),
                    "glibc_malloc_tuned": allocator.tune(),
                    "torch": torch.__version__})
    return out


def original_table(rows: list[dict]) -> str:
    """The README's table of ``against_original``'s rows (images/s and the ratios)."""
    lines = ["| setting (AttnGAN, no DAMSM term) | original code (fp32) | t2igan fp32 | ratio | t2igan bf16 | ratio |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        branches = f"{r['branches']} branch" + ("es" if r["branches"] > 1 else "")
        lines.append(f"| {r['image_size']} px, {branches}, GF {r['gf_dim']} / DF {r['df_dim']}, batch "
                     f"{r['batch_size']} | {r['original_images_per_s']} | {r['images_per_s']:.2f} | "
                     f"{r['ratio']:.2f}x | {r['images_per_s_bf16']:.2f} | {r['ratio_bf16']:.2f}x |")
    return "\n".join(lines)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def _random_raw(s: gan.GanSettings, vocab: int, n: int, seed: int, inputs: tuple[str, ...]) -> dict:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(8, s.max_words + 1, (n,), generator=g)
    captions = torch.randint(1, vocab, (n, s.max_words), generator=g)
    captions[torch.arange(s.max_words)[None, :] >= lengths[:, None]] = 0
    raw = {"images": torch.randint(0, 256, (n, 3, s.image_size, s.image_size), dtype=torch.uint8, generator=g),
           "captions": captions, "lengths": lengths, "class_ids": torch.randint(0, 150, (n,), generator=g)}
    if inputs:  # 50 x 50 patches (crop_refs'), for the variants that take inputs (RaGAN)
        raw["inputs"] = {k: torch.randint(0, 256, (n, 3, 50, 50), dtype=torch.uint8, generator=g) for k in inputs}
    return raw


def _peak_memory_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)  # Linux: KiB


def bench_training(s: gan.GanSettings, damsm: gan.FrozenDamsm, device, vocab: int, steps: int, warmup: int,
                   use_damsm: bool) -> dict:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    trainer = gan.Trainer.create(s, damsm, device)
    variant = trainer.variant
    if not use_damsm:
        lam = 0.0
        variant.s = dataclasses.replace(variant.s, lam=lam)
        variant.damsm_terms = lambda batch, regions, code: (torch.zeros((), device=device),) * 2
    raw = _random_raw(s, vocab, s.batch_size, 0, variant.inputs)
    timer = gan.PhaseTimer(device)
    if hasattr(variant, "damsm_terms") and use_damsm:
        inner = variant.damsm_terms

        def timed(batch, regions, code):
            with timer("DAMSM loss (inside the G step)"):
                return inner(batch, regions, code)

        variant.damsm_terms = timed
    for i in range(warmup + steps):
        if i == warmup:
            timer.seconds.clear()
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        with timer("batch to device + text encoder"):
            batch = gan.make_batch(raw, damsm, s.sizes, device)
        trainer.step(batch, i, timer)
    if device.type == "cuda":
        torch.cuda.synchronize()
    total = time.perf_counter() - start
    shares = {k: round(100 * v / total, 1) for k, v in timer.seconds.items()}
    return {"train_images_per_s": round(steps * s.batch_size / total, 2), "train_shares_percent": shares,
            "seconds_per_step": round(total / steps, 4), "peak_memory_gib": _peak_memory_gib(device)}


def precision_check(s: gan.GanSettings, damsm: gan.FrozenDamsm, device, vocab: int, steps: int) -> dict:
    """The first ``steps`` training steps twice from the same initial weights, batches and noise:
    in float32, then under bfloat16 autocast (what training uses on GPUs).  Returns each loss
    term's largest relative difference over those steps, and the per-step values."""
    runs = {}
    for bf16 in (False, True):
        # seeds itself: the same weights both times
        trainer = gan.Trainer.create(dataclasses.replace(s, precision="bf16" if bf16 else "fp32"), damsm, device)
        torch.manual_seed(1)
        rows = []
        for i in range(steps):
            raw = _random_raw(s, vocab, s.batch_size, 100 + i, trainer.variant.inputs)
            terms = trainer.step(gan.make_batch(raw, damsm, s.sizes, device), i)
            rows.append({k: round(v.item(), 6) for k, v in terms.items()})
        runs["bf16" if bf16 else "fp32"] = rows
    worst = {k: max(abs(b[k] - f[k]) / max(abs(f[k]), 1e-3) for f, b in zip(runs["fp32"], runs["bf16"]))
             for k in runs["fp32"][0]}
    return {"precision_steps": steps,
            "bf16_vs_fp32_max_relative_difference": {k: round(v, 5) for k, v in worst.items()},
            "precision_losses": runs}


@torch.no_grad()
def bench_generation(s: gan.GanSettings, damsm, device, vocab: int, batches: int, batch_size: int) -> float:
    variant = gan.make_variant(s, damsm)
    G, _ = variant.build()
    G = G.to(device).eval()
    raw = _random_raw(dataclasses.replace(s, batch_size=batch_size), vocab, batch_size, 1, variant.inputs)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    for i in range(batches + 1):
        if i == 1:  # the first batch warms up
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        batch = gan.make_batch(raw, damsm, s.sizes, device)
        with autocast:
            fake = variant.generate(G, batch, torch.randn(batch_size, s.z_dim, device=device))
        (fake.images[-1].float().clamp(-1, 1) * 127.5 + 127.5).to(torch.uint8).cpu()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return round(batches * batch_size / (time.perf_counter() - start), 1)


def bench_data(p, s: gan.GanSettings, batches: int) -> float | None:
    try:
        prepared = Prepared(p.preprocess.out_dir)
        ds = TextImageDataset(prepared, "train", image_size=s.image_size, branches=s.branches,
                              max_words=s.max_words, seed=0)
    except (T2IGANError, ValueError) as exc:  # no prepared data at this size: say so rather than guess
        print(f"  data loading not measured: {exc}", file=sys.stderr)
        return None
    loader = torch.utils.data.DataLoader(ds, batch_size=s.batch_size, shuffle=True, collate_fn=collate,
                                         num_workers=s.workers, drop_last=True)
    it = iter(loader)
    next(it)
    start, n = time.perf_counter(), 0
    for _ in range(batches):
        try:
            n += len(next(it)["images"])
        except StopIteration:
            break
    return round(n / (time.perf_counter() - start), 1)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--variants", nargs="*", help="default: the `variants` entries of params.yaml")
    ap.add_argument("--scales", nargs="*", default=["quick"])
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--image-size", type=int, help="side of the largest branch")
    ap.add_argument("--branches", type=int)
    ap.add_argument("--gf-dim", type=int)
    ap.add_argument("--df-dim", type=int)
    ap.add_argument("--no-damsm", action="store_true", help="leave the DAMSM loss out of the G step")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--gen-batch-size", type=int, default=50, help="batch of the generation timing")
    ap.add_argument("--precision-steps", type=int, default=0,
                    help="also compare this many first training steps in bfloat16 autocast against float32")
    ap.add_argument("--against-original", action="store_true",
                    help="AttnGAN at MODELS.md's four original-code settings (fp32 and bf16, no DAMSM) and the ratios")
    ap.add_argument("--readme", action="store_true", help="with --against-original: write its README.md table")
    ap.add_argument("--out", default="benchmarks/results/throughput.json")
    args = ap.parse_args(argv)

    device = pick_device(args.device)
    tuned = allocator.tune()  # as every stage does (t2igan.stage.run)
    print(f"glibc malloc tuned: {tuned}", file=sys.stderr)
    if args.against_original:
        p = load_params(args.params, {"scale": "paper"})
        ds = dataclasses.replace(DamsmSettings.from_params(p), backbone="cnn", image_size=256, cnn_input=32,
                                 inception_weights=None, inception_sha256=None)  # no DAMSM term: its size is moot
        damsm = gan.FrozenDamsm(*build_encoders(ds, 5450, pretrained=False), device)
        rows = against_original(p, damsm, device, 5450, args.steps, args.warmup)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(rows, indent=2) + "\n")
        text = original_table(rows)
        print(text + f"\ndevice: {rows[0]['device']}, {rows[0]['threads']} threads; written to {out}")
        if args.readme:
            from readme import replace_between  # benchmarks/readme.py, beside this script

            replace_between("against-original", text)
        return
    rows = []
    for scale in args.scales:
        p = load_params(args.params, {"scale": scale})
        overrides = {k: v for k, v in {"batch_size": args.batch_size, "branches": args.branches,
                                        "image_size": args.image_size,
                                        "gf_dim": args.gf_dim, "df_dim": args.df_dim}.items() if v is not None}
        vocab = len(Prepared(p.preprocess.out_dir).vocab) if Path(p.preprocess.out_dir, "vocab.json").is_file() \
            else 5450  # CUB's vocabulary size
        ds = DamsmSettings.from_params(p)  # built untrained (pretrained=False): only its shapes matter
        text, image = build_encoders(ds, vocab, pretrained=False)
        damsm = gan.FrozenDamsm(text, image, device)
        for name in args.variants or p.variants:
            s = dataclasses.replace(gan.GanSettings.from_params(p, name), compile=args.compile, **overrides)
            print(f"{name} @ {scale} on {device}: {s.branches} branch(es) up to {s.image_size} px, "
                  f"batch {s.batch_size}, GF {s.gf_dim} / DF {s.df_dim}", file=sys.stderr)
            row = {"variant": name, "scale": scale, "device": _device_name(device), "batch_size": s.batch_size,
                   "image_size": s.image_size, "branches": s.branches, "gf_dim": s.gf_dim, "df_dim": s.df_dim,
                   "damsm_loss": not args.no_damsm, "compile": args.compile,
                   **bench_training(s, damsm, device, vocab, args.steps, args.warmup, not args.no_damsm),
                   "generate_images_per_s": bench_generation(s, damsm, device, vocab, max(2, args.steps // 2),
                                                                             args.gen_batch_size),
                   "data_images_per_s": bench_data(p, s, max(5, args.steps)),
                   "torch": torch.__version__, "glibc_malloc_tuned": allocator.tune()}
            if args.precision_steps:
                row.update(precision_check(s, damsm, device, vocab, args.precision_steps))
                print(f"  bf16 vs fp32 over {args.precision_steps} steps, largest relative difference: "
                      f"{row['bf16_vs_fp32_max_relative_difference']}", file=sys.stderr)
            rows.append(row)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"\n{'variant':12} {'scale':6} {'batch':>5} {'train img/s':>11} {'gen img/s':>9} {'data img/s':>10} "
          f"{'peak GiB':>8}  time shares of a training step")
    for r in rows:
        shares = ", ".join(f"{k} {v}%" for k, v in r["train_shares_percent"].items())
        data = "-" if r["data_images_per_s"] is None else f"{r['data_images_per_s']:.0f}"
        print(f"{r['variant']:12} {r['scale']:6} {r['batch_size']:5d} {r['train_images_per_s']:11.1f} "
              f"{r['generate_images_per_s']:9.1f} {data:>10} {r['peak_memory_gib']:8.2f}  {shares}")
    print(f"device: {rows[0]['device'] if rows else device}; written to {out}")


if __name__ == "__main__":
    main()
