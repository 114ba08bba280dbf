"""Scores of a generated set: IS / FID / KID (torch-fidelity, evaluator features), R-precision
with each DAMSM judge, and attribute accuracy (does the evaluator read what the caption names?).

A set is uint8 images [N, s, s, 3] with the caption row each was generated from.  The real
reference set is the test images centre-cropped to the same size, exactly as the generator's
training crops are made (without the random offset and flip).
"""
from __future__ import annotations

import numpy as np
import torch

from t2igan.data import cub
from t2igan.data.dataset import centre_crops, to_branches
from t2igan.data.preprocess import Prepared
from t2igan.generate import encode_rows
from t2igan.metrics import evaluator_features, fidelity
from t2igan.metrics.r_precision import r_precision
from t2igan.models import ragan
from t2igan.models.evaluator import attribute_accuracy, attribute_groups
from t2igan.train import evaluator as evaluator_training


def real_crops(prepared: Prepared, size: int) -> np.ndarray:
    """The test images, centre-cropped to ``size``: uint8 [N_test, size, size, 3]."""
    return centre_crops(prepared, prepared.split_indices("test"), size)


def test_caption_rows(prepared: Prepared) -> np.ndarray:
    test = prepared.split_indices("test")
    return (test[:, None] * cub.N_CAPTIONS + np.arange(cub.N_CAPTIONS)).ravel()


@torch.no_grad()
def sentence_codes(damsm, prepared: Prepared, rows: np.ndarray, max_words: int, seed: int,
                   batch_size: int = 500) -> torch.Tensor:
    captions, lengths = encode_rows(prepared, rows, max_words, seed)
    return torch.cat([damsm.encode(captions[i:i + batch_size], lengths[i:i + batch_size])[1]
                      for i in range(0, len(rows), batch_size)])


def _pixels(images: np.ndarray) -> torch.Tensor:
    """uint8 [B, s, s, 3] (a memmap slice is fine) -> float [B, 3, s, s] in [-1, 1]."""
    x = torch.from_numpy(np.array(images)).permute(0, 3, 1, 2)  # a writable copy of the memmap
    return to_branches(x, [x.shape[-1]])[-1]


@torch.no_grad()
def image_codes(damsm, images: np.ndarray, batch_size: int = 500) -> torch.Tensor:
    return torch.cat([damsm.image(_pixels(images[i:i + batch_size]))[1] for i in range(0, len(images), batch_size)])


@torch.no_grad()
def reference_similarity(damsm, images: np.ndarray, patches: np.ndarray, batch_size: int = 500) -> float:
    """Mean over images of RaGAN's similarity (mean over patch regions of the best cosine with an
    image region), both through ``damsm``'s image encoder: does an image show its reference?"""
    sims = []
    for i in range(0, len(images), batch_size):
        image_regions, _ = damsm.image(_pixels(images[i:i + batch_size]))
        patch_regions, _ = damsm.image(_pixels(patches[i:i + batch_size]))
        sims.append(ragan.reference_similarity(patch_regions, image_regions))
    return float(torch.cat(sims).mean())


def mean_abs_difference(a: np.ndarray, b: np.ndarray, chunk: int = 1000) -> float:
    """Mean absolute pixel difference of two uint8 image sets of one shape, on a 0..1 scale."""
    if a.shape != b.shape:
        raise ValueError(f"image sets differ in shape: {a.shape} and {b.shape}")
    total = sum(float(np.abs(a[i:i + chunk].astype(np.int16) - b[i:i + chunk]).sum()) for i in range(0, len(a), chunk))
    return total / (a.size * 255)


def caption_pool(damsm, prepared: Prepared, *, max_words: int, seed: int) -> torch.Tensor:
    """A judge's sentence codes of every test caption (``test_caption_rows`` order): the true
    captions and the negatives of every set it scores, so computed once per judge."""
    return sentence_codes(damsm, prepared, test_caption_rows(prepared), max_words, seed)


def judge_r_precision(damsm, pool: torch.Tensor, images: np.ndarray, rows: np.ndarray, prepared: Prepared, *,
                      seed: int, candidates: int, folds: int) -> dict:
    """R-precision of ``images`` against their captions, negatives from all test captions of other classes."""
    pool_rows = test_caption_rows(prepared)
    position = {int(r): i for i, r in enumerate(pool_rows)}
    true = pool[torch.tensor([position[int(r)] for r in rows])]
    classes = prepared.index["class_ids"]
    result = r_precision(image_codes(damsm, images), true, classes[rows // cub.N_CAPTIONS], pool,
                         classes[pool_rows // cub.N_CAPTIONS], candidates=candidates, folds=folds, seed=seed)
    return {"mean": result.mean, "std": result.std}


def read_attributes(model, images: np.ndarray, rows: np.ndarray, prepared: Prepared) -> dict:
    """Attribute accuracy: the evaluator's reading of every attribute each image's caption names."""
    logits = evaluator_training.predict(model, images)["attributes"]
    named = [prepared.caption_attributes(int(r)).astype(np.int64) - 1 for r in rows]
    return attribute_accuracy(logits, named, attribute_groups(prepared.meta["attribute_names"]))


def score_set(images: np.ndarray, rows: np.ndarray, *, prepared: Prepared, real: np.ndarray, judges: dict,
              evaluator_path: str, seed: int, candidates: int, folds: int, isc_splits: int,
              kid_subset_size: int, kid_subsets: int) -> dict:
    """Every score of one set, as a flat dict; ``judges`` maps a name to (FrozenDamsm, its caption_pool)."""
    if len(images) != len(rows):
        raise ValueError(f"{len(images)} images but {len(rows)} caption rows")
    fid = fidelity.score(images, real, extractor=evaluator_features.NAME, weights_path=evaluator_path,
                         isc_splits=isc_splits, kid_subset_size=kid_subset_size, kid_subsets=kid_subsets, seed=seed)
    out = {"is": fid["is_mean"], "is_std": fid["is_std"], "fid": fid["fid"], "kid": fid["kid_mean"],
           "kid_std": fid["kid_std"]}
    for name, (damsm, pool) in judges.items():
        rp = judge_r_precision(damsm, pool, images, rows, prepared, seed=seed, candidates=candidates, folds=folds)
        out[f"r_precision_{name}"], out[f"r_precision_{name}_std"] = rp["mean"], rp["std"]
    attrs = read_attributes(evaluator_training.load(evaluator_path), images, rows, prepared)
    out["attribute_accuracy"] = attrs["accuracy"]
    out["images"] = int(len(images))
    out["protocol"] = {k: fid[k] for k in ("extractor", "weights_file", "weights_sha256", "n_generated", "n_real",
                                           "resize", "seed", "isc_splits", "kid_subset_size_used", "notes")}
    out["protocol"]["r_precision"] = (f"{candidates} candidates (1 true + others of other classes from all test "
                                      f"captions), cosine on each judge's codes, {folds} folds, seed {seed}")
    out["protocol"]["attribute_accuracy"] = (f"{attrs['pairs']} (image, named attribute) pairs; read = the "
                                             "evaluator's highest logit within the attribute's group")
    return out
