"""The torch Dataset over the preprocess arrays, with AttnGAN's training transform.

Each item is one image with one of its captions.  All randomness (which caption, which
words survive the 18-word rule, crop offset, flip) comes from a generator seeded by
(seed, epoch, item), so an item is the same whichever worker loads it and whenever:
that is what lets a resumed run see exactly the data an uninterrupted one saw.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from t2igan.data import cub, text
from t2igan.data.preprocess import Prepared


def branch_sizes(image_size: int, branches: int) -> list[int]:
    """Image sides of the generator's branches, smallest first: 256, 3 -> [64, 128, 256]."""
    sizes = [image_size // 2 ** (branches - 1 - k) for k in range(branches)]
    if any(s < 4 or s * 2 ** (branches - 1 - k) != image_size for k, s in enumerate(sizes)):
        raise ValueError(f"image_size {image_size} cannot be halved {branches - 1} time(s)")
    return sizes


@dataclass
class Sample:
    image: torch.Tensor         # uint8 [3, s, s], the largest branch; see ``to_branches``
    caption: torch.Tensor       # int64 [max_words], 0-padded
    length: int
    class_id: int
    image_row: int              # row in the prepared arrays
    caption_row: int            # 10 * image + k


def crop(stored: np.ndarray, size: int, rng: np.random.Generator | None) -> torch.Tensor:
    """One prepared crop [S, S, 3] -> uint8 [3, size, size]: at a random offset and randomly
    flipped (``rng``), or the centre (``rng`` None)."""
    margin = stored.shape[0] - size
    if rng is not None:
        y, x = (int(v) for v in rng.integers(0, margin + 1, size=2))
        flip = bool(rng.integers(2))
    else:
        y = x = margin // 2
        flip = False
    patch = stored[y:y + size, x:x + size]
    if flip:
        patch = patch[:, ::-1]
    return torch.from_numpy(np.array(patch)).permute(2, 0, 1)  # a copy: the memory map is read-only


def centre_crops(prepared: Prepared, rows: np.ndarray, size: int) -> np.ndarray:
    """The centre crops of ``rows`` as one writable uint8 array [N, size, size, 3]."""
    margin = (int(prepared.meta["stored_size"]) - size) // 2
    return np.asarray(prepared.images[np.asarray(rows), margin:margin + size, margin:margin + size])  # a copy


class TextImageDataset(Dataset):
    """Images of one split with captions.

    ``train=True``: one item per image, a random caption, random crop and flip.
    ``train=False``: one item per (image, caption) pair, centre crop, no flip, and the
    word selection still seeded (for captions longer than ``max_words``).
    """

    def __init__(self, prepared: Prepared, split: str, *, image_size: int, branches: int,
                 max_words: int = 18, train: bool = True, seed: int = 0):
        self.data = prepared
        self.rows = prepared.split_indices(split)
        self.sizes = branch_sizes(image_size, branches)
        self.stored = int(prepared.meta["stored_size"])
        if self.stored < image_size:
            raise ValueError(f"prepared crops are {self.stored} px, smaller than image_size {image_size}: "
                             "re-run preprocess with this scale")
        self.max_words, self.train, self.seed = max_words, train, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.rows) * (1 if self.train else cub.N_CAPTIONS)

    def __getitem__(self, item: int) -> Sample:
        rng = np.random.default_rng([self.seed, self.epoch, item])
        if self.train:
            image = int(self.rows[item])
            k = int(rng.integers(cub.N_CAPTIONS))
        else:
            image, k = int(self.rows[item // cub.N_CAPTIONS]), item % cub.N_CAPTIONS
        row = image * cub.N_CAPTIONS + k
        caption, length = text.select_words(self.data.caption_ids(row), self.max_words, rng)
        pixels = crop(self.data.images[image], self.sizes[-1], rng if self.train else None)
        return Sample(pixels, torch.from_numpy(caption), length,
                      int(self.data.index["class_ids"][image]), image, row)


def to_branches(images: torch.Tensor, sizes: list[int]) -> list[torch.Tensor]:
    """uint8 [B, 3, S, S] -> float images in [-1, 1] at each branch size, smallest first.

    Done on whole batches (and on the GPU when the batch is there): lower branches are
    antialiased bilinear resizes of the same crop, as in AttnGAN.
    """
    top = images.float().div_(127.5).sub_(1.0)
    out = [F.interpolate(top, size=(s, s), mode="bilinear", antialias=True, align_corners=False)
           for s in sizes[:-1]]
    return out + [top]


def collate(samples: list[Sample]) -> dict[str, object]:
    """Batch samples; images stay uint8 (convert with ``to_branches`` where the batch is used)."""
    return {
        "images": torch.stack([s.image for s in samples]),
        "captions": torch.stack([s.caption for s in samples]),
        "lengths": torch.tensor([s.length for s in samples], dtype=torch.int64),
        "class_ids": torch.tensor([s.class_id for s in samples], dtype=torch.int64),
        "image_rows": torch.tensor([s.image_row for s in samples], dtype=torch.int64),
        "caption_rows": torch.tensor([s.caption_row for s in samples], dtype=torch.int64),
    }


class WithInputs(Dataset):
    """A TextImageDataset whose items also carry their caption's inputs (a family's, e.g. RaGAN's
    reference patch): per name, a source with ``for_rows(rows)`` -> uint8 [N, p, p, 3].  Batch the
    items with ``collate_with_inputs``: the batch's ``inputs`` maps each name to uint8 [B, 3, p, p]."""

    def __init__(self, dataset: TextImageDataset, inputs: dict):
        self.dataset, self.inputs = dataset, inputs

    def __len__(self) -> int:
        return len(self.dataset)

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)

    def __getitem__(self, item: int) -> tuple[Sample, dict[str, torch.Tensor]]:
        sample = self.dataset[item]
        row = np.array([sample.caption_row])
        return sample, {name: torch.from_numpy(source.for_rows(row)[0]).permute(2, 0, 1)
                        for name, source in self.inputs.items()}


def collate_with_inputs(items: list[tuple[Sample, dict[str, torch.Tensor]]]) -> dict[str, object]:
    names = items[0][1] if items else {}
    return {**collate([sample for sample, _ in items]),
            "inputs": {name: torch.stack([inputs[name] for _, inputs in items]) for name in names}}
