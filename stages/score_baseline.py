"""Stage score_baseline@<name>: the scores of a baseline's generated set, with reference rows.

    python stages/score_baseline.py dcgan

reports/<name>/scores.json has the rows `final`, `real` (each caption's real test image) and
`untrained` (a freshly initialised network of the family: the floor), each with IS, FID and KID
through the evaluator's features, exactly as the text-to-image variants are scored.
R-precision and attribute accuracy measure whether an image shows its caption: they are
computed for a sentence-conditioned DRAW and are "n/a" for every model that never reads one.
DRAW adds its own metrics on the test images (`draw`): reconstruction error, KL per step,
inactive latent variables and the variance law (seed 002).
"""
import sys
import time
from pathlib import Path

import numpy as np
import torch

from t2igan import io, stage
from t2igan.baselines.draw import DRAWBaseline
from t2igan.data import cub
from t2igan.data.preprocess import Prepared
from t2igan.metrics import evaluator_features, fidelity
from t2igan.score import caption_pool, real_crops, score_set
from t2igan.train import baseline, gan

# the provenance fields of fidelity.score kept with every row (as t2igan.score.score_set keeps them)
PROTOCOL = ("extractor", "weights_file", "weights_sha256", "n_generated", "n_real", "resize", "seed", "isc_splits",
            "kid_subset_size_used", "notes")
TEXT_SCORES = ("r_precision_damsm", "r_precision_damsm_std", "r_precision_evaluator_damsm",
               "r_precision_evaluator_damsm_std", "attribute_accuracy")


def main(p, name: str):
    start = time.perf_counter()
    device = torch.device("cpu")
    prepared = Prepared(p.preprocess.out_dir)
    sets_dir, reports = Path(p.generate.out_dir) / name, Path("reports") / name
    family, nets, _ = baseline.load_model(Path(p.train.out_dir) / name / "generator.pt", device)
    damsm = baseline.load_judge(family, Path(p.damsm.out_dir) / "damsm", device)
    if not (sets_dir / "final" / "images.npy").is_file():
        raise gan.TrainingError(f"{sets_dir / 'final'}: no generated set here; run generate_baseline@{name} first")
    images = np.load(sets_dir / "final" / "images.npy", mmap_mode="r")
    rows = np.load(sets_dir / "final" / "caption_rows.npy")
    real = real_crops(prepared, p.scale.image_size)
    test_position = {int(r): i for i, r in enumerate(prepared.split_indices("test"))}
    floor = baseline.generate(family, baseline.untrained(family, p.seed, device), prepared, rows, seed=p.seed,
                              damsm=damsm, batch_size=p.generate.batch_size)
    sets = {"final": np.asarray(images), "real": real[[test_position[int(r) // cub.N_CAPTIONS] for r in rows]],
            "untrained": floor}
    evaluator_path = str(Path(p.evaluator.out_dir) / "evaluator.pt")
    sc = p.score
    if family.text_conditional:
        damsms = {j: gan.FrozenDamsm.load(Path(p.damsm.out_dir) / j, device) for j in ("damsm", "evaluator_damsm")}
        judges = {j: (d, caption_pool(d, prepared, max_words=p.preprocess.max_words, seed=p.seed))
                  for j, d in damsms.items()}
        scores = {k: score_set(x, rows, prepared=prepared, real=real, judges=judges, evaluator_path=evaluator_path,
                               seed=p.seed, candidates=p.damsm.r_precision_candidates,
                               folds=p.damsm.r_precision_folds, isc_splits=sc.isc_splits,
                               kid_subset_size=sc.kid_subset_size, kid_subsets=sc.kid_subsets)
                  for k, x in sets.items()}
    else:
        scores = {}
        for k, x in sets.items():
            fid = fidelity.score(x, real, extractor=evaluator_features.NAME, weights_path=evaluator_path,
                                 isc_splits=sc.isc_splits, kid_subset_size=sc.kid_subset_size,
                                 kid_subsets=sc.kid_subsets, seed=p.seed)
            scores[k] = {"is": fid["is_mean"], "is_std": fid["is_std"], "fid": fid["fid"], "kid": fid["kid_mean"],
                         "kid_std": fid["kid_std"], **{key: "n/a" for key in TEXT_SCORES}, "images": int(len(x)),
                         "protocol": {key: fid[key] for key in PROTOCOL}}
            scores[k]["protocol"]["text_scores"] = f"n/a: {name} ({family.s.model}) never reads a caption"
    if isinstance(family, DRAWBaseline):
        test_rows = prepared.split_indices("test") * cub.N_CAPTIONS  # each test image with its first caption
        cond = baseline.row_conditions(family, prepared, test_rows, seed=p.seed, damsm=damsm, device=device)
        scores["final"]["draw"] = family.statistics(nets, real, cond, seed=p.seed)
    io.write_json(reports / "scores.json", {**scores, "seconds": stage.elapsed(start)})


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python stages/score_baseline.py NAME  (a key of `baselines` in params.yaml)")
    stage.run(lambda p: main(p, sys.argv[1]))
