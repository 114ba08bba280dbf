"""Stage draw_sweep: DRAW at several step counts with one total latent size (seed 002, figure 3.3).

    python stages/draw_sweep.py

For each entry of ``draw_sweep.steps`` a DRAW with the options of ``draw_sweep.base`` and
``z_dim = total_latent / steps`` is trained (models/draw_sweep/steps_NN; resumable from
resume/draw_sweep/steps_NN until the stage succeeds) and measured
on ``draw_sweep.images`` test images and as many samples: reconstruction error (BCE and squared
error per image), KL per step, inactive latent variables, the variance law, and IS / FID / KID
of the samples through the evaluator's features.  reports/draw_sweep/sweep.json and sweep.png.
"""
import dataclasses
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from t2igan import io, stage  # noqa: E402
from t2igan.baselines.base import BaselineSettings  # noqa: E402
from t2igan.data import cub  # noqa: E402
from t2igan.data.preprocess import Prepared  # noqa: E402
from t2igan.errors import ConfigError  # noqa: E402
from t2igan.metrics import evaluator_features, fidelity  # noqa: E402
from t2igan.score import real_crops  # noqa: E402
from t2igan.train import baseline  # noqa: E402
from t2igan.train.device import pick_device  # noqa: E402


def main(p):
    start = time.perf_counter()
    sw, sc = p.draw_sweep, p.score
    if sw is None:
        raise ConfigError("params.yaml: no `draw_sweep` section; the stage needs one (see the committed params.yaml)")
    prepared = Prepared(p.preprocess.out_dir)
    device = pick_device(p.runtime.device)
    test = prepared.split_indices("test")
    n = min(sw.images, len(test))
    pick = np.sort(np.random.default_rng([p.seed, 17]).choice(len(test), size=n, replace=False))
    real = real_crops(prepared, p.scale.image_size)[pick]
    rows = test[pick] * cub.N_CAPTIONS   # each picked test image with its first caption
    results = []
    for steps in sw.steps:
        s = BaselineSettings.from_params(p, sw.base, **sw.options, steps=steps, z_dim=sw.total_latent // steps)
        s = dataclasses.replace(s, name=f"{sw.base}_steps_{steps}")
        model = Path(p.train.out_dir) / "draw_sweep" / f"steps_{steps:02d}" / "generator.pt"
        work = stage.scratch(model.parent.name)  # the run's checkpoints, kept until the stage succeeds
        print(f"draw_sweep: {steps} step(s) x {s.options['z_dim']} latents", flush=True)
        baseline.train(prepared, work, s, damsm_dir=Path(p.damsm.out_dir) / "damsm")
        stage.publish(work / "generator.pt", model)
        family, nets, _ = baseline.load_model(model, device)
        damsm = baseline.load_judge(family, Path(p.damsm.out_dir) / "damsm", device)
        cond = baseline.row_conditions(family, prepared, rows, seed=p.seed, damsm=damsm, device=device)
        stats = family.statistics(nets, real, cond, seed=p.seed)
        samples = baseline.generate(family, nets, prepared, rows, seed=p.seed, damsm=damsm)
        fid = fidelity.score(samples, real, extractor=evaluator_features.NAME,
                             weights_path=str(Path(p.evaluator.out_dir) / "evaluator.pt"), isc_splits=sc.isc_splits,
                             kid_subset_size=sc.kid_subset_size, kid_subsets=sc.kid_subsets, seed=p.seed)
        results.append({"steps": steps, "z_per_step": s.options["z_dim"], **stats, "is": fid["is_mean"],
                         "fid": fid["fid"], "kid": fid["kid_mean"]})
    out = Path("reports") / "draw_sweep"
    io.write_json(out / "sweep.json", {"base": sw.base, "options": sw.options, "total_latent": sw.total_latent,
                                       "images": n,
                                       "epochs": p.scale.baseline_epochs, "runs": results,
                                       "seconds": stage.elapsed(start)})
    changed = "".join(f", {k} {v}" for k, v in sw.options.items())
    plot(results, out / "sweep.png",
         f"{sw.base}{changed}: {sw.total_latent} latents in all, {p.scale.baseline_epochs} epochs")


def plot(results: list[dict], path: Path, title: str) -> None:
    steps = [r["steps"] for r in results]
    panels = (("reconstruction_bce", "reconstruction error", "BCE, nats per image"),
              ("fid", "FID of the samples", "FID (evaluator features)"),
              ("inactive_latents", "inactive latents (mean var > 0.9)", "latent variables"))
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6), dpi=100)
    for ax, (key, name, unit) in zip(axes, panels):
        ax.plot(steps, [r[key] for r in results], "o-", color="#4477aa", label="one model per T")
        ax.set_title(name, fontsize=9)
        ax.set_ylabel(unit)
        ax.legend(fontsize=7)
    ax = axes[3]
    for r in results:  # the variance law per step: about 1 where the KL has shaped the posterior
        ax.plot(range(1, r["steps"] + 1), r["variance_law_per_step"], "o-", ms=3, label=f"T = {r['steps']}")
    ax.axhline(1.0, color="#777777", linestyle=":", label="1 (the prior)")
    ax.set_title("variance law per step", fontsize=9)
    ax.set_xlabel("step t")
    ax.set_ylabel("var of means + mean of vars")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=7)
    for ax in axes[:3]:
        ax.set_xscale("log", base=2)
        ax.set_xticks(steps, [str(t) for t in steps])
        ax.set_xlabel("steps T (log scale)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    io.save_png(path, fig)
    plt.close(fig)


if __name__ == "__main__":
    args = stage.parse_args(__doc__)
    stage.run(main, verbosity=args.verbosity)
