"""Stages pretrain_damsm and evaluator_damsm: DAMSM encoders, their losses and R-precision.

    python stages/pretrain_damsm.py damsm             # the encoders the GANs train against
    python stages/pretrain_damsm.py evaluator_damsm   # an independently seeded twin, to judge them
"""
from pathlib import Path

from t2igan import io, live, stage
from t2igan.data.preprocess import Prepared
from t2igan.train import damsm

NAMES = ("damsm", "evaluator_damsm")


def main(p, name: str):
    s = damsm.DamsmSettings.from_params(p, evaluator=name == "evaluator_damsm")
    prepared = Prepared(p.preprocess.out_dir)
    out_dir, work = Path(p.damsm.out_dir) / name, stage.scratch()  # resume/pretrain_damsm@<name> while it trains
    reports = Path("reports") / name
    names = {f"{split}_{k}": f"{split}/{k}" for split in ("train", "val") for k in damsm.LOSS_TERMS}
    history = damsm.train(prepared, work, s, device=p.runtime.device,
                          live=lambda h: live.write_history(reports / "live", h, names))
    text, image = damsm.export(work, s, len(prepared.vocab))
    for encoder in ("text_encoder.pt", "image_encoder.pt"):
        stage.publish(work / encoder, out_dir / encoder)
    rp = damsm.real_r_precision(text, image, prepared, s, candidates=p.damsm.r_precision_candidates,
                                folds=p.damsm.r_precision_folds, seed=p.seed)
    oracle = damsm.caption_ceiling(prepared, candidates=p.damsm.r_precision_candidates,
                                   folds=p.damsm.r_precision_folds, seed=p.seed)
    last = history[-1]
    # metrics.json: the numbers `dvc metrics` shows; run.json beside it: how they were made, and the time
    io.write_json(reports / "metrics.json", {
        "r_precision_real": round(rp["real"]["mean"], 4), "r_precision_real_std": round(rp["real"]["std"], 4),
        "r_precision_shuffled": round(rp["shuffled"]["mean"], 4),
        # the ceiling the captions allow: a judge knowing every true attribute (ties: misses / broken at random)
        **({"r_precision_oracle": round(oracle["strict"], 4),
            "r_precision_oracle_random_ties": round(oracle["random_ties"], 4)} if oracle else {}),
        **{f"final_{k}": round(last[k], 4) for k in names},
    })
    io.write_json(reports / "run.json", {
        "r_precision_protocol": f"{rp['real']['candidates']} candidates (1 true + others from other classes), "
                                f"cosine on DAMSM codes, {p.damsm.r_precision_folds} folds, "
                                f"{rp['real']['n']} test captions of {rp['images']} images, seed {p.seed}",
        "epochs": last["epoch"], "seconds_per_epoch": round(sum(h["seconds"] for h in history) / len(history), 2),
        "backbone": s.backbone, "image_size": s.image_size, "encoder_input": s.cnn_input, "seed": s.seed,
        # weights.random_for_tests: the backbone was random (test only), so is every judgement made with it
        **({"inception_weights": "RANDOM (test only)"} if s.inception_sha256 else {}),
    })


if __name__ == "__main__":
    args = stage.parse_args(__doc__, "NAME", "which DAMSM to train", choices=NAMES)
    stage.run(lambda p: main(p, args.name), verbosity=args.verbosity)
