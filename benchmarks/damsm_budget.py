"""How the DAMSM's real-image R-precision grows with its training budget, and what a step costs.

Run by hand (not in CI), from the project root, after `dvc repro preprocess`:

    python benchmarks/damsm_budget.py --epochs 16 32 64                   # the quick settings
    python benchmarks/damsm_budget.py --epochs 16 32 --set cnn_width=32 cnn_input=64
    python benchmarks/damsm_budget.py --time-steps 10 --set backbone=inception_v3 image_size=256 \
        cnn_input=299 dropout=0.5                                         # paper-scale step time

Training goes through `t2igan.train.damsm.train` itself: each budget in --epochs continues the
same run (raising only the epoch count resumes it), so the points lie on one learning curve.
R-precision is the stage's protocol (1 true + 99 other-class captions, 10 folds).  --time-steps
times steps on random batches instead (randomly initialised encoders; no weights needed).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import torch

from t2igan.config import load_params
from t2igan.data.preprocess import Prepared
from t2igan.train import damsm
from t2igan.train.device import pick_device


def _value(text: str, like):
    """``text`` as the type of the setting's current value (a None setting takes int, float or str)."""
    if text == "none":
        return None
    for cast in ((type(like),) if like is not None else (int, float, str)):
        try:
            return cast(text)
        except ValueError:
            continue
    raise SystemExit(f"--set: {text!r} is not a {type(like).__name__}")


def parse_overrides(pairs: list[str], s: damsm.DamsmSettings) -> damsm.DamsmSettings:
    names = [f.name for f in dataclasses.fields(s)]
    changes = {}
    for pair in pairs:
        key, _, text = pair.partition("=")
        if key not in names:
            raise SystemExit(f"--set {pair}: unknown setting {key!r}; one of {', '.join(names)}")
        changes[key] = _value(text, getattr(s, key))
    return dataclasses.replace(s, **changes)


def learning_curve(prepared: Prepared, s: damsm.DamsmSettings, budgets: list[int], device: str) -> list[dict]:
    points = []
    with tempfile.TemporaryDirectory() as tmp:
        for epochs in sorted(budgets):
            run = dataclasses.replace(s, epochs=epochs)
            history = damsm.train(prepared, tmp, run, device=device, progress=False)
            text, image = damsm.export(tmp, run, len(prepared.vocab))
            rp = damsm.real_r_precision(text, image, prepared, run, seed=s.seed)
            points.append({"epochs": epochs, "r_precision_real": rp["real"]["mean"],
                           "r_precision_shuffled": rp["shuffled"]["mean"],
                           "seconds_per_epoch": sum(h["seconds"] for h in history) / len(history),
                           "val_w": history[-1]["val_w0"] + history[-1]["val_w1"],
                           "val_s": history[-1]["val_s0"] + history[-1]["val_s1"]})
            print(json.dumps(points[-1]), flush=True)
    return points


def step_time(s: damsm.DamsmSettings, device: str, steps: int, vocab: int = 5000) -> dict:
    dev = pick_device(device)
    text, image = damsm.build_encoders(s, vocab, pretrained=False)
    text.to(dev).train()
    image.to(dev).train()
    opt = torch.optim.Adam([p for m in (text, image) for p in m.parameters() if p.requires_grad], lr=s.lr)
    g = torch.Generator().manual_seed(0)
    b, side = s.batch_size, s.image_size
    lengths = torch.randint(8, s.max_words + 1, (b,), generator=g)
    captions = torch.randint(1, vocab, (b, s.max_words), generator=g)
    captions[torch.arange(s.max_words)[None, :] >= lengths[:, None]] = 0
    batch = {"images": torch.randint(0, 256, (b, 3, side, side), dtype=torch.uint8, generator=g),
             "captions": captions, "lengths": lengths, "class_ids": torch.arange(b)}
    times = []
    for i in range(steps + 2):  # two warm-up steps
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss = damsm._epoch_loss(text, image, batch, s)["total"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    per_step = sum(times) / len(times)
    return {"seconds_per_step": per_step, "images_per_second": b / per_step,
            "cub_epoch_minutes": 8855 / b * per_step / 60}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--prepared", default=None, help="default: preprocess.out_dir of the params")
    ap.add_argument("--epochs", type=int, nargs="*", default=[16])
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="DamsmSettings overrides")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--time-steps", type=int, help="time this many steps on random batches instead")
    ap.add_argument("--out", help="write the results here (JSON)")
    args = ap.parse_args()
    s = parse_overrides(args.set, damsm.DamsmSettings.from_params(load_params(args.params)))
    dev = pick_device(args.device)
    result = {"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
              "threads": torch.get_num_threads(), "torch": torch.__version__, "settings": dataclasses.asdict(s)}
    if args.time_steps:
        result["timing"] = step_time(s, args.device, args.time_steps)
    else:
        prepared = Prepared(args.prepared or load_params(args.params).preprocess.out_dir)
        result["curve"] = learning_curve(prepared, s, args.epochs, args.device)
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
