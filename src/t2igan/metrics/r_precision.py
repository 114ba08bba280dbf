"""R-precision, DM-GAN's public protocol.

For each image: candidates = its own caption + (candidates - 1) captions drawn at random
from items of *other* classes; cosine similarity between the image code and each sentence
code; a hit when the true caption scores strictly highest.  The items are cut into
``folds`` folds; the result is the mean and standard deviation of the per-fold hit rates.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass
class RPrecision:
    mean: float
    std: float
    folds: list[float]
    n: int
    candidates: int

    def as_dict(self) -> dict:
        return {"mean": self.mean, "std": self.std, "n": self.n, "candidates": self.candidates,
                "folds": self.folds}


def sample_negatives(item_class: np.ndarray, pool_class: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """[M, k] pool indices whose class differs from each item's (drawn with replacement)."""
    if (pool_class[None, :] == np.unique(item_class)[:, None]).all(axis=1).any():
        raise ValueError("some item's class covers the whole candidate pool: no negatives to draw")
    idx = rng.integers(0, len(pool_class), size=(len(item_class), k))
    while True:
        clash = pool_class[idx] == item_class[:, None]
        if not clash.any():
            return idx
        idx[clash] = rng.integers(0, len(pool_class), size=int(clash.sum()))


def r_precision(image_codes: torch.Tensor, true_codes: torch.Tensor, item_class: np.ndarray,
                pool_codes: torch.Tensor, pool_class: np.ndarray, *, candidates: int = 100, folds: int = 10,
                seed: int = 0, chunk: int = 2048) -> RPrecision:
    """image_codes [M, D] with their true sentence codes [M, D]; negatives from pool_codes [P, D]."""
    if len(image_codes) < folds:
        raise ValueError(f"R-precision needs at least {folds} items (one per fold), got {len(image_codes)}")
    rng = np.random.default_rng(seed)
    negatives = sample_negatives(np.asarray(item_class), np.asarray(pool_class), candidates - 1, rng)
    img = F.normalize(image_codes.float(), dim=1)
    true = F.normalize(true_codes.float(), dim=1)
    pool = F.normalize(pool_codes.float(), dim=1)
    hits = np.zeros(len(img), bool)
    for s in range(0, len(img), chunk):
        e = min(s + chunk, len(img))
        true_score = (img[s:e] * true[s:e]).sum(dim=1)                              # [m]
        neg = pool[torch.from_numpy(negatives[s:e])]                                 # [m, k, D]
        neg_score = torch.einsum("md,mkd->mk", img[s:e], neg)
        hits[s:e] = (true_score[:, None] > neg_score).all(dim=1).numpy()
    per_fold = [float(f.mean()) for f in np.array_split(hits, folds)]
    return RPrecision(float(np.mean(per_fold)), float(np.std(per_fold)), per_fold, len(img), candidates)
