"""Stage data: the data set in CUB's on-disk format (CUB downloaded, or synthetic birds)."""
import time
from pathlib import Path

from t2igan import io, stage
from t2igan.data.cub_fetch import prepare_cub
from t2igan.synthbirds import generate


def main(p):
    start = time.perf_counter()
    out = Path(p.data.out_dir)
    if p.dataset == "synthetic":
        info = generate(out, n_images=p.scale.synthetic_images, n_classes=p.scale.synthetic_classes,
                        seed=p.seed, workers=p.runtime.workers)
    else:
        prepare_cub(p.data.cub, Path(p.data.raw_dir), out)
        info = {}
    io.write_json("reports/data/data.json", {"dataset": p.dataset, "seconds": stage.elapsed(start),
                                             **{k: v for k, v in (info or {}).items() if k != "seconds"}})


if __name__ == "__main__":
    args = stage.parse_args(__doc__)
    stage.run(main, verbosity=args.verbosity)
