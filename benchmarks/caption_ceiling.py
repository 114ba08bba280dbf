"""The R-precision an oracle judge would reach on a prepared data set: the ceiling set by the captions.

The oracle knows every true attribute of each image and scores a caption 1 when everything the
caption names is true of the image, else 0.  It is run under the same protocol as the DAMSM
R-precision (1 true caption + 99 captions of other classes, 10 folds), so a negative caption that
happens to be fully true of the image ties with the true one.  Ties count as misses (``strict``)
or are broken at random (``random_ties``).  Only synthetic data (and CUB with
caption_attributes.txt) carry the caption attribute ids this needs.

    python benchmarks/caption_ceiling.py data/prepared
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from t2igan.data.preprocess import Prepared
from t2igan.metrics.r_precision import sample_negatives


def caption_ceiling(prepared: Prepared, *, candidates: int = 100, folds: int = 10, seed: int = 0) -> dict:
    rows_img = prepared.split_indices("test")
    attrs = prepared.index["attributes"].astype(bool)                  # [N, 312]
    classes = prepared.index["class_ids"]
    cap_rows = (rows_img[:, None] * 10 + np.arange(10)).ravel()
    item_img = np.repeat(rows_img, 10)
    named = [prepared.caption_attributes(int(r)).astype(np.int64) - 1 for r in cap_rows]
    if not any(len(n) for n in named):
        raise ValueError(f"{prepared.root}: captions carry no attribute ids; the ceiling needs them")
    rng = np.random.default_rng(seed)
    neg = sample_negatives(classes[item_img], classes[item_img], candidates - 1, rng)   # caption indices
    consistent = np.zeros(neg.shape, bool)
    for i in range(len(cap_rows)):
        a = attrs[item_img[i]]
        consistent[i] = [a[named[j]].all() for j in neg[i]]
    ties = consistent.sum(1)
    strict = ties == 0
    random_ties = 1.0 / (1 + ties)            # expected hit rate when ties are broken at random
    fold = lambda v: [float(f.mean()) for f in np.array_split(v, folds)]  # noqa: E731
    return {"strict": float(np.mean(fold(strict))), "random_ties": float(np.mean(fold(random_ties))),
            "mean_consistent_negatives": float(ties.mean()),
            "facts_per_caption": float(np.mean([len(n) for n in named])),
            "captions": len(cap_rows), "candidates": candidates}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("prepared", nargs="?", default="data/prepared")
    print(json.dumps(caption_ceiling(Prepared(ap.parse_args().prepared)), indent=2))
