"""Stage preprocess: captions to word ids, bird crops packed, data set statistics and figures."""
import time

import numpy as np

from t2igan import io, stage
from t2igan.data import cub
from t2igan.data.preprocess import Prepared, preprocess
from t2igan.report import data_figures

REPORTS = "reports/data"


def main(p):
    start = time.perf_counter()
    stats = preprocess(p.data.out_dir, p.preprocess.out_dir, image_size=p.scale.image_size,
                       on_bad_image=p.data.on_bad_image, workers=p.runtime.workers)
    stats["seconds"] = stage.elapsed(start)
    prepared = Prepared(p.preprocess.out_dir)
    lengths = np.diff(prepared.captions["offsets"])
    data_figures.caption_length_histogram(lengths, f"{REPORTS}/caption_lengths.png", max_words=p.preprocess.max_words)
    data_figures.attribute_frequency(prepared.index["attributes"], prepared.meta["attribute_names"],
                                     f"{REPORTS}/attribute_frequency.png")
    data_figures.dataset_contact_sheet(cub.load_index(p.data.out_dir), f"{REPORTS}/contact_sheet.png",
                                       n=p.preprocess.contact_sheet_images, seed=p.seed)
    hist = np.bincount(lengths)
    stats["caption_length_histogram"] = {f"{k:02d}": int(v) for k, v in enumerate(hist) if v}  # keys sort right
    io.write_json(f"{REPORTS}/stats.json", stats)


if __name__ == "__main__":
    args = stage.parse_args(__doc__)
    stage.run(main, verbosity=args.verbosity)
