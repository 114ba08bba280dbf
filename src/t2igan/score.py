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

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from t2igan import io, weights
from t2igan.data import cub
from t2igan.data.dataset import centre_crops, to_branches
from t2igan.data.preprocess import Prepared
from t2igan.errors import T2IGANError
from t2igan.generate import encode_rows
from t2igan.metrics import evaluator_features, fidelity, registry
from t2igan.metrics.r_precision import r_precision
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
    device = next(damsm.text.parameters()).device
    return torch.cat([damsm.encode(captions[i:i + batch_size].to(device), lengths[i:i + batch_size])[1].float().cpu()
                      for i in range(0, len(rows), batch_size)])


def _pixels(images: np.ndarray, device=None) -> torch.Tensor:
    """uint8 [B, s, s, 3] (a memmap slice is fine) -> float [B, 3, s, s] in [-1, 1] on ``device``."""
    x = torch.from_numpy(np.array(images)).permute(0, 3, 1, 2).to(device or "cpu")  # a writable copy
    return to_branches(x, [x.shape[-1]])[-1]


BATCH_PIXELS = 500 * 64 * 64  # images per scoring batch x their area: 500 at 64 px, 31 at 256 px


def batch_size_for(side: int, network_side: int = 0) -> int:
    """How many images of ``side`` px a scoring batch holds: a fixed pixel budget, so the networks'
    activations (the evaluator's first layer keeps 16 channels at full size) take the same memory,
    about 0.3 GB, at every image size; at 256 px a batch of 500 would need 8 GB.  ``network_side``:
    the side a network resizes its input to (the FID Inception's 299), when larger."""
    return max(1, BATCH_PIXELS // max(side, network_side) ** 2)


def batches(images, batch_size: int | None = None, network_side: int = 0) -> Iterator[np.ndarray]:
    """``images`` a batch of ``batch_size`` (default ``batch_size_for`` their side) at a time, in
    order: a stored set (an array, or ``io.StoredImages``, read by plain file reads) is read a
    slice at a time, never whole; a stream of batches (e.g. ``generate_batches``) is regrouped to
    that size, so every network sees the batches it would see on the stored set."""
    if isinstance(images, np.ndarray):
        fidelity.check_images(images, "set")
    if isinstance(images, (np.ndarray, io.StoredImages)):
        batch_size = batch_size or batch_size_for(images.shape[1], network_side)
        for i in range(0, len(images), batch_size):
            yield images[i:i + batch_size]
        return
    held, n = [], 0
    for batch in images:
        batch_size = batch_size or batch_size_for(batch.shape[1], network_side)
        held.append(batch)
        n += len(batch)
        while n >= batch_size:
            joined = np.concatenate(held)
            yield joined[:batch_size]
            held, n = [joined[batch_size:]], n - batch_size
    if n:
        yield np.concatenate(held)


def _device(module: torch.nn.Module) -> torch.device:
    return next(module.parameters()).device


@dataclass(frozen=True)
class InputJudge:
    """Does an image show the input it was generated from?  A family's ``input_similarity`` (RaGAN's:
    the mean over the patch's regions of the best cosine with an image region) of the regions that
    ``damsm``'s image encoder sees in both (stage score@ uses the evaluator DAMSM, not the generator's
    judge)."""

    damsm: object                                                  # train.gan.FrozenDamsm
    similarity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (input regions, image regions) -> [B]

    @torch.no_grad()
    def __call__(self, images: np.ndarray, inputs: np.ndarray) -> torch.Tensor:
        """Per image (uint8 [B, s, s, 3]), its similarity to its input (uint8 [B, p, p, 3]): [B]."""
        device = _device(self.damsm.image)
        image_regions, _ = self.damsm.image(_pixels(images, device))
        input_regions, _ = self.damsm.image(_pixels(inputs, device))
        return self.similarity(input_regions, image_regions).float().cpu()


def input_similarity(judge: InputJudge, images, inputs: np.ndarray, batch_size: int | None = None) -> float:
    """The mean over images of ``judge``'s similarity to their inputs.  ``images``: a set or a stream of
    batches (``batches``), one input per image."""
    sims = fidelity.Gather(len(inputs))
    for batch in batches(images, batch_size):
        if sims.n + len(batch) > len(inputs):
            raise ValueError(f"more images than the {len(inputs)} inputs")
        sims.add(judge(batch, inputs[sims.n:sims.n + len(batch)]))
    if sims.n != len(inputs):
        raise ValueError(f"{sims.n} images but {len(inputs)} inputs")
    return float(sims.result().mean())


def mean_abs_difference(a: np.ndarray, b: np.ndarray, chunk: int = 250) -> float:
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
    layers (``EVALUATOR_LAYERS``) and each DAMSM judge's image codes, all [N, D] in set order; and
    for a set generated from input images (RaGAN's reference patches), each image's similarity to its input [N]."""

    evaluator: dict[str, torch.Tensor]
    codes: dict[str, torch.Tensor]
    similarity: torch.Tensor | None = None
    inception: dict[str, torch.Tensor] | None = None   # the FID Inception's layers, when scored with it

    def __len__(self) -> int:
        return len(self.evaluator["features"])

    def take(self, index) -> SetFeatures:
        index = torch.as_tensor(np.asarray(index), dtype=torch.long)
        return SetFeatures({k: v[index] for k, v in self.evaluator.items()},
                           {k: v[index] for k, v in self.codes.items()},
                           None if self.similarity is None else self.similarity[index],
                           None if self.inception is None else {k: v[index] for k, v in self.inception.items()})


@dataclass(frozen=True)
class InceptionWeights:
    """The FID Inception's file as stage fetch_weights placed it: path, SHA-256 to check (None: the
    pinned one), and whether it is a test-only random file (said in every score made with it)."""

    path: str
    sha256: str | None
    random: bool

    @classmethod
    def for_params(cls, p) -> InceptionWeights | None:
        """None unless the scale's ``extractors`` list ``inception``."""
        if "inception" not in p.scale.extractors:
            return None
        path, digest, random = weights.located(p.weights.dir, weights.FID_INCEPTION)
        return cls(str(path), digest if random else None, random)


def set_features(images, *, evaluator_path: str, judges: dict, batch_size: int | None = None, device="cpu",
                 inputs: np.ndarray | None = None, input_judge: InputJudge | None = None,
                 inception: InceptionWeights | None = None, count: int | None = None) -> SetFeatures:
    """The features of ``images`` that every score needs, in one pass a batch at a time: a stored
    set (uint8 [N, s, s, 3], a memmap is fine) or a stream of uint8 batches straight from a
    generator (``generate_batches``), so only features are kept, never the set.  ``judges``: name ->
    FrozenDamsm (their image encoders give the R-precision codes); with ``inputs`` (the input image
    each image was generated from) and ``input_judge``, also their similarity; with ``inception``, the FID
    Inception's layers (IS, FID, KID) from the same pass.  ``count``: the number of images of a
    stream (a stored set knows its own), so the features are gathered in buffers of that size."""
    if count is None:
        count = len(images)
    if inputs is not None and len(inputs) != count:
        raise ValueError(f"{count} images but {len(inputs)} inputs")
    if count < 2:
        raise ValueError(f"a set of {count} image(s): IS splits, FID's covariance and KID need at least 2")
    evaluator = fidelity.Extraction(evaluator_features.NAME, count=count, weights_path=evaluator_path,
                                    layers=EVALUATOR_LAYERS, device=device)
    fid_net = None if inception is None else fidelity.Extraction(
        "inception", count=count, weights_path=inception.path, weights_sha256=inception.sha256, device=device)
    codes = {name: fidelity.Gather(count) for name in judges}
    sims, n = fidelity.Gather(count) if input_judge is not None else None, 0
    with torch.no_grad():
        for batch in batches(images, batch_size, network_side=0 if inception is None else 299):
            evaluator.add(batch)
            if fid_net is not None:
                fid_net.add(batch)
            for name, d in judges.items():
                codes[name].add(d.image(_pixels(batch, _device(d.image)))[1])
            if sims is not None:
                sims.add(input_judge(batch, inputs[n:n + len(batch)]))
            n += len(batch)
    if n != count:
        raise ValueError(f"{n} images given but {count} announced")
    return SetFeatures(evaluator.result(), {k: v.result() for k, v in codes.items()},
                       None if sims is None else sims.result(), None if fid_net is None else fid_net.result())


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
    inception: InceptionWeights | None = None   # the file its Inception features came from

    FILE = "reference.pt"

    @classmethod
    def compute(cls, prepared: Prepared, *, image_size: int, evaluator_path: str, judges: dict, max_words: int,
                seed: int, device="cpu", inception: InceptionWeights | None = None) -> Reference:
        feats = set_features(real_crops(prepared, image_size), evaluator_path=evaluator_path, judges=judges,
                             device=device, inception=inception)
        pools = {name: caption_pool(d, prepared, max_words=max_words, seed=seed) for name, d in judges.items()}
        return cls(feats, pools, image_size, inception)

    def for_rows(self, prepared: Prepared, rows: np.ndarray) -> SetFeatures:
        """The features of each caption row's own real image: the `real` row of a set of ``rows``.
        An image is computed once however many of its captions a set holds."""
        return self.features.take(reference_positions(prepared, rows))

    def save(self, directory: str | Path) -> None:
        with io.atomic_dir(directory) as tmp:
            extra = {} if self.inception is None else {
                "inception": self.features.inception,
                "inception_weights": [self.inception.path, self.inception.sha256 or "", self.inception.random]}
            torch.save({"evaluator": self.features.evaluator, "codes": self.features.codes, "pools": self.pools,
                        "image_size": self.image_size, **extra}, tmp / self.FILE)

    @classmethod
    def load(cls, directory: str | Path) -> Reference:
        path = Path(directory) / cls.FILE
        if not path.is_file():
            raise T2IGANError(f"{path}: no reference features here; run `dvc repro score_reference`")
        state = torch.load(path, weights_only=True)
        inception = None
        if "inception" in state:
            where, digest, random = state["inception_weights"]
            inception = InceptionWeights(where, digest or None, bool(random))
        return cls(SetFeatures(state["evaluator"], state["codes"], inception=state.get("inception")), state["pools"],
                   state["image_size"], inception)


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


class SetScorer:
    """One set's features and the computations its metrics share, each run at most once (what the
    registry's ``compute`` functions read: ``t2igan.metrics.registry``)."""

    def __init__(self, f: SetFeatures, rows: np.ndarray, *, reference: Reference, prepared: Prepared,
                 evaluator_path: str, seed: int, candidates: int, folds: int, isc_splits: int,
                 kid_subset_size: int, kid_subsets: int):
        self.f, self.rows, self.reference, self.prepared = f, rows, reference, prepared
        self.evaluator_path, self.seed, self.candidates, self.folds = evaluator_path, seed, candidates, folds
        self.fidelity_args = {"isc_splits": isc_splits, "kid_subset_size": kid_subset_size,
                              "kid_subsets": kid_subsets, "seed": seed,
                              "sizes": ([reference.image_size] * 2, [reference.image_size] * 2)}
        self._done: dict = {}

    def _once(self, key, compute):
        if key not in self._done:
            self._done[key] = compute()
        return self._done[key]

    def fidelity(self, inception: bool = False) -> dict | None:
        """torch-fidelity's IS / FID / KID on the evaluator's features, or the FID Inception's (None when
        the set was not scored with it)."""
        if not inception:
            return self._once("evaluator", lambda: fidelity.metrics(
                self.f.evaluator, self.reference.features.evaluator, extractor=evaluator_features.NAME,
                weights=Path(self.evaluator_path), **self.fidelity_args))
        if self.f.inception is None:
            return None
        if self.reference.features.inception is None:
            raise T2IGANError("the set was scored with the FID Inception but the reference was not: run "
                              "`dvc repro score_reference` with the same extractors")
        w = self.reference.inception
        return self._once("inception", lambda: fidelity.metrics(
            self.f.inception, self.reference.features.inception, extractor="inception", weights=Path(w.path),
            random_weights=w.random, **self.fidelity_args))

    def r_precision(self, judge: str) -> dict:
        return self._once(("r_precision", judge), lambda: judge_r_precision(
            self.f.codes[judge], self.reference.pools[judge], self.rows, self.prepared, seed=self.seed,
            candidates=self.candidates, folds=self.folds))

    def attributes(self) -> dict:
        return self._once("attributes", lambda: read_attributes(self.f.evaluator["attributes"], self.rows,
                                                                self.prepared))


def score_features(f: SetFeatures, rows: np.ndarray, *, reference: Reference, prepared: Prepared,
                   evaluator_path: str, seed: int, candidates: int, folds: int, isc_splits: int,
                   kid_subset_size: int, kid_subsets: int, text: bool = True) -> dict:
    """Every metric of the registry for one set, from its features, as a flat dict with the protocol.
    ``text=False``: a model that never reads a caption, whose text metrics are "n/a"."""
    if len(f) != len(rows):
        raise ValueError(f"{len(f)} images but {len(rows)} caption rows")
    scorer = SetScorer(f, rows, reference=reference, prepared=prepared, evaluator_path=evaluator_path, seed=seed,
                       candidates=candidates, folds=folds, isc_splits=isc_splits, kid_subset_size=kid_subset_size,
                       kid_subsets=kid_subsets)
    out = {}
    for m in registry.METRICS:
        if m.text and not text:
            out.update({m.key: "n/a", **({f"{m.key}_std": "n/a"} if m.show_std else {})})
        else:
            out.update(m.compute(scorer))
    fid = scorer.fidelity()
    protocol = {k: fid[k] for k in ("extractor", "weights_file", "weights_sha256", "n_generated", "n_real",
                                    "resize", "seed", "isc_splits", "kid_subset_size_used", "notes")}
    inc = scorer.fidelity(inception=True)
    if inc is not None:
        protocol["inception"] = {k: inc[k] for k in ("fidelity_extractor", "weights_file", "weights_sha256",
                                                     "weights_random", "feature_layers", "resize", "notes")}
    if text:
        protocol["r_precision"] = (f"{candidates} candidates (1 true + others of other classes from all test "
                                   f"captions), cosine on each judge's codes, {folds} folds, seed {seed}")
        protocol["attribute_accuracy"] = (f"{scorer.attributes()['pairs']} (image, named attribute) pairs; read "
                                          "= the evaluator's highest logit within the attribute's group")
    out["images"] = int(len(rows))
    out["protocol"] = protocol
    return out
