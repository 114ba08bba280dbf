"""Stage crop_refs: 50 x 50 reference patches at visible part locations (RaGAN)."""
import time

import numpy as np

from t2igan import io, stage
from t2igan.data.refs import crop_refs
from t2igan.report import data_figures


def main(p):
    start = time.perf_counter()
    stats = crop_refs(p.data.out_dir, p.preprocess.out_dir, p.crop_refs.out_dir,
                      patch_size=p.crop_refs.patch_size, seed=p.seed, workers=p.runtime.workers)
    stats["seconds"] = stage.elapsed(start)
    io.write_json("reports/data/refs.json", stats)
    out = p.crop_refs.out_dir
    with np.load(f"{out}/refs.npz") as z:
        parts = z["patch_part"]
    data_figures.patch_sheet(np.load(f"{out}/patches.npy", mmap_mode="r"), parts, list(stats["patches_per_part"]),
                             "reports/data/reference_patches.png", seed=p.seed)


if __name__ == "__main__":
    args = stage.parse_args(__doc__)
    stage.run(main, verbosity=args.verbosity)
