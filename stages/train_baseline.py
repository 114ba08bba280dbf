"""Stage train_baseline@<name>: train a baseline (DCGAN, WGAN, WGAN-GP, DRAW) with its own loop.

    python stages/train_baseline.py dcgan
"""
from pathlib import Path

from t2igan import io, live, stage
from t2igan.baselines.base import BaselineSettings
from t2igan.data.preprocess import Prepared
from t2igan.train import baseline


def _keys(history: list[dict]) -> dict:
    """Every key of any epoch: a G that steps every fifth batch may miss an epoch's row."""
    return {k: None for row in history for k in row}


def main(p, name: str):
    s = BaselineSettings.from_params(p, name)
    reports, work = Path("reports") / name, stage.scratch()  # resume/train_baseline@<name> while it trains
    history = baseline.train(Prepared(p.preprocess.out_dir), work, s,
                             damsm_dir=Path(p.damsm.out_dir) / "damsm", samples_dir=work / "samples",
                             live=lambda h: live.write_history(reports / "live", h, live.metric_names(_keys(h))))
    stage.publish(work / "generator.pt", Path(p.train.out_dir) / name / "generator.pt")
    stage.publish(work / "samples", reports / "samples")
    last = history[-1]
    io.write_json(reports / "train.json", {
        "epochs": last["epoch"], "seconds": round(sum(h["seconds"] for h in history), 1),
        "images_per_s": round(sum(h["images_per_s"] for h in history) / len(history), 2),
        **{f"final_{k}": round(v, 4) for k, v in last.items() if k not in ("epoch", "seconds", "images_per_s")},
        "image_size": s.image_size, "seed": s.seed, "model": s.model,
    })


if __name__ == "__main__":
    args = stage.parse_args(__doc__, "NAME", "a key of `baselines` in params.yaml")
    stage.run(lambda p: main(p, args.name), verbosity=args.verbosity)
