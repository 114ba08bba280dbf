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


def oracle_r_precision(image_attributes: np.ndarray, item_class: np.ndarray, named: list[np.ndarray], *,
                       candidates: int = 100, folds: int = 10, seed: int = 0, chunk: int = 1024) -> dict:
    """The R-precision a judge knowing every true attribute would reach: the ceiling set by the captions.

    Item i is caption i (``named[i]``: the 0-based attribute columns it names) of an image with
    attributes ``image_attributes[i]`` (bool [M, A]).  The judge scores a caption 1 when all it
    names is true of the image, else 0.  Negatives are drawn as :func:`r_precision` draws them
    (the other items' captions, other classes, same seed), so a negative that happens to be
    wholly true of the image ties with the true caption: ``strict`` counts ties as misses,
    ``random_ties`` is the expected hit rate when they are broken at random.
    """
    if len(named) != len(image_attributes) or len(named) < folds:
        raise ValueError(f"{len(named)} captions for {len(image_attributes)} images; need equal counts >= {folds}")
    rng = np.random.default_rng(seed)
    negatives = sample_negatives(np.asarray(item_class), np.asarray(item_class), candidates - 1, rng)
    says = np.zeros(image_attributes.shape, np.float32)
    for i, cols in enumerate(named):
        says[i, cols] = 1.0
    says_t, false_t = torch.from_numpy(says), torch.from_numpy(~np.asarray(image_attributes, bool)).float()
    ties = np.zeros(len(named), np.int64)
    for s in range(0, len(named), chunk):
        e = min(s + chunk, len(named))
        wrong = torch.einsum("mka,ma->mk", says_t[torch.from_numpy(negatives[s:e])], false_t[s:e])
        ties[s:e] = (wrong == 0).sum(dim=1).numpy()
    per_fold = lambda v: [float(f.mean()) for f in np.array_split(v, folds)]  # noqa: E731
    return {"strict": float(np.mean(per_fold(ties == 0))), "random_ties": float(np.mean(per_fold(1.0 / (1 + ties)))),
            "consistent_negatives": float(ties.mean()), "facts_per_caption": float(np.mean([len(c) for c in named])),
            "n": len(named), "candidates": candidates}
