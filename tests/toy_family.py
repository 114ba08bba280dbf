"""A toy GAN family that takes an input besides the caption, under a name no project module knows
(``tint``, a colour square per caption row): the proof that training, generation and scoring pass a
family's inputs through without knowing what they are (tests/test_gan.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch.nn.functional as F

from t2igan.variants.attngan import AttnGAN
from t2igan.variants.base import Fake

SEEN: list[tuple] = []  # the shape of every tint batch the family was given


class Tints:
    """Row r's tint: an 8 x 8 square of one colour, (r * 37 % 256, r * 91 % 256, 128)."""

    files: list[Path] = []

    def for_rows(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows)
        colour = np.stack([rows * 37 % 256, rows * 91 % 256, np.full_like(rows, 128)], axis=1).astype(np.uint8)
        return np.ascontiguousarray(np.broadcast_to(colour[:, None, None, :], (len(rows), 8, 8, 3)))


class Tinted(AttnGAN):
    inputs = ("tint",)

    def row_inputs(self, data_dirs, n_captions: int) -> dict:
        assert "tints" in data_dirs  # the stage's folders reach the family untouched
        return {"tint": Tints()}

    def input_similarity(self, input_regions, image_regions):
        return F.cosine_similarity(input_regions.flatten(2).mean(2), image_regions.flatten(2).mean(2))

    def generate(self, G, batch, z, *, noise: bool = True, eps=None) -> Fake:
        tint = batch.inputs["tint"]
        SEEN.append(tuple(tint.shape))
        fake = super().generate(G, batch, z, noise=noise, eps=eps)
        fake.images = [0.5 * x + 0.5 * F.interpolate(tint, size=x.shape[-1]) for x in fake.images]
        return fake
