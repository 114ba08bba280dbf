"""Stage generate_baseline@<name>: a baseline's generated set and its figures.

    python stages/generate_baseline.py dcgan

Writes data/generated/<name>/final: one image for each of ``captions_per_image`` captions of every
test image (the scale's), the same rows as the text-to-image variants (an unconditional family ignores the caption; a
conditional DRAW reads its species or sentence), so every model is scored on sets of one size.
Figures in reports/<name>/figures/: generated.png (samples), interpolation.png and interpolation.gif
(slerp between pairs of prior draws, seed 004) and, for DRAW, canvas.png: the canvas after every
step for a few test images (seed 002, figure 3.1), whose last column is the reconstruction.
"""
import time
from pathlib import Path

from t2igan import io, stage
from t2igan.data import cub
from t2igan.data.dataset import centre_crops
from t2igan.data.preprocess import Prepared
from t2igan.generate import final_rows, sample_rows
from t2igan.report.grids import interpolation_figures
from t2igan.train import baseline
from t2igan.train.device import pick_device

TEST_FIGURE_IMAGES = 6
INTERPOLATION_ROWS, INTERPOLATION_STEPS = 6, 10


def main(p, name: str):
    start = time.perf_counter()
    device = pick_device(p.runtime.device)
    prepared = Prepared(p.preprocess.out_dir)
    out, reports = Path(p.generate.out_dir) / name, Path("reports") / name
    figures = reports / "figures"
    family, nets, epoch = baseline.load_model(Path(p.train.out_dir) / name / "generator.pt", device)
    damsm = baseline.load_judge(family, Path(p.damsm.out_dir) / "damsm", device)

    per_image = p.scale.captions_per_image
    rows = final_rows(prepared, per_image, p.seed)
    t = time.perf_counter()
    baseline.write_set(out / "final", family, nets, prepared, rows, seed=p.seed, damsm=damsm,
                       batch_size=p.runtime.generate_batch,
                       meta={"variant": name, "epoch": epoch, "captions_per_image": per_image})
    rate = len(rows) / (time.perf_counter() - t)

    baseline.sample_sheet(family, nets, prepared, figures / "generated.png", damsm=damsm, n=32, title=name)
    paths = baseline.interpolation(family, nets, prepared, sample_rows(prepared, INTERPOLATION_ROWS),
                                   steps=INTERPOLATION_STEPS, seed=p.seed, damsm=damsm)
    interpolation_figures(paths, figures / "interpolation.png", figures / "interpolation.gif")
    if family.reads_test_images:  # e.g. DRAW's canvas after every step
        rows = sample_rows(prepared, TEST_FIGURE_IMAGES)
        real = centre_crops(prepared, rows // cub.N_CAPTIONS, family.s.data_size)
        cond = baseline.row_conditions(family, prepared, rows, seed=p.seed, damsm=damsm, device=device)
        for file, image in family.test_figures(nets, real, cond, seed=p.seed).items():
            io.save_png(figures / file, image)
    io.write_json(reports / "generate.json", {
        "images": int(len(rows)), "captions_per_image": per_image, "epoch": epoch,
        "images_per_s": round(rate, 1), "seconds": stage.elapsed(start),
    })


if __name__ == "__main__":
    args = stage.parse_args(__doc__, "NAME", "a key of `baselines` in params.yaml")
    stage.run(lambda p: main(p, args.name), verbosity=args.verbosity)
