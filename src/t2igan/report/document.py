"""The report (stage ``report``): reports/report.md, which renders on GitHub, and its figures.

Everything in it is read from the stages' outputs (metrics JSON, DVCLive curves, generated sets,
figures); nothing is typed in by hand except the published numbers, which sit in their own
table with where they come from.  Images are linked relative to reports/, so the markdown shows
the committed figures wherever it is rendered.
"""
from __future__ import annotations

import csv
import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from t2igan import io  # noqa: E402
from t2igan.metrics import registry  # noqa: E402
from t2igan.train import checkpoint  # noqa: E402

# (model, IS, FID, R-precision %, source); MODELS.md, "Evaluation protocols" and the seeds
PUBLISHED = [
    ("AttnGAN", 4.36, 23.98, 67.82, "Xu et al. 2018 (IS, R-precision); FID as reported by DM-GAN"),
    ("DM-GAN", 4.75, 16.09, 72.31, "Zhu et al. 2019"),
    ("DF-GAN", None, 14.81, None, "Tao et al. 2022 (12.10 with the released model)"),
    ("GALIP", None, 10.08, None, "Tao et al. 2023"),
    ("AttnGAN, seed 000's run (epoch 600)", 4.59, 19.10, None, "seed 000 (public fork)"),
    ("DualAttnGAN, seed 000's run (epoch 250, batch 8)", 4.19, 23.31, None, "seed 000 (public fork)"),
    ("AttnGAN, thesis run (600 epochs)", 4.27, 27.13, None, "seed 001"),
    ("RaGAN v0, thesis run", 3.51, 29.69, None, "seed 001"),
    ("RaGAN v1, thesis run", 3.20, 35.38, None, "seed 001"),
]


@dataclass
class Model:
    """One trained model's outputs, as the report needs them."""

    name: str
    family: str
    baseline: bool                     # an entry of `baselines`, not of `variants`
    scores: dict
    train: dict
    curves: list[dict] = field(default_factory=list)        # score_epochs.json (variants only)
    losses: dict[str, dict[str, list]] = field(default_factory=dict)  # panel -> term -> [(epoch, value)]
    parameters: int | None = None


def read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: missing; run the stage that writes it (dvc repro)") from None


def read_losses(live_dir: Path) -> dict[str, dict[str, list]]:
    """DVCLive curves (one .tsv per term) grouped into panels: d/ (discriminator or critic), g/
    (generator) and the rest (DRAW's terms); timings are left out."""
    panels: dict[str, dict[str, list]] = {}
    for tsv in sorted(live_dir.rglob("*.tsv")) if live_dir.is_dir() else []:
        term = tsv.relative_to(live_dir).with_suffix("").as_posix()
        if term in ("seconds", "images_per_s"):
            continue
        panel = term.split("/")[0] if "/" in term else "loss"
        with tsv.open(encoding="utf-8") as fh:
            rows = [(int(r["step"]), float(r[tsv.stem])) for r in csv.DictReader(fh, delimiter="\t")]
        panels.setdefault(panel, {})[term] = rows
    return panels


def count_parameters(state: dict, baseline: bool) -> int:
    """Parameters of what samples: the (EMA) generator; for a baseline its G, or all of DRAW."""
    keys = [k for k in state if not baseline or k.startswith(("G.", "draw."))]
    return int(sum(state[k].numel() for k in keys if not k.endswith(("running_mean", "running_var",
                                                                      "num_batches_tracked"))))


def load_models(reports: Path, models: Path, entries: dict[str, tuple[str, bool]]) -> list[Model]:
    """``entries``: name -> (family, is_baseline), in report order."""
    out = []
    for name, (family, is_baseline) in entries.items():
        d = reports / name
        scores, train = read_json(d / "scores.json"), read_json(d / "train.json")
        curves = read_json(d / "score_epochs.json") if (d / "score_epochs.json").is_file() else []
        state = checkpoint.load(models / name / "generator.pt")["state"]
        losses = read_losses(d / "live" / "plots" / "metrics")
        parameters = count_parameters(state, is_baseline)
        out.append(Model(name, family, is_baseline, scores, train, curves, losses, parameters))
    return out


# ------------------------------------------------------------------ tables
def _num(value, digits: int, percent: bool = False, std=None) -> str:
    if value is None or value == "n/a":
        return "n/a"
    v = 100 * value if percent else value
    s = f"{v:.{digits}f}"
    if std is not None and std != "n/a":
        s += f" ± {100 * std if percent else std:.{digits}f}"
    return s + (" %" if percent else "")


def _count(n: int) -> str:
    return f"{n / 1e6:.2f} M" if n >= 10_000 else str(n)


def _row_cells(row: dict) -> list[str]:
    """A scores row's cells under ``_score_header()``: the registry's table metrics."""
    return [_num(row[m.key], m.digits, m.percent, std=row.get(f"{m.key}_std") if m.show_std else None)
            for m in registry.table_metrics()]


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _score_header() -> list[str]:
    return [m.label for m in registry.table_metrics()]


def main_table(models: list[Model]) -> str:
    rows = []
    for m in models:
        t = m.train
        rows.append([f"`{m.name}`", m.family, *_row_cells(m.scores["final"]), _count(m.parameters),
                     f"{t['seconds'] / 60:.1f} min ({t['epochs']} ep.)", f"{t['images_per_s']:.0f}"])
    real = models[0].scores["real"]
    rows.append(["real test images (ceiling)", "", *_row_cells(real), "", "", ""])
    return _table(["model", "family", *_score_header(), "G parameters", "training", "train img/s"], rows)


def floor_table(models: list[Model]) -> str:
    return _table(["untrained", *_score_header()], [[f"`{m.name}`", *_row_cells(m.scores["untrained"])]
                                                  for m in models])


def protocol_line(models: list[Model]) -> str:
    p = models[0].scores["final"]["protocol"]
    kid = p.get("kid_subset_size_used")
    return (f"IS, FID and KID: torch-fidelity on the features of the `{p['extractor']}` classifier "
            f"(`{p['weights_file']}`, sha256 `{p['weights_sha256'][:12]}…`), {p['n_generated']} generated "
            f"against {p['n_real']} real test images, resize: {p['resize']}; IS over {p['isc_splits']} splits, "
            f"KID over subsets of {kid}. These are not Inception numbers and compare only with each other.")


def inception_section(models: list[Model]) -> list[str]:
    """The FID Inception's IS / FID / KID (scales whose extractors list it), with their weights."""
    scored = [m for m in models if "fid_inception" in m.scores["final"]]
    if not scored:
        return []
    rows = [[f"`{m.name}`", _num(m.scores["final"]["is_inception"], 2, std=m.scores["final"]["is_inception_std"]),
             _num(m.scores["final"]["fid_inception"], 1), _num(m.scores["final"]["kid_inception"], 3),
             _num(m.scores["untrained"]["fid_inception"], 1)] for m in scored]
    real = scored[0].scores["real"]
    rows.append(["real test images (ceiling)", _num(real["is_inception"], 2), _num(real["fid_inception"], 1),
                 _num(real["kid_inception"], 3), ""])
    p = scored[0].scores["final"]["protocol"]["inception"]
    warning = (" **These weights are RANDOM (a test-only setting): the numbers are not IS, FID or KID.**"
               if p["weights_random"] else "")
    return ["## On the FID Inception", "", _table(["model", "IS", "FID ↓", "KID ↓", "FID untrained"], rows), "",
            f"torch-fidelity's `{p['fidelity_extractor']}` (`{p['weights_file']}`, sha256 "
            f"`{p['weights_sha256'][:12]}…`), resize: {p['resize']}. IS here is the ImageNet Inception's, not the "
            f"CUB-finetuned one of the text-to-image papers.{warning}", ""]


def reference_table(models: list[Model]) -> str:
    rows = []
    for m in models:
        f = m.scores["final"]
        if "reference_similarity" not in f:
            continue
        rows.append([f"`{m.name}`", _num(f["reference_similarity"], 3),
                     _num(f["reference_similarity_shuffled"], 3),
                     _num(m.scores["black_reference"]["reference_similarity"], 3),
                     _num(m.scores["real"]["reference_similarity"], 3), _num(m.scores["black_reference"]["fid"], 1),
                     _num(f["black_reference_change"], 3)])
    if not rows:
        return ""
    return _table(["model", "ref. similarity", "shuffled (chance)", "black patch", "real image",
                   "FID, black patch", "pixel change, black patch"], rows)


def draw_table(models: list[Model]) -> str:
    rows = []
    for m in models:
        d = m.scores["final"].get("draw")
        if d is None:
            continue
        rows.append([f"`{m.name}`", _num(d["reconstruction_bce"], 0), _num(d["reconstruction_mse"], 1),
                     _num(d["kl_total"], 1), f"{d['inactive_latents']} / {d['latents']}",
                     " ".join(f"{v:.2f}" for v in d["variance_law_per_step"])])
    if not rows:
        return ""
    return _table(["model", "reconstruction BCE / image", "squared error / image", "KL (nats)",
                   "inactive latents", "variance law per step"], rows)


def sweep_table(sweep: dict) -> str:
    rows = [[str(r["steps"]), str(r["z_per_step"]), _num(r["reconstruction_bce"], 0), _num(r["kl_total"], 1),
             f"{r['inactive_latents']} / {r['latents']}", _num(r["fid"], 1), _num(r["is"], 2)]
            for r in sweep["runs"]]
    return _table(["steps T", "z per step", "reconstruction BCE / image", "KL (nats)", "inactive latents",
                   "FID ↓", "IS"], rows)


def published_table() -> str:
    rows = [[name, _num(is_, 2), _num(fid, 2), "n/a" if rp is None else f"{rp:.2f} %", src]
            for name, is_, fid, rp, src in PUBLISHED]
    return _table(["model (CUB, 256 px)", "IS", "FID", "R-precision", "source"], rows)


# ------------------------------------------------------------------ figures
def _save(fig, path: Path) -> None:
    fig.tight_layout()
    io.save_png(path, fig)
    plt.close(fig)


def curves_figure(models: list[Model], path: Path) -> bool:
    """The registry's overview metrics (``Metric.overview``: IS, FID, R-precision with the evaluator
    DAMSM) of every snapshot, one line per variant, with the real-data ceiling; False (and no file)
    when no model has curves."""
    with_curves = [m for m in models if m.curves]
    if not with_curves:
        return False
    panels = registry.overview_metrics()
    fig, axes = plt.subplots(1, len(panels), figsize=(13 * len(panels) / 3, 3.8), dpi=100, squeeze=False)
    for ax, metric in zip(axes[0], panels):
        key, scale = metric.key, 100 if metric.percent else 1
        for m in with_curves:
            ax.plot([c["epoch"] for c in m.curves], [scale * c[key] for c in m.curves], "o-", ms=3, label=m.name)
        ax.axhline(scale * with_curves[0].scores["real"][key], color="black", linestyle="--", lw=1,
                   label="real test images")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric.axis_label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Scores of each epoch's EMA generator (one caption per test image)", fontsize=10)
    _save(fig, path)
    return True


PANEL_TITLES = {"d": "discriminator / critic terms", "g": "generator terms", "loss": "loss terms"}


def loss_units(model: Model) -> str:
    """What a model's logged values are measured in."""
    if model.family == "draw":
        if any("per_pixel" in term for terms in model.losses.values() for term in terms):
            return "nats, BCE per pixel + KL / steps (seed 002's weighting)"
        return "nats per image"
    if any("wasserstein" in term for terms in model.losses.values() for term in terms):
        return "critic score (no unit)"
    return "nats (BCE and DAMSM terms)"


def loss_figure(model: Model, path: Path) -> bool:
    if not model.losses:
        return False
    panels = sorted(model.losses)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.6), dpi=100, squeeze=False)
    for ax, panel in zip(axes[0], panels):
        for term, points in sorted(model.losses[panel].items()):
            ax.plot([p[0] for p in points], [p[1] for p in points], "o-", ms=3, label=term)
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"epoch mean, {loss_units(model)}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(PANEL_TITLES.get(panel, panel), fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle(f"{model.name}: training losses", fontsize=10)
    _save(fig, path)
    return True


def sample_comparison(columns: dict[str, np.ndarray], captions: list[str], path: Path) -> None:
    """columns: title -> uint8 images [len(captions), s, s, 3]; one row per caption."""
    n, k = len(captions), len(columns)
    fig, axes = plt.subplots(n, k, figsize=(1.25 * k + 3.2, 1.3 * n), dpi=100, squeeze=False)
    for j, (title, images) in enumerate(columns.items()):
        for i in range(n):
            ax = axes[i, j]
            ax.imshow(images[i], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=7, rotation=30, ha="left", loc="left")
            if j == 0:
                ax.set_ylabel("\n".join(textwrap.wrap(captions[i], 34)[:4]), fontsize=6, rotation=0, ha="right",
                              va="center")
    _save(fig, path)


# ------------------------------------------------------------------ the document
def _image(path: str, alt: str, caption: str) -> str:
    return f"![{alt}]({path})\n\n*{caption}*\n"


def render(models: list[Model], *, figures: dict[str, str], sweep: dict | None, fid_sanity: dict | None,
           data: dict, damsm: dict) -> str:
    """The markdown; ``figures`` maps a figure's role to its path relative to reports/ (only the
    figures that exist)."""
    text = [m for m in models if not m.baseline]
    base = [m for m in models if m.baseline]
    out = ["# t2igan report", "",
           f"Data: {data['dataset']} birds, {data['images']} images of {data['classes']} species "
           f"({data['classes_train']} train / {data['classes_test']} test species), {data['image_size']} px; "
           f"scale `{data['scale']}`. Every number below is read from the pipeline's outputs (`dvc repro`).", "",
           "## Main table", "", main_table(models), "", protocol_line(models), "",
           "R-precision: 1 true caption against 99 of other species, cosine of the judge's codes, 10 folds. "
           "*DAMSM* is the judge the generators trained against (it overstates); *eval. DAMSM* is trained "
           f"separately (its own stage measured {100 * damsm['r_precision_real']:.1f} % on real test images; "
           f"chance is 1 %). Attribute accuracy: how often the evaluator reads each attribute a caption names. "
           "\"n/a\": the model never reads a caption. G parameters: the sampling network (DRAW: encoder and "
           "decoder).", "", "Floors: each model untrained, scored the same way.", "", floor_table(models), "",
           *inception_section(models)]
    if "curves" in figures:
        out += ["## Scores over training", "", _image(figures["curves"], "scores per epoch",
                "IS, FID and R-precision (separately trained judge) of every kept snapshot; dashed: real images."),
                ""]
    if "samples" in figures:
        out += ["## Samples for the same test captions", "", _image(
            figures["samples"], "samples", "One image per model for each of the same test captions (first "
            "column: the caption's real image). Unconditional models ignore the caption; their column is a "
            "sample from the prior."), ""]
    attention = [(m, figures[f"attention_{m.name}"]) for m in text if f"attention_{m.name}" in figures]
    if attention:
        out += ["## Word attention", ""]
        for m, p in attention:
            out.append(_image(p, f"{m.name} attention", f"{m.name}: the generated image and, per word, where "
                              "the last attention stage looked (brighter: more attention)."))
    refs = [(m, figures[f"reference_{m.name}"]) for m in text if f"reference_{m.name}" in figures]
    if refs:
        out += ["## The reference image (RaGAN)", "", reference_table(models), "",
                "Reference similarity: mean over patch regions of the best cosine with a region of the image "
                "(evaluator DAMSM). *Black patch*: the same captions and noise with an all-black reference.", ""]
        for m, p in refs:
            out.append(_image(p, f"{m.name} reference attention", f"{m.name}: the reference patch with its "
                              "region grid, the output, and where the most attended reference regions were used."))
    losses = [(m, figures[f"losses_{m.name}"]) for m in models if f"losses_{m.name}" in figures]
    if losses:
        out += ["## Training losses", ""]
        for m, p in losses:
            out.append(_image(p, f"{m.name} losses", f"{m.name}: per-epoch means of every loss term."))
    if base:
        out += ["## Baselines", "", "DCGAN, WGAN and WGAN-GP are unconditional; DRAW is a VAE, conditional "
                "where named. Their scores are in the main table.", ""]
        table = draw_table(models)
        if table:
            out += ["DRAW on the test images (reconstruction after the last step, seed 002's metrics):", "",
                    table, ""]
        for m in base:
            key = f"interpolation_{m.name}"
            if key in figures:
                out.append(_image(figures[key], f"{m.name} interpolation", f"{m.name}: spherical interpolation "
                                  "between two prior draws, one row per pair (a GIF sits beside it)."))
            if f"canvas_{m.name}" in figures:
                out.append(_image(figures[f"canvas_{m.name}"], f"{m.name} canvas", f"{m.name}: a test image "
                                  "and the canvas after each step; the last column is the reconstruction."))
    if sweep is not None:
        changed = "".join(f", `{k}: {v}`" for k, v in sweep.get("options", {}).items())
        out += ["## DRAW: the number of steps", "", f"`{sweep['base']}`{changed} with {sweep['total_latent']} "
                f"latents in all, split over T steps, {sweep['epochs']} epochs each; {sweep['images']} test images "
                "and as many samples per row. Seed 002's figure 3.3 swept plain DRAW (no attention) on CIFAR-10; "
                "`weighting: seed` is its loss (BCE averaged over pixels, KL divided by T).", "",
                sweep_table(sweep), ""]
        if "sweep" in figures:
            out.append(_image(figures["sweep"], "DRAW sweep", "Reconstruction error, FID, inactive latents "
                              "and the variance law against the number of steps (seed 002, figure 3.3)."))
    if fid_sanity is not None:
        out += ["## How FID behaves here", "", f"Two halves of the real test set: FID "
                f"{fid_sanity['fid_halves']:.2f}; real against noise: {fid_sanity['fid_noise']:.0f} "
                f"({fid_sanity['images_per_set']} images per set).", ""]
        if "fid_sanity" in figures:
            out.append(_image(figures["fid_sanity"], "FID sanity", "FID against real test images of a real set "
                              "in which every image is repeated k times (so 1/k as many distinct images): "
                              "diversity counts, not only quality."))
    out += ["## Published numbers (not comparable)", "", "On real CUB at 256 px with the standard Inception (IS "
            "fine-tuned on CUB, FID over about 30,000 images) and the training DAMSM as R-precision judge. "
            "This pipeline's numbers above use other data, size and extractor: they cannot be set beside these.",
            "", published_table(), ""]
    return "\n".join(out)
