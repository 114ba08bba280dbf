"""Scores of a generated set: IS / FID / KID (torch-fidelity, evaluator features), R-precision
with each DAMSM judge, and attribute accuracy (does the evaluator read what the caption names?).

A set is read once per network (``set_features``), and every score is computed from those
features (``score_features``).  The real test set's features and the judges' caption pools are
computed once per graph (``Reference``, stage ``score_reference``) and read by every score stage.

A set is uint8 images [N, s, s, 3] with the caption row each was generated from.  The real
reference set is the test images centre-cropped to the same size, exactly as the generator's
training crops are made (without the random offset and flip).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from t2igan import io
from t2igan.data import cub
from t2igan.data.dataset import centre_crops, to_branches
from t2igan.data.preprocess import Prepared
from t2igan.errors import T2IGANError
from t2igan.generate import encode_rows
from t2igan.metrics import evaluator_features, fidelity
from t2igan.metrics.r_precision import r_precision
from t2igan.models import ragan
from t2igan.models.evaluator import attribute_accuracy, attribute_groups


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


EVALUATOR_LAYERS = ("features", "logits", "attributes")  # FID / KID, IS, attribute accuracy
JUDGES = ("damsm", "evaluator_damsm")  # the R-precision judges: the training DAMSM and an independent one


@dataclass
class SetFeatures:
    """What scoring reads of a set of images, from one pass of each network over it: the evaluator's
    layers (``EVALUATOR_LAYERS``) and each DAMSM judge's image codes, all [N, D] in set order."""

    evaluator: dict[str, torch.Tensor]
    codes: dict[str, torch.Tensor]

    def __len__(self) -> int:
        return len(self.evaluator["features"])

    def take(self, index) -> SetFeatures:
        index = torch.as_tensor(np.asarray(index), dtype=torch.long)
        return SetFeatures({k: v[index] for k, v in self.evaluator.items()},
                           {k: v[index] for k, v in self.codes.items()})


def set_features(images: np.ndarray, *, evaluator_path: str, judges: dict, batch_size: int = 500) -> SetFeatures:
    """The features of ``images`` (uint8 [N, s, s, 3], read a batch at a time) that every score needs;
    ``judges``: name -> FrozenDamsm (their image encoders give the R-precision codes)."""
    evaluator = fidelity.features(images, extractor=evaluator_features.NAME, weights_path=evaluator_path,
                                  layers=EVALUATOR_LAYERS, batch_size=batch_size)
    return SetFeatures(evaluator, {name: image_codes(d, images, batch_size) for name, d in judges.items()})


def reference_positions(prepared: Prepared, rows: np.ndarray) -> np.ndarray:
    """The position of each caption row's image among the test images (``real_crops`` order)."""
    position = {int(r): i for i, r in enumerate(prepared.split_indices("test"))}
    return np.array([position[int(r) // cub.N_CAPTIONS] for r in rows], np.int64)


@dataclass
class Reference:
    """The real test set as every score stage reads it, computed once per graph (stage
    ``score_reference``): the features of each test image's crop (``features``, in
    ``prepared.split_indices("test")`` order), and each judge's caption pool."""

    features: SetFeatures
    pools: dict[str, torch.Tensor]
    image_size: int

    FILE = "reference.pt"

    @classmethod
    def compute(cls, prepared: Prepared, *, image_size: int, evaluator_path: str, judges: dict, max_words: int,
                seed: int) -> Reference:
        feats = set_features(real_crops(prepared, image_size), evaluator_path=evaluator_path, judges=judges)
        pools = {name: caption_pool(d, prepared, max_words=max_words, seed=seed) for name, d in judges.items()}
        return cls(feats, pools, image_size)

    def for_rows(self, prepared: Prepared, rows: np.ndarray) -> SetFeatures:
        """The features of each caption row's own real image: the `real` row of a set of ``rows``.
        An image is computed once however many of its captions a set holds."""
        return self.features.take(reference_positions(prepared, rows))

    def save(self, directory: str | Path) -> None:
        with io.atomic_dir(directory) as tmp:
            torch.save({"evaluator": self.features.evaluator, "codes": self.features.codes, "pools": self.pools,
                        "image_size": self.image_size}, tmp / self.FILE)

    @classmethod
    def load(cls, directory: str | Path) -> Reference:
        path = Path(directory) / cls.FILE
        if not path.is_file():
            raise T2IGANError(f"{path}: no reference features here; run `dvc repro score_reference`")
        state = torch.load(path, weights_only=True)
        return cls(SetFeatures(state["evaluator"], state["codes"]), state["pools"], state["image_size"])


def judge_r_precision(codes: torch.Tensor, pool: torch.Tensor, rows: np.ndarray, prepared: Prepared, *,
                      seed: int, candidates: int, folds: int) -> dict:
    """R-precision of images with image ``codes`` (one judge's) against their captions ``rows``,
    negatives from all test captions of other classes (``pool``: the judge's caption pool)."""
    pool_rows = test_caption_rows(prepared)
    position = {int(r): i for i, r in enumerate(pool_rows)}
    true = pool[torch.tensor([position[int(r)] for r in rows])]
    classes = prepared.index["class_ids"]
    result = r_precision(codes, true, classes[rows // cub.N_CAPTIONS], pool,
                         classes[pool_rows // cub.N_CAPTIONS], candidates=candidates, folds=folds, seed=seed)
    return {"mean": result.mean, "std": result.std}


def read_attributes(logits, rows: np.ndarray, prepared: Prepared) -> dict:
    """Attribute accuracy: the evaluator's reading (attribute ``logits`` [N, A]) of every attribute
    each image's caption names."""
    named = [prepared.caption_attributes(int(r)).astype(np.int64) - 1 for r in rows]
    return attribute_accuracy(np.asarray(logits), named, attribute_groups(prepared.meta["attribute_names"]))


TEXT_SCORES = ("r_precision_damsm", "r_precision_damsm_std", "r_precision_evaluator_damsm",
               "r_precision_evaluator_damsm_std", "attribute_accuracy")


def score_features(f: SetFeatures, rows: np.ndarray, *, reference: Reference, prepared: Prepared,
                   evaluator_path: str, seed: int, candidates: int, folds: int, isc_splits: int,
                   kid_subset_size: int, kid_subsets: int, text: bool = True) -> dict:
    """Every score of one set from its features, as a flat dict.  ``text=False``: a model that never
    reads a caption, whose R-precision and attribute accuracy are "n/a"."""
    if len(f) != len(rows):
        raise ValueError(f"{len(f)} images but {len(rows)} caption rows")
    fid = fidelity.metrics(f.evaluator, reference.features.evaluator, extractor=evaluator_features.NAME,
                           isc_splits=isc_splits, kid_subset_size=kid_subset_size, kid_subsets=kid_subsets,
                           seed=seed, weights=Path(evaluator_path),
                           sizes=([reference.image_size] * 2, [reference.image_size] * 2))
    out = {"is": fid["is_mean"], "is_std": fid["is_std"], "fid": fid["fid"], "kid": fid["kid_mean"],
           "kid_std": fid["kid_std"]}
    protocol = {k: fid[k] for k in ("extractor", "weights_file", "weights_sha256", "n_generated", "n_real",
                                    "resize", "seed", "isc_splits", "kid_subset_size_used", "notes")}
    if text:
        for name, pool in reference.pools.items():
            rp = judge_r_precision(f.codes[name], pool, rows, prepared, seed=seed, candidates=candidates, folds=folds)
            out[f"r_precision_{name}"], out[f"r_precision_{name}_std"] = rp["mean"], rp["std"]
        attrs = read_attributes(f.evaluator["attributes"], rows, prepared)
        out["attribute_accuracy"] = attrs["accuracy"]
        protocol["r_precision"] = (f"{candidates} candidates (1 true + others of other classes from all test "
                                   f"captions), cosine on each judge's codes, {folds} folds, seed {seed}")
        protocol["attribute_accuracy"] = (f"{attrs['pairs']} (image, named attribute) pairs; read = the "
                                          "evaluator's highest logit within the attribute's group")
    else:
        out.update({key: "n/a" for key in TEXT_SCORES})
    out["images"] = int(len(rows))
    out["protocol"] = protocol
    return out
