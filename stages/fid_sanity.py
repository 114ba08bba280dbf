"""Stage fid_sanity: FID of real halves, of noise, and with one image repeated k times (seed 002, ch. 2)."""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from t2igan import io, stage  # noqa: E402
from t2igan.data.preprocess import Prepared  # noqa: E402
from t2igan.metrics import evaluator_features  # noqa: E402
from t2igan.metrics.sanity import fid_sanity  # noqa: E402
from t2igan.score import real_crops  # noqa: E402


def main(p):
    real = real_crops(Prepared(p.preprocess.out_dir), p.scale.image_size)
    out = fid_sanity(real, extractor=evaluator_features.NAME,
                     weights_path=str(Path(p.evaluator.out_dir) / "evaluator.pt"), seed=p.seed,
                     kid_subset_size=p.score.kid_subset_size)
    io.write_json("reports/evaluator/fid_sanity.json", out)
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=110)
    ks = [r["k"] for r in out["repeated"]]
    ax.plot(ks, [r["fid"] for r in out["repeated"]], "o-", color="#4477aa", label="one image repeated k times")
    ax.axhline(out["fid_halves"], color="#228833", linestyle="--", label="two real halves")
    ax.axhline(out["fid_noise"], color="#cc3311", linestyle=":", label="uniform noise")
    ax.set_xscale("log")
    ax.set_yscale("log")  # noise sits three orders of magnitude above the rest
    ax.set_xlabel(f"k (of {out['images_per_set']} images)")
    ax.set_ylabel("FID (evaluator features)")
    ax.set_title("FID sanity: real test images against their other half")
    ax.legend(fontsize=7)
    io.save_png("reports/evaluator/fid_sanity.png", fig)
    plt.close(fig)


if __name__ == "__main__":
    args = stage.parse_args(__doc__)
    stage.run(main, verbosity=args.verbosity)
