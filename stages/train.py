"""Stage train@<variant>: train a GAN variant against the pretrained DAMSM.

    python stages/train.py attngan      # runtime.gpus processes: with 4, it becomes
                                        # torchrun --standalone --nproc_per_node=4 stages/train.py attngan
"""
import os
import sys
from pathlib import Path

from t2igan import distributed, io, live, stage
from t2igan.data.preprocess import Prepared
from t2igan.train import gan


def main(p, variant: str):
    s = gan.GanSettings.from_params(p, variant)
    reports, out, work = Path("reports") / variant, Path(p.train.out_dir) / variant, stage.scratch()
    # trained in resume/train@<variant> (checkpoints, snapshots, grids: what a resumed run needs), then
    # published to the outputs, so none of them is a `persist` output and DVC's run cache stays on
    history = gan.train(Prepared(p.preprocess.out_dir), Path(p.damsm.out_dir) / "damsm", work, s,
                        data_dirs=p.data_dirs, samples_dir=work / "samples",
                        live=lambda h: live.write_history(reports / "live", h, live.metric_names(h[-1])))
    if not distributed.main_process():
        return
    for name in ("generator.pt", "snapshots"):
        stage.publish(work / name, out / name)
    stage.publish(work / "samples", reports / "samples")
    last = history[-1]
    io.write_json(reports / "train.json", {
        "epochs": last["epoch"], "seconds": round(sum(h["seconds"] for h in history), 1),
        "images_per_s": round(sum(h["images_per_s"] for h in history) / len(history), 2),
        **{f"final_{k}": round(v, 4) for k, v in last.items() if k[:2] in ("d_", "g_")},
        "image_size": s.image_size, "branches": s.branches, "batch_size": s.batch_size, "seed": s.seed,
        "processes": int(os.environ.get("WORLD_SIZE", "1")),
    })


if __name__ == "__main__":
    args = stage.parse_args(__doc__, "VARIANT", "a key of `variants` in params.yaml")
    distributed.relaunch(stage.runtime_params().gpus, sys.argv)
    stage.run(lambda p: main(p, stage.variant_name(p, args.name)), verbosity=args.verbosity)
