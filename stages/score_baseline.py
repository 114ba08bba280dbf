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
from pathlib import Path

import numpy as np

from t2igan import io, stage
from t2igan.data import cub
from t2igan.data.preprocess import Prepared
from t2igan.metrics import registry
from t2igan.score import JUDGES, InceptionWeights, Reference, real_crops, score_features, set_features
from t2igan.train import baseline, gan
from t2igan.train.device import pick_device


def main(p, name: str):
    device = pick_device(p.runtime.device)
    prepared = Prepared(p.preprocess.out_dir)
    sets_dir, reports = Path(p.generate.out_dir) / name, Path("reports") / name
    family, nets, _ = baseline.load_model(Path(p.train.out_dir) / name / "generator.pt", device)
    damsm = baseline.load_judge(family, Path(p.damsm.out_dir) / "damsm", device)
    if not (sets_dir / "final" / "images.npy").is_file():
        raise gan.TrainingError(f"{sets_dir / 'final'}: no generated set here; run generate_baseline@{name} first")
    images = io.StoredImages(sets_dir / "final" / "images.npy")  # read a slice at a time, never whole
    rows = np.load(sets_dir / "final" / "caption_rows.npy")
    reference = Reference.load(p.score.reference_dir)
    # the floor is scored a batch at a time as it is generated, never held whole
    floor = baseline.generate_batches(family, baseline.untrained(family, p.seed, device), prepared, rows,
                                      seed=p.seed, damsm=damsm, batch_size=p.runtime.generate_batch)
    evaluator_path = str(Path(p.evaluator.out_dir) / "evaluator.pt")
    text = family.text_conditional
    # the judges' image codes only for a model that reads captions: the others get "n/a"
    judges = {j: gan.FrozenDamsm.load(Path(p.damsm.out_dir) / j, device) for j in JUDGES} if text else {}
    feats = {k: set_features(x, evaluator_path=evaluator_path, judges=judges, device=device,
                             inception=InceptionWeights.for_params(p), count=len(rows))
             for k, x in (("final", images), ("untrained", floor))}
    feats["real"] = reference.for_rows(prepared, rows)
    sc = p.score
    scores = {k: score_features(feats[k], rows, reference=reference, prepared=prepared, evaluator_path=evaluator_path,
                                seed=p.seed, candidates=p.damsm.r_precision_candidates,
                                folds=p.damsm.r_precision_folds, isc_splits=sc.isc_splits,
                                kid_subset_size=sc.kid_subset_size, kid_subsets=sc.kid_subsets, text=text)
              for k in ("final", "real", "untrained")}
    if not text:
        for row in scores.values():
            row["protocol"]["text_scores"] = f"n/a: {name} ({family.s.model}) never reads a caption"
    if family.reads_test_images:  # e.g. DRAW's reconstruction error and KL per step
        test_rows = prepared.split_indices("test") * cub.N_CAPTIONS  # each test image with its first caption
        cond = baseline.row_conditions(family, prepared, test_rows, seed=p.seed, damsm=damsm, device=device)
        real = real_crops(prepared, p.scale.image_size)
        scores["final"].update(family.test_scores(nets, real, cond, seed=p.seed))
    io.write_json(reports / "scores.json", scores)
    io.write_json(reports / "metrics.json", registry.headline(scores["final"]))  # what `dvc metrics` shows


if __name__ == "__main__":
    args = stage.parse_args(__doc__, "NAME", "a key of `baselines` in params.yaml")
    stage.run(lambda p: main(p, args.name), verbosity=args.verbosity)
