"""Model cards (stage ``report``): reports/model_cards/<name>.md, one per model of params.yaml's
`variants` and `baselines`, and reports/model_cards/README.md listing them.

A card is written from what the pipeline produced (the model's scores, its training record, its
parameter count) and the params it was trained with; only the family's one-line description and its
source are typed in, below.  A card says where its numbers are valid: the data set and scale it was
trained at, and that the IS / FID / KID are on the in-pipeline evaluator's features.
"""
from __future__ import annotations

import json
from pathlib import Path

from t2igan import io
from t2igan.report.document import Model, _count, _row_cells, _score_header, _table, protocol_line

# family -> (name, what it is, where it comes from: CITATION.cff lists each in full)
FAMILIES = {
    "attngan": ("AttnGAN", "a multi-stage text-to-image GAN with word-level attention, trained with the DAMSM "
                "image-text matching loss", "Xu et al., CVPR 2018"),
    "dualattngan": ("DualAttnGAN", "AttnGAN with visual self-attention (spatial and channel) in the generator",
                    "Cai et al., 2019"),
    "ragan": ("RaGAN", "AttnGAN conditioned on a caption and a reference patch of a bird (version 0: the generator "
              "reads the patch; version 1: the discriminators too)", "Lande, 2021 (the RaGAN thesis, seed 001)"),
    "dfgan": ("DF-GAN", "a one-stage text-to-image GAN whose generator fuses the sentence code into every block "
              "through text-conditioned affine transformations (DFBlocks), with a one-way discriminator, the hinge "
              "loss and a matching-aware gradient penalty", "Tao et al., CVPR 2022"),
    "dcgan": ("DCGAN / WGAN / WGAN-GP", "an unconditional convolutional GAN; the entry's `loss` picks the DCGAN, "
              "WGAN (weight clipping) or WGAN-GP objective", "Radford et al. 2016; Arjovsky et al. 2017; "
              "Gulrajani et al. 2017"),
    "draw": ("DRAW", "a recurrent variational auto-encoder that draws on a canvas over several steps",
             "Gregor et al., ICML 2015; seed 002's experiments"),
}
TEXT_FAMILIES = ("attngan", "dualattngan", "ragan", "dfgan")  # their generators are DVC artifacts (dvc.yaml)


def artifact_name(name: str) -> str:
    """The DVC artifact of a variant's generator, as dvc.yaml declares it (``ragan_v0`` -> ``ragan-v0-generator``)."""
    return f"{name.replace('_', '-')}-generator"


def card(m: Model, params: dict, *, dataset: str, scale: str, image_size: int) -> str:
    """The markdown card of model ``m``; ``params`` is its entry in params.yaml (``variants.<name>`` or
    ``baselines.<name>``) as given."""
    title, what, source = FAMILIES.get(m.family, (m.family, "", ""))
    section = "baselines" if m.baseline else "variants"
    t, final = m.train, m.scores["final"]
    lines = [f"# Model card: `{m.name}` ({title})", "",
             f"**What it is.** {what[0].upper() + what[1:]}." if what else "",
             f"Source: {source} (CITATION.cff). Where this implementation differs from its paper or code: "
             "[docs/deviations.md](../../docs/deviations.md).", "",
             "**How it was trained here.**", "",
             f"- data: `{dataset}`, scale `{scale}`: {image_size} px images"
             + ("" if t.get("image_size", image_size) == image_size else
                f" (the network works at {t['image_size']} px; its images are upsampled to be scored)"),
             f"- {t['epochs']} epochs, seed {t.get('seed', 'n/a')}, {t['seconds'] / 60:.1f} min at "
             f"{t['images_per_s']:.0f} training images/s (on the machine of this run)",
             f"- generator parameters: {_count(m.parameters)} ({m.parameters:,})",
             f"- params entry `{section}.{m.name}`: `{json.dumps(params, sort_keys=True)}`", "",
             "**Scores** (the final generator on the test captions; the untrained network is the floor, the real "
             "test images the ceiling):", "",
             _table(["", *_score_header()], [["final", *_row_cells(final)],
                                             ["untrained (floor)", *_row_cells(m.scores["untrained"])],
                                             ["real test images", *_row_cells(m.scores["real"])]]), "",
             protocol_line([m]), "",
             "**Use it.**", ""]
    if m.family in TEXT_FAMILIES:
        lines += ["```bash",
                  f"t2igan sample --variant {m.name} --text \"a small red bird with black wings\" -o birds.png",
                  f"dvc artifacts get <repository url> {artifact_name(m.name)} -o generator.pt   # without cloning",
                  "```"]
    else:
        lines += [f"`models/{m.name}/generator.pt` (`dvc pull` it from the project's remote); "
                  f"`python stages/generate_baseline.py {m.name}` writes its test set."]
    lines += ["", "**Limits.** " + (
        "Trained on synthetic birds at a CPU scale: the images are coloured shapes, not birds; the card shows "
        "that the pipeline runs and how the model compares with the others at that budget, nothing about CUB."
        if dataset != "cub" or scale != "paper" else
        "Trained on CUB-200-2011 at the paper scale; IS / FID / KID here are on the evaluator's features and "
        "compare only within this project's report (the Inception numbers, where computed, are in the report).")]
    return "\n".join(lines) + "\n"


def write_cards(models: list[Model], entries: dict[str, dict], out: Path, *, dataset: str, scale: str,
                image_size: int) -> list[Path]:
    """A card per model in ``out`` and an index (README.md); ``entries``: name -> its params entry."""
    paths = []
    for m in models:
        path = out / f"{m.name}.md"
        io.write_text(path, card(m, entries[m.name], dataset=dataset, scale=scale, image_size=image_size))
        paths.append(path)
    index = ["# Model cards", "", f"One per model of the committed run (`{dataset}`, scale `{scale}`), written by "
             "the `report` stage from the scores and params.", ""]
    index += [f"- [`{m.name}`]({m.name}.md): {FAMILIES.get(m.family, (m.family,))[0]}" for m in models]
    io.write_text(out / "README.md", "\n".join(index) + "\n")
    return paths
