"""Figures that show a data set: what the birds and their captions look like, and its statistics."""
from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

from t2igan import io  # noqa: E402
from t2igan.data import cub  # noqa: E402


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow built without FreeType
        return ImageFont.load_default()


def contact_sheet(images: list[Image.Image], captions: list[str], path: str | Path, *,
                  columns: int = 8, cell: int = 200, text_lines: int = 4) -> None:
    """A grid of images, each letterboxed into ``cell`` px with its caption wrapped beneath."""
    font = _font(11)
    line_h = 13
    rows = -(-len(images) // columns)
    cell_h = cell + text_lines * line_h + 8
    sheet = Image.new("RGB", (columns * cell, rows * cell_h), "white")
    draw = ImageDraw.Draw(sheet)
    for n, (img, caption) in enumerate(zip(images, captions)):
        x0, y0 = (n % columns) * cell, (n // columns) * cell_h
        thumb = img.copy()
        thumb.thumbnail((cell - 6, cell - 6), Image.Resampling.LANCZOS)
        sheet.paste(thumb, (x0 + (cell - thumb.width) // 2, y0 + 3 + (cell - 6 - thumb.height) // 2))
        lines = textwrap.wrap(caption, width=cell * 17 // 100)[:text_lines]  # ~6 px per character
        for k, line in enumerate(lines):
            draw.text((x0 + 4, y0 + cell + k * line_h), line, fill=(20, 20, 20), font=font)
    io.save_png(path, sheet)


def dataset_contact_sheet(index: cub.CubIndex, path: str | Path, *, n: int = 64, seed: int = 0) -> list[int]:
    """Sheet of ``n`` random images of the data set, each with one of its captions."""
    rng = np.random.default_rng([seed, 64])
    rows = np.sort(rng.choice(len(index), size=min(n, len(index)), replace=False))
    images, captions = [], []
    for r in rows:
        images.append(cub.load_rgb(index.image_path(r)))
        captions.append(cub.read_captions(index.caption_path(r))[int(rng.integers(cub.N_CAPTIONS))])
    contact_sheet(images, captions, path)
    return rows.tolist()


def caption_length_histogram(lengths: np.ndarray, path: str | Path, *, max_words: int) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    bins = np.arange(0, lengths.max() + 2) - 0.5
    ax.hist(lengths, bins=bins, color="#4477aa", edgecolor="white")
    ax.axvline(max_words + 0.5, color="#cc3311", linestyle="--", label=f"{max_words}-word limit")
    ax.set_xlabel("caption length (words)")
    ax.set_ylabel("captions")
    ax.set_title(f"Caption lengths (n = {len(lengths):,}, mean {lengths.mean():.1f} words)")
    ax.legend()
    io.save_png(path, fig)
    plt.close(fig)


def attribute_frequency(attributes: np.ndarray, names: list[str], path: str | Path, *, top: int = 40) -> None:
    """The ``top`` most frequent attributes, as the share of images that have each."""
    if attributes.shape[1] == 0:  # a data set without attribute labels still gets its (empty) figure
        attributes, names = np.zeros((max(1, len(attributes)), 1)), ["(no attribute labels in this data set)"]
    share = attributes.mean(axis=0)
    order = np.argsort(-share)[:top]
    fig, ax = plt.subplots(figsize=(7, 0.2 * len(order) + 1.2), dpi=110)
    ax.barh(np.arange(len(order))[::-1], share[order] * 100, color="#228833")
    ax.set_yticks(np.arange(len(order))[::-1], [names[i].replace("has_", "") for i in order], fontsize=7)
    ax.set_xlabel("images with the attribute (%)")
    ax.set_title(f"{len(order)} most frequent of {len(names)} attributes ({len(attributes):,} images)")
    io.save_png(path, fig)
    plt.close(fig)


def patch_sheet(patches: np.ndarray, part_ids: np.ndarray, part_names: list[str], path: str | Path, *,
                n: int = 48, seed: int = 0) -> None:
    """Random reference patches, each labelled with the part it is centred on."""
    rng = np.random.default_rng([seed, 48])
    pick = np.sort(rng.choice(len(patches), size=min(n, len(patches)), replace=False))
    images = [Image.fromarray(np.asarray(patches[i])).resize((96, 96), Image.Resampling.NEAREST) for i in pick]
    contact_sheet(images, [part_names[int(part_ids[i]) - 1] for i in pick], path, columns=12, cell=100,
                  text_lines=1)
