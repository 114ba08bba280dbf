"""Stage score@<variant>: every score of the generated sets, with reference rows and per-epoch curves.

    python stages/score.py attngan

reports/<variant>/scores.json: the final set, and two reference rows scored the same way on
the same captions: `real` (each caption's own real test image: the ceiling) and `untrained`
(a freshly initialised generator: the floor).  reports/<variant>/score_epochs.json: the
scores of every snapshot set (one caption per test image), for curves over epochs.

A variant that takes a reference (RaGAN) also gets, per row, `reference_similarity` (RaGAN's
similarity of each image to its caption's patch, through the evaluator DAMSM's image encoder,
not the generator's judge), and a `black_reference` row: the same captions and noise generated
with an all-black reference, its similarity measured against the patch it did not see.  The final
row adds `reference_similarity_shuffled` (each image against another row's patch: chance) and
`black_reference_change` (mean absolute pixel difference to the black-reference images, 0..1).
"""
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from t2igan import io, stage  # noqa: E402
from t2igan.data.preprocess import Prepared  # noqa: E402
from t2igan.generate import generate  # noqa: E402
from t2igan.score import (  # noqa: E402
    JUDGES,
    Reference,
    SetFeatures,
    mean_abs_difference,
    real_crops,
    reference_positions,
    reference_similarity,
    score_features,
    set_features,
)
from t2igan.train import gan  # noqa: E402

CURVES = ("is", "fid", "kid", "r_precision_damsm", "r_precision_evaluator_damsm", "attribute_accuracy")


def _load_set(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not (path / "images.npy").is_file():
        raise gan.TrainingError(f"{path}: no generated set here; run the generate stage first")
    return np.load(path / "images.npy", mmap_mode="r"), np.load(path / "caption_rows.npy")


def main(p, name: str):
    device = torch.device("cpu")
    prepared = Prepared(p.preprocess.out_dir)
    models, sets_dir, reports = Path(p.train.out_dir), Path(p.generate.out_dir) / name, Path("reports") / name
    damsms = {j: gan.FrozenDamsm.load(Path(p.damsm.out_dir) / j, device) for j in JUDGES}
    reference = Reference.load(p.score.reference_dir)
    sc, evaluator_path = p.score, str(Path(p.evaluator.out_dir) / "evaluator.pt")
    common = dict(reference=reference, prepared=prepared, evaluator_path=evaluator_path, seed=p.seed,
                  candidates=p.damsm.r_precision_candidates, folds=p.damsm.r_precision_folds,
                  isc_splits=sc.isc_splits, kid_subset_size=sc.kid_subset_size, kid_subsets=sc.kid_subsets)

    def features(images: np.ndarray) -> SetFeatures:
        return set_features(images, evaluator_path=evaluator_path, judges=damsms)

    images, rows = _load_set(sets_dir / "final")
    variant, _, _ = gan.load_generator(models / name / "generator.pt", damsms["damsm"], device)
    references = gan.load_references(variant, p.crop_refs.out_dir, prepared)
    patches = references.for_rows(rows) if references else None
    torch.manual_seed(p.seed)
    untrained, _ = variant.build()
    floor = generate(variant, untrained.eval(), damsms["damsm"], prepared, rows, max_words=p.preprocess.max_words,
                     seed=p.seed, batch_size=p.generate.batch_size, references=patches)
    sets = {"final": images, "untrained": floor}
    if references:
        sets["black_reference"] = _load_set(sets_dir / "final_black")[0]
    feats = {k: features(x) for k, x in sets.items()}
    feats["real"] = reference.for_rows(prepared, rows)
    order = ["final", "real", "untrained"] + (["black_reference"] if references else [])
    scores = {k: score_features(feats[k], rows, **common) for k in order}
    if references:
        judge = damsms["evaluator_damsm"]
        sets["real"] = real_crops(prepared, p.scale.image_size)[reference_positions(prepared, rows)]
        for k, x in sets.items():
            scores[k]["reference_similarity"] = reference_similarity(judge, x, patches)
        shuffled = patches[np.random.default_rng([p.seed, 11]).permutation(len(patches))]
        scores["final"]["reference_similarity_shuffled"] = reference_similarity(judge, sets["final"], shuffled)
        scores["final"]["black_reference_change"] = mean_abs_difference(sets["final"], sets["black_reference"])

    curves = []
    epochs = gan.snapshot_epochs(p.scale.gan_epochs, p.train.snapshot_every)
    snapshot_sets = [sets_dir / f"epoch_{e:04d}" / "images.npy" for e in epochs]
    gan.missing_snapshots(snapshot_sets, epochs, "generated snapshot set", f"dvc repro generate@{name}")
    for epoch, path in zip(epochs, snapshot_sets):
        snap_images, snap_rows = _load_set(path.parent)
        same = np.array_equal(snap_rows, rows) and np.array_equal(snap_images, images)  # the final set again
        s = score_features(feats["final"] if same else features(snap_images), snap_rows, **common)
        curves.append({"epoch": epoch, **{k: s[k] for k in CURVES}})
    io.write_json(reports / "scores.json", scores)
    io.write_json(reports / "score_epochs.json", curves)
    _plot(curves, scores, reports / "score_epochs.png", name)


def _plot(curves: list[dict], scores: dict, path: Path, name: str) -> None:
    fig, axes = plt.subplots(2, 3, figsize=(11, 6), dpi=100)
    epochs = [c["epoch"] for c in curves]
    for ax, key in zip(axes.ravel(), CURVES):
        ax.plot(epochs, [c[key] for c in curves], "o-", color="#4477aa", label=f"{name} (snapshots)")
        for ref, style in (("real", "--"), ("untrained", ":")):
            ax.axhline(scores[ref][key], color="#cc3311" if ref == "real" else "#777777", linestyle=style, label=ref)
        ax.set_title(key.replace("_", " "), fontsize=9)
        ax.set_xlabel("epoch")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"{name}: scores of each snapshot (one caption per test image) against the reference rows")
    fig.tight_layout()
    io.save_png(path, fig)
    plt.close(fig)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python stages/score.py NAME  (a key of `variants` in params.yaml)")
    stage.run(lambda p: main(p, stage.variant_name(p, sys.argv[1])))
