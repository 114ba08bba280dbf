"""Stage train_evaluator: the classifier that judges generated images (IS, FID / KID features,
attribute accuracy), trained on real images of every species; fails if it cannot tell them apart."""
from pathlib import Path

from t2igan import io, stage
from t2igan.data.preprocess import Prepared
from t2igan.train import evaluator
from t2igan.train.device import pick_device


def main(p):
    e = p.evaluator
    s = evaluator.EvaluatorSettings.from_params(p)
    prepared = Prepared(p.preprocess.out_dir)
    device = pick_device(p.runtime.device)
    work = stage.scratch()  # resume/train_evaluator while it trains
    model = evaluator.train(prepared, work, s, device=device)
    stage.publish(work / "evaluator.pt", Path(e.out_dir) / "evaluator.pt")
    acc = evaluator.held_out_accuracy(model, prepared, s)
    io.write_json("reports/evaluator/metrics.json", {
        **{k: round(v, 4) if isinstance(v, float) else v for k, v in acc.items()},
        "epochs": s.epochs, "image_size": s.image_size, "width": s.width, "seed": s.seed,
        "min_species_accuracy": p.scale.evaluator_min_accuracy})
    if acc["species_accuracy"] < p.scale.evaluator_min_accuracy:
        raise evaluator.EvaluatorError(
            f"the evaluator reaches {acc['species_accuracy']:.1%} species accuracy on held-out images, below "
            f"{p.scale_name}.evaluator_min_accuracy = {p.scale.evaluator_min_accuracy:.0%}: train it longer "
            f"({p.scale_name}.evaluator_epochs) or wider (evaluator.width)")


if __name__ == "__main__":
    args = stage.parse_args(__doc__)
    stage.run(main, verbosity=args.verbosity)
