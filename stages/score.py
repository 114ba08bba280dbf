"""Stage score@<variant>: every score of the generated sets, with reference rows and per-epoch curves.

    python stages/score.py attngan

reports/<variant>/scores.json: the final set, and two reference rows scored the same way on
the same captions: `real` (each caption's own real test image: the ceiling) and `untrained`
(a freshly initialised generator: the floor).  reports/<variant>/score_epochs.json: the
scores of every kept snapshot on ``score.snapshot_images`` captions (one per test image, the
final set's choice), for curves over epochs.  The floor and the snapshots are generated here
and scored a batch at a time, never stored: only their features are kept, so memory does not
grow with the number of images (the final snapshot, the final generator again at one caption
per image, reuses the final set's features).

A variant that takes input images besides the caption (``Variant.inputs``; RaGAN: ``reference``, a
patch) is also scored on its first input, say `reference`: per row, `reference_similarity` (the
family's ``input_similarity`` of each image to its caption's input, through the evaluator DAMSM's
image encoder, not the generator's judge), and a `black_reference` row: the same captions and noise
generated with all-black inputs (generate@'s final_black), its similarity measured against the input
it did not see.  The final row adds `reference_similarity_shuffled` (each image against another
row's input: chance) and `black_reference_change` (mean absolute pixel difference to the
black-input images, 0..1).
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from t2igan import io, stage  # noqa: E402
from t2igan.data.preprocess import Prepared  # noqa: E402
from t2igan.generate import final_rows, generate_batches  # noqa: E402
from t2igan.metrics import registry  # noqa: E402
from t2igan.score import (  # noqa: E402
    JUDGES,
    InceptionWeights,
    InputJudge,
    Reference,
    SetFeatures,
    batch_size_for,
    input_similarity,
    mean_abs_difference,
    real_crops,
    reference_positions,
    score_features,
    set_features,
)
from t2igan.train import gan  # noqa: E402
from t2igan.train.device import pick_device  # noqa: E402

CURVES = registry.curve_keys()  # every snapshot is scored on these (t2igan.metrics.registry)


def _load_set(path: Path) -> tuple[io.StoredImages, np.ndarray]:
    """A generated set's images (read a slice at a time, never whole) and caption rows."""
    if not (path / "images.npy").is_file():
        raise gan.TrainingError(f"{path}: no generated set here; run the generate stage first")
    return io.StoredImages(path / "images.npy"), np.load(path / "caption_rows.npy")


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def main(p, name: str):
    device = pick_device(p.runtime.device)
    prepared = Prepared(p.preprocess.out_dir)
    models, sets_dir, reports = Path(p.train.out_dir), Path(p.generate.out_dir) / name, Path("reports") / name
    damsms = {j: gan.FrozenDamsm.load(Path(p.damsm.out_dir) / j, device) for j in JUDGES}
    reference = Reference.load(p.score.reference_dir)
    sc, evaluator_path = p.score, str(Path(p.evaluator.out_dir) / "evaluator.pt")
    common = dict(reference=reference, prepared=prepared, evaluator_path=evaluator_path, seed=p.seed,
                  candidates=p.damsm.r_precision_candidates, folds=p.damsm.r_precision_folds,
                  isc_splits=sc.isc_splits, kid_subset_size=sc.kid_subset_size, kid_subsets=sc.kid_subsets)

    images, rows = _load_set(sets_dir / "final")
    variant, G, _ = gan.load_generator(models / name / "generator.pt", damsms["damsm"], device)
    sources = gan.row_inputs(variant, p.data_dirs, prepared)
    compared = variant.inputs[0] if sources else None  # the input the images are compared with
    # the similarity's judge: the evaluator DAMSM, not the generator's
    judge = InputJudge(damsms["evaluator_damsm"], variant.input_similarity) if sources else None

    def features(source, rows_of: np.ndarray) -> SetFeatures:
        inputs = sources[compared].for_rows(rows_of) if sources else None
        return set_features(source, evaluator_path=evaluator_path, judges=damsms, device=device, inputs=inputs,
                            input_judge=judge, inception=InceptionWeights.for_params(p), count=len(rows_of))

    def streamed(v, net, rows_of: np.ndarray):  # a generator's images for rows_of, a batch at a time
        return generate_batches(v, net.eval(), damsms["damsm"], prepared, rows_of, max_words=p.preprocess.max_words,
                                seed=p.seed, batch_size=p.runtime.generate_batch,
                                inputs={k: source.for_rows(rows_of) for k, source in sources.items()})

    torch.manual_seed(p.seed)
    untrained, _ = variant.build()
    feats = {"final": features(images, rows),
             "untrained": features(streamed(variant, untrained.to(device), rows), rows)}
    if sources:
        black = _load_set(sets_dir / "final_black")[0]
        feats[f"black_{compared}"] = features(black, rows)
    feats["real"] = reference.for_rows(prepared, rows)
    order = ["final", "real", "untrained"] + ([f"black_{compared}"] if sources else [])
    scores = {k: score_features(feats[k], rows, **common) for k in order}
    if sources:
        inputs = sources[compared].for_rows(rows)
        crops, positions = real_crops(prepared, p.scale.image_size), reference_positions(prepared, rows)
        step = batch_size_for(p.scale.image_size)
        real_batches = (crops[positions[i:i + step]] for i in range(0, len(rows), step))
        for k in order:
            scores[k][f"{compared}_similarity"] = (float(feats[k].similarity.mean()) if k != "real"
                                                   else input_similarity(judge, real_batches, inputs))
        shuffled = inputs[np.random.default_rng([p.seed, 11]).permutation(len(inputs))]
        scores["final"][f"{compared}_similarity_shuffled"] = input_similarity(judge, images, shuffled)
        scores["final"][f"black_{compared}_change"] = mean_abs_difference(images, black)

    curves = []
    snap_rows = final_rows(prepared, 1, p.seed)[:sc.snapshot_images]
    epochs = gan.snapshot_epochs(p.scale.gan_epochs, p.scale.snapshot_every)
    snapshots = [models / name / "snapshots" / f"epoch_{e:04d}.pt" for e in epochs]
    gan.missing_snapshots(snapshots, epochs, "kept generator", f"dvc repro train@{name}")
    for path in snapshots:
        snap_variant, snap_G, epoch = gan.load_generator(path, damsms["damsm"], device)
        if np.array_equal(snap_rows, rows) and _same_weights(snap_G, G):  # the final generator, saved once more
            f = feats["final"]
        else:
            f = features(streamed(snap_variant, snap_G, snap_rows), snap_rows)
        s = score_features(f, snap_rows, **common)
        curves.append({"epoch": epoch, **{k: s[k] for k in CURVES}})
        del snap_G
    for k in order:  # how the generated rows' noise was drawn (DF-GAN's truncation, when asked for)
        if k != "real":
            scores[k]["protocol"]["noise"] = variant.sampling_protocol()
    io.write_json(reports / "scores.json", scores)
    io.write_json(reports / "metrics.json", registry.headline(scores["final"]))  # what `dvc metrics` shows
    io.write_json(reports / "score_epochs.json", curves)
    _plot(curves, scores, reports / "score_epochs.png", name)


def _plot(curves: list[dict], scores: dict, path: Path, name: str) -> None:
    rows = -(-len(CURVES) // 3)
    fig, axes = plt.subplots(rows, 3, figsize=(11, 3 * rows), dpi=100, squeeze=False)
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
    args = stage.parse_args(__doc__, "VARIANT", "a key of `variants` in params.yaml")
    stage.run(lambda p: main(p, stage.variant_name(p, args.name)), verbosity=args.verbosity)
