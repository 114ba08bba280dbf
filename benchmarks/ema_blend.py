"""What a trained GAN's scored generator is made of (issue 20, item 8).

The pipeline scores G's exponential moving average.  This reads a finished training run's checkpoint
(``resume/train@<variant>/checkpoint.pt``, the raw G, its EMA and their settings, which the stage
keeps after it succeeds only when run as ``T2IGAN_KEEP_RESUME=1 dvc repro -f -s train@<variant>``)
and scores, on the same
test captions (the first of each test image) with the in-pipeline evaluator's IS / FID / KID:

- ``ema``: the EMA generator, what ``generate@`` and ``score@`` use;
- ``raw``: the generator the EMA averages, as the last training step left it;
- ``untrained``: G as the run's seed built it (the floor);
- ``blend``: (1 - a) * raw + a * untrained in every parameter, buffers from raw, where ``a`` is the share
  the untrained G keeps in an EMA without warm-up after the run's steps (0.999^steps): the EMA's
  arithmetic without its trajectory.

For each it also gives the share of saturated pixels (0 or 255 in some channel), and, for spectrally
normalised layers (DualAttnGAN), how far the eval-mode weight's true largest singular value is from 1:
in eval mode torch's ``spectral_norm`` divides by u^T W v with the stored u, v, which are the raw G's,
so a weight averaged with another network's is divided by the wrong sigma.

    python benchmarks/ema_blend.py dualattngan --out benchmarks/results/ema-blend-dualattngan.json
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import numpy as np
import torch

from t2igan import io
from t2igan.config import load_params
from t2igan.data.preprocess import Prepared
from t2igan.generate import generate
from t2igan.metrics import evaluator_features, fidelity
from t2igan.score import real_crops
from t2igan.stage import RESUME_DIR
from t2igan.train import checksummed
from t2igan.train.gan import FrozenDamsm, GanSettings, make_variant


def spectral_norms(G: torch.nn.Module) -> list[float]:
    """The largest singular value of each spectrally normalised weight as the eval-mode forward uses it."""
    out = []
    for m in G.modules():
        if hasattr(m, "parametrizations") and "weight" in m.parametrizations:
            w = m.weight.detach().flatten(1).float()
            out.append(float(torch.linalg.matrix_norm(w, ord=2)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("variant")
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    p = load_params("params.yaml")
    device = torch.device("cpu")
    path = RESUME_DIR / f"train@{args.variant}" / "checkpoint.pt"
    state = checksummed.load(path)
    if state is None:
        sys.exit(f"{path}: none; train with it kept: T2IGAN_KEEP_RESUME=1 dvc repro -f -s train@{args.variant}")
    s = GanSettings(**{k: v for k, v in state["settings"].items() if k != "code"})
    damsm = FrozenDamsm.load(Path(p.damsm.out_dir) / "damsm", device)
    variant = make_variant(s, damsm)
    if variant.inputs:
        sys.exit(f"{args.variant} takes inputs ({', '.join(variant.inputs)}); this script scores caption-only variants")
    torch.manual_seed(s.seed)  # as Trainer.create builds it: the untrained G
    untrained, _ = variant.build()
    nets = {"untrained": untrained.eval()}
    for key, name in (("G", "raw"), ("G_ema", "ema")):
        G = copy.deepcopy(untrained)
        G.load_state_dict(state[key])
        nets[name] = G.eval()
    prepared = Prepared(p.preprocess.out_dir)
    per_epoch = len(prepared.split_indices("train")) // s.batch_size  # the loader drops the last partial batch
    if s.steps_per_epoch is not None:
        per_epoch = min(per_epoch, s.steps_per_epoch)
    epochs = len(state["history"])
    steps = epochs * per_epoch
    share = 0.999 ** steps
    blend = copy.deepcopy(nets["raw"])
    with torch.no_grad():
        for b, u in zip(blend.parameters(), untrained.parameters()):
            b.lerp_(u, share)
    nets["blend"] = blend.eval()

    test = prepared.split_indices("test")
    n = min(args.images, len(test))
    rows = test[:n] * 10
    real = real_crops(prepared, s.image_size)[:n]
    results = {}
    for name, G in nets.items():
        with torch.no_grad():
            images = generate(variant, G, damsm, prepared, rows, max_words=s.max_words, seed=p.seed)
        fid = fidelity.score(images, real, extractor=evaluator_features.NAME,
                             weights_path=str(Path(p.evaluator.out_dir) / "evaluator.pt"), seed=p.seed)
        sigmas = spectral_norms(G)
        results[name] = {"fid": round(fid["fid"], 2), "is": round(fid["is_mean"], 3), "kid": round(fid["kid_mean"], 4),
                         "saturated_pixels": round(float(((images == 0) | (images == 255)).any(-1).mean()), 4),
                         **({"sigma_max": round(max(sigmas), 3), "sigma_product": float(np.prod(sigmas)),
                             "sn_layers": len(sigmas)} if sigmas else {})}
        print(name, results[name], flush=True)
    report = {"variant": args.variant, "ema_warmup": s.ema_warmup, "epochs": epochs, "steps": steps,
              "untrained_share_without_warmup": round(share, 4), "images": n, "results": results}
    if args.out:
        io.write_json(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
