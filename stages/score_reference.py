"""Stage score_reference: the real test set as every score stage reads it, computed once per graph.

    python stages/score_reference.py

data/reference/reference.pt: for each test image's crop (at the scale's image size, cropped as the
generators' training crops, without the random offset and flip), the evaluator's features, species
logits and attribute logits, and each DAMSM judge's image code; and each judge's sentence codes of
every test caption (the R-precision pool).  Every score@ / score_baseline@ stage reads them: the
`real` row of a set is these features indexed by its caption rows, never its images tiled per caption.
"""
import time
from pathlib import Path

from t2igan import stage
from t2igan.data.preprocess import Prepared
from t2igan.score import JUDGES, InceptionWeights, Reference
from t2igan.train import gan
from t2igan.train.device import pick_device


def main(p):
    start = time.perf_counter()
    prepared = Prepared(p.preprocess.out_dir)
    device = pick_device(p.runtime.device)
    judges = {j: gan.FrozenDamsm.load(Path(p.damsm.out_dir) / j, device) for j in JUDGES}
    reference = Reference.compute(prepared, image_size=p.scale.image_size,
                                  evaluator_path=str(Path(p.evaluator.out_dir) / "evaluator.pt"), judges=judges,
                                  max_words=p.preprocess.max_words, seed=p.seed, device=device,
                                  inception=InceptionWeights.for_params(p))
    reference.save(p.score.reference_dir)
    print(f"{len(reference.features)} test images and {len(next(iter(reference.pools.values())))} captions "
          f"in {stage.elapsed(start)} s")


if __name__ == "__main__":
    args = stage.parse_args(__doc__)
    stage.run(main, verbosity=args.verbosity)
