"""Stage report: reports/report.md (renders on GitHub) and its figures in reports/report/.

    python stages/report.py

Reads every model of params.yaml's `variants` and `baselines` (scores, training logs, generated
sets, figures), the DRAW sweep, the FID sanity study and the data statistics; writes a model card per
model in reports/model_cards/.
"""
from pathlib import Path

import numpy as np

from t2igan import io, stage
from t2igan.data import cub
from t2igan.data.dataset import centre_crops
from t2igan.data.preprocess import Prepared
from t2igan.errors import T2IGANError
from t2igan.generate import sample_rows
from t2igan.report import document, model_cards

SAMPLE_CAPTIONS = 6


def main(p):
    reports = Path("reports")
    out = reports / "report"
    entries = {name: (v.model, False) for name, v in p.variants.items()}
    entries.update({name: (b.model, True) for name, b in p.baselines.items()})
    models = document.load_models(reports, Path(p.train.out_dir), entries)
    figures: dict[str, str] = {}

    def have(role: str, path: Path) -> None:
        if path.is_file():
            figures[role] = path.relative_to(reports).as_posix()

    if document.curves_figure(models, out / "curves.png"):
        have("curves", out / "curves.png")
    for m in models:
        if document.loss_figure(m, out / f"losses_{m.name}.png"):
            have(f"losses_{m.name}", out / f"losses_{m.name}.png")
        have(f"attention_{m.name}", reports / m.name / "attention" / "caption_0.png")
        have(f"reference_{m.name}", reports / m.name / "attention" / "reference_0.png")
        have(f"interpolation_{m.name}", reports / m.name / "figures" / "interpolation.png")
        have(f"canvas_{m.name}", reports / m.name / "figures" / "canvas.png")

    prepared = Prepared(p.preprocess.out_dir)
    rows = sample_rows(prepared, SAMPLE_CAPTIONS)
    finals = {m.name: Path(p.generate.out_dir) / m.name / "final" for m in models}
    generated_rows = {name: np.load(final / "caption_rows.npy") for name, final in finals.items()}
    if generated_rows:  # the final sets hold `captions_per_image` captions per test image, the same for all:
        # each sampled test image is shown with its first caption in them
        of_image = {int(r) // cub.N_CAPTIONS: int(r) for r in next(iter(generated_rows.values()))[::-1]}
        rows = np.array([of_image[int(r) // cub.N_CAPTIONS] for r in rows])
    columns = {"real": centre_crops(prepared, rows // cub.N_CAPTIONS, p.scale.image_size)}
    for m in models:
        first = {int(r): i for i, r in reversed(list(enumerate(generated_rows[m.name])))}  # a row's first image
        if any(int(r) not in first for r in rows):
            raise T2IGANError(f"{finals[m.name]}: not generated on the same caption rows as the other "
                                       f"models; run `dvc repro generate@{m.name}` (or generate_baseline@)")
        columns[m.name] = np.load(finals[m.name] / "images.npy", mmap_mode="r")[[first[int(r)] for r in rows]]
    captions = [prepared.decode(prepared.caption_ids(int(r))) for r in rows]
    document.sample_comparison(columns, captions, out / "samples.png")
    have("samples", out / "samples.png")

    sweep = None
    if p.draw_sweep is not None:
        sweep = document.read_json(reports / "draw_sweep" / "sweep.json")
        have("sweep", reports / "draw_sweep" / "sweep.png")
    fid_sanity = document.read_json(reports / "evaluator" / "fid_sanity.json")
    have("fid_sanity", reports / "evaluator" / "fid_sanity.png")
    stats = document.read_json(reports / "data" / "stats.json")
    data = {"dataset": p.dataset, "scale": p.scale_name, "image_size": p.scale.image_size,
            **{k: stats[k] for k in ("images", "classes", "classes_train", "classes_test")}}
    damsm = document.read_json(reports / "evaluator_damsm" / "metrics.json")
    given = {n: {"model": e.model, **e.given} for n, e in {**p.variants, **p.baselines}.items()}
    model_cards.write_cards(models, given, reports / "model_cards", dataset=p.dataset, scale=p.scale_name,
                            image_size=p.scale.image_size)
    cards = "\n## Model cards\n\nOne per model, from its scores and params: [model_cards/](model_cards/README.md).\n"
    io.write_text(reports / "report.md", document.render(models, figures=figures, sweep=sweep,
                                                         fid_sanity=fid_sanity, data=data, damsm=damsm) + cards)


if __name__ == "__main__":
    args = stage.parse_args(__doc__)
    stage.run(main, verbosity=args.verbosity)
