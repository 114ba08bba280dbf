"""Image grids of the baselines: samples, latent interpolations (a strip and a GIF), DRAW's canvases.

Small generated images are enlarged with nearest-neighbour resampling, so pixels stay honest.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from t2igan import io
from t2igan.report.data_figures import _font, contact_sheet


def _cell(image: np.ndarray, cell: int) -> Image.Image:
    return Image.fromarray(image).resize((cell, cell), Image.Resampling.NEAREST)


def image_grid(images: np.ndarray, *, cell: int = 96, gap: int = 2, row_labels: list[str] | None = None,
               column_labels: list[str] | None = None) -> Image.Image:
    """uint8 [R, C, s, s, 3] -> one image, R rows of C cells, with optional labels on the left and top."""
    if images.ndim != 5 or images.shape[-1] != 3:
        raise ValueError(f"expected images [rows, columns, s, s, 3], got {images.shape}")
    R, C = images.shape[:2]
    font = _font(11)
    left = 8 * max((len(t) for t in row_labels), default=0) + 8 if row_labels else 0
    top = 18 if column_labels else 0
    sheet = Image.new("RGB", (left + C * (cell + gap) + gap, top + R * (cell + gap) + gap), "white")
    draw = ImageDraw.Draw(sheet)
    for r in range(R):
        for c in range(C):
            sheet.paste(_cell(images[r, c], cell), (left + gap + c * (cell + gap), top + gap + r * (cell + gap)))
        if row_labels:
            draw.text((4, top + gap + r * (cell + gap) + cell // 2 - 6), row_labels[r], fill=(20, 20, 20), font=font)
    for c, label in enumerate(column_labels or []):
        draw.text((left + gap + c * (cell + gap) + 4, 3), label, fill=(20, 20, 20), font=font)
    return sheet


def save_gif(path: str | Path, frames: list[Image.Image], *, ms_per_frame: int = 120) -> None:
    """An endlessly looping GIF, written atomically."""
    if not frames:
        raise ValueError("a GIF needs at least one frame")
    with io.atomic_write(path, "wb") as fh:
        frames[0].save(fh, format="GIF", save_all=True, append_images=frames[1:], duration=ms_per_frame, loop=0)


def interpolation_figures(paths: np.ndarray, png: str | Path, gif: str | Path, *, cell: int = 96) -> None:
    """Latent interpolations uint8 [R, K, s, s, 3]: a strip (a row per pair of end points, K steps
    across) and a GIF that walks every row from one end to the other and back, side by side."""
    R, K = paths.shape[:2]
    io.save_png(png, image_grid(paths, cell=cell, column_labels=[f"{k / (K - 1):.2f}" for k in range(K)]))
    there_and_back = list(range(K)) + list(range(K - 2, 0, -1))
    frames = [image_grid(paths[None, :, k], cell=cell) for k in there_and_back]
    save_gif(gif, frames)


def labelled_sheet(images: list[np.ndarray], labels: list[str], path: str | Path, *, text_lines: int = 1) -> None:
    """Images (enlarged without smoothing) with a label under each, eight to a row."""
    cell = 160
    contact_sheet([_cell(x, cell - 6) for x in images], labels, path, columns=min(8, len(images)), cell=cell,
                  text_lines=text_lines)
