"""IS / FID / KID through torch-fidelity, with the provenance of every number beside it.

torch-fidelity computes the metrics; this module is only the glue: it checks the image
arrays, runs them once through the extractor (``features``: a set's features, computed once
and reused by every metric and row that needs them), hands the features to torch-fidelity's
metric functions (``metrics``), finds the extractor's weights on disk (never
downloading), and writes down which extractor, weights file, resize, sample counts, seed,
splits and KID subset size produced the numbers.

Notation (G = generated set, R = real set, f = the extractor's features, p(y|x) = its class
probabilities):
- IS  = exp E_x KL(p(y|x) || p(y)), averaged over ``isc_splits`` chunks of a seeded shuffle
  of G; for the ``inception`` extractor p(y|x) comes from the 1008 logits *without* the fc
  bias (torch-fidelity's ``logits_unbiased``, as in the original TF code).  Computed by
  ``inception_score``: torch-fidelity's steps, with KL's convention 0 log(0/q) = 0 where a class has
  no mass in a whole split (torch-fidelity gives NaN there).
- FID = |mu_G - mu_R|^2 + Tr(S_G + S_R - 2 (S_G S_R)^1/2) over the pool3 2048-d features;
  mu, S = mean and covariance.
- KID = unbiased MMD^2 with the cubic polynomial kernel (f.f'/d + 1)^3, mean and std over
  ``kid_subsets`` random subsets of ``kid_subset_size`` images from each set.

Extractors: a name of ours maps to a torch-fidelity registry name, plus (optionally) the
weights file it needs and how it resizes its input.  ``inception`` is torch-fidelity's
``inception-v3-compat`` (``FeatureExtractorInceptionV3``, the TF-ported FID Inception).  Any
other name torch-fidelity knows is passed through.  A custom extractor (the project's
``evaluator`` classifier) is a subclass of ``torch_fidelity.FeatureExtractorBase`` that
implements ``get_provided_features_list``, ``get_default_feature_layer_for_metric``,
``can_be_compiled``, ``get_dummy_input_for_compile`` and ``forward(uint8 [B, 3, H, W]) ->
tuple of [B, D] tensors``, takes ``(name, features_list, **kwargs)`` in ``__init__`` (every
``calculate_metrics`` kwarg reaches it, ``feature_extractor_weights_path`` included), and is
made known with ``register_extractor`` below (which calls
``torch_fidelity.register_feature_extractor``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch_fidelity
from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from t2igan.weights import FID_INCEPTION, WeightsError, find_weights, sha256

INCEPTION_FILE, INCEPTION_SHA256, INCEPTION_URL = FID_INCEPTION.file, FID_INCEPTION.sha256, FID_INCEPTION.url
RESIZE_TF1_BILINEAR = ("torch-fidelity interpolate_bilinear_2d_like_tensorflow1x (TF1-compatible bilinear, "
                       "align_corners=False) from each set's own size to 299x299, then (x - 128) / 128")


@dataclass(frozen=True)
class Extractor:
    """How one of our extractor names reaches torch-fidelity."""

    fidelity_name: str                  # name in torch-fidelity's registry
    resize: str                         # how images reach the network's input size (goes into every record)
    weights_file: str | None = None     # torch hub cache file name, found and SHA-checked by find_weights
    weights_sha256: str | None = None
    weights_url: str | None = None


EXTRACTORS: dict[str, Extractor] = {
    "inception": Extractor("inception-v3-compat", RESIZE_TF1_BILINEAR, INCEPTION_FILE, INCEPTION_SHA256,
                           INCEPTION_URL),
}


def register_extractor(name: str, cls: type, *, resize: str, weights_file: str | None = None,
                       weights_sha256: str | None = None, weights_url: str | None = None) -> None:
    """Make ``score(extractor=name)`` use ``cls`` (a ``torch_fidelity.FeatureExtractorBase`` subclass).

    Registering the same class twice is a no-op (modules get re-imported in tests); a
    different class under a taken name is an error, since torch-fidelity's registry is global.
    """
    taken = FEATURE_EXTRACTORS_REGISTRY.get(name)
    if taken is None:
        torch_fidelity.register_feature_extractor(name, cls)
    elif taken is not cls:
        raise ValueError(f"feature extractor {name!r} is already registered to {taken.__qualname__}")
    EXTRACTORS[name] = Extractor(name, resize, weights_file, weights_sha256, weights_url)


def check_images(images, which: str) -> np.ndarray:
    """The array if it is a usable set of RGB uint8 images, else an error naming ``which`` set."""
    if not isinstance(images, np.ndarray):
        raise TypeError(f"{which} images must be a numpy array [N, H, W, 3] uint8, got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise ValueError(f"{which} images must be uint8 in 0..255, got {images.dtype} "
                         "(map floats to 0..255 and round before scoring)")
    if images.ndim != 4 or images.shape[-1] != 3:
        hint = ""
        if images.ndim == 3:
            hint = " (grayscale? repeat it to 3 channels)"
        elif images.ndim == 4 and images.shape[1] == 3:
            hint = " (channels first? transpose to channels last)"
        raise ValueError(f"{which} images must be [N, H, W, 3] (RGB, channels last), got shape "
                         f"{tuple(images.shape)}{hint}")
    if len(images) == 0:
        raise ValueError(f"{which} set is empty")
    if len(images) < 2:
        raise ValueError(f"{which} set has 1 image: IS splits, FID's covariance and KID need at least 2")
    return images


def resolve_extractor(name: str) -> Extractor:
    """Our entry for ``name``, or a pass-through entry for a name only torch-fidelity knows."""
    if name in EXTRACTORS:
        return EXTRACTORS[name]
    if name in FEATURE_EXTRACTORS_REGISTRY:
        return Extractor(name, f"{name}'s own preprocessing (torch-fidelity extractor, not recorded here)")
    known = sorted(set(EXTRACTORS) | set(FEATURE_EXTRACTORS_REGISTRY))
    raise ValueError(f"unknown feature extractor {name!r}; known: {', '.join(known)}")


def extractor_weights(spec: Extractor, weights_path: str | None, weights_sha256: str | None = None) -> Path | None:
    """The checked weights file for ``spec``; None when the extractor brings its own weights.
    ``weights_sha256``: the digest to check instead of the pinned one (a test-only random file)."""
    if spec.weights_file:
        return find_weights(spec.weights_file, weights_sha256 or spec.weights_sha256, spec.weights_url, weights_path)
    if weights_path:
        path = Path(weights_path)
        if not path.is_file():
            raise WeightsError(f"weights file {path} for extractor {spec.fidelity_name!r} not found")
        return path
    # torch-fidelity's own extractors download their weights when given no path
    if FEATURE_EXTRACTORS_REGISTRY[spec.fidelity_name].__module__.startswith("torch_fidelity."):
        raise WeightsError(f"torch-fidelity's extractor {spec.fidelity_name!r} would download its weights "
                           "(offline: nothing is downloaded); pass weights_path")
    return None


def cuda_device(device) -> tuple[bool, int | None]:
    """torch-fidelity 0.4.0 knows only ``cuda=True/False`` (the current CUDA device); map ``device`` onto it."""
    dev = torch.device(device)
    if dev.type == "cpu":
        return False, None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} asked for but CUDA is not available")
        return True, dev.index
    raise ValueError(f"device {device!r}: torch-fidelity runs on CPU or CUDA only")


class Gather:
    """``count`` rows filled a batch at a time, in one buffer allocated at the first batch.

    Keeping each batch's small output tensor instead leaves small live blocks between the large
    per-batch buffers on the heap, which then cannot be reused: measured at 256 px, memory grew by
    about 370 KB per image (11 GB for 29,330) with the features themselves 2.5 KB per image.
    """

    def __init__(self, count: int):
        self.count, self.buf, self.n = count, None, 0

    def add(self, rows: torch.Tensor) -> None:
        rows = rows.detach().float().cpu()
        if self.buf is None:
            self.buf = torch.empty((self.count, *rows.shape[1:]))
        if self.n + len(rows) > self.count:
            raise ValueError(f"more than the {self.count} rows announced")
        self.buf[self.n:self.n + len(rows)] = rows
        self.n += len(rows)

    def result(self) -> torch.Tensor:
        if self.n != self.count:
            raise ValueError(f"{self.n} rows given but {self.count} announced")
        return self.buf if self.buf is not None else torch.empty(0)


class Extraction:
    """One extractor fed a batch at a time, keeping only its features: a set never has to be in
    memory whole (a memmap read in slices, or images streamed straight from a generator).

    The network is torch-fidelity's class under our name, built as ``calculate_metrics`` builds
    it, so the features are the ones torch-fidelity would compute.
    """

    def __init__(self, extractor: str = "inception", *, count: int, weights_path: str | None = None,
                 layers: tuple[str, ...] | None = None, device="cpu", weights_sha256: str | None = None):
        spec = resolve_extractor(extractor)
        weights = extractor_weights(spec, weights_path, weights_sha256)
        self.weights = weights
        cls = FEATURE_EXTRACTORS_REGISTRY[spec.fidelity_name]
        if layers is None:
            layers = tuple(dict.fromkeys(cls.get_default_feature_layer_for_metric(m) for m in ("isc", "fid", "kid")))
        kwargs = {"feature_extractor_weights_path": str(weights)} if weights is not None else {}
        cuda, cuda_index = cuda_device(device)
        self.device = torch.device("cuda", cuda_index or 0) if cuda else torch.device("cpu")
        self.layers = layers
        self.net = cls(spec.fidelity_name, list(layers), **kwargs).eval().to(self.device)
        self._out = {k: Gather(count) for k in layers}  # ``count``: the images it will be given

    @torch.no_grad()
    def add(self, images: np.ndarray) -> None:
        """uint8 [B, H, W, 3] (a memmap slice is fine: it is copied)."""
        x = torch.from_numpy(np.array(images)).permute(0, 3, 1, 2).to(self.device)
        for k, f in zip(self.layers, self.net(x)):
            self._out[k].add(f)

    def result(self) -> dict[str, torch.Tensor]:
        return {k: v.result() for k, v in self._out.items()}


def features(images: np.ndarray, *, extractor: str = "inception", weights_path: str | None = None,
             layers: tuple[str, ...] | None = None, batch_size: int = 64, device="cpu",
             which: str = "generated") -> dict[str, torch.Tensor]:
    """One pass of ``images`` (uint8 [N, H, W, 3]; a memmap is read a batch at a time) through the
    extractor: its feature ``layers`` (default: those IS, FID and KID read) as [N, D] tensors."""
    images = check_images(images, which)
    run = Extraction(extractor, count=len(images), weights_path=weights_path, layers=layers, device=device)
    for i in range(0, len(images), batch_size):
        run.add(images[i:i + batch_size])
    return run.result()


def inception_score(logits: torch.Tensor, splits: int, seed: int) -> dict[str, float]:
    """IS of [N, C] logits over ``splits`` chunks of a seeded shuffle: {"mean", "std"} of the chunks'
    exp E_x KL(p(y|x) || p(y)).  The same operations, in the same order and in float64, as
    torch-fidelity's ``isc_features_to_metric`` (so the same numbers), except that a class whose
    probability underflows to 0 in every image of a chunk adds 0 (0 log(0/0) = 0, KL's convention)
    instead of NaN: a chunk of one image, or an extractor with extreme logits (random weights)."""
    n = len(logits)
    logits = logits[np.random.RandomState(seed).permutation(n), :].double()
    p, log_p = logits.softmax(dim=1), logits.log_softmax(dim=1)
    scores = []
    for i in range(splits):
        rows = slice(i * n // splits, (i + 1) * n // splits)
        p_chunk, log_p_chunk = p[rows], log_p[rows]
        q = p_chunk.mean(dim=0, keepdim=True)
        # log p(y): torch-fidelity's q.log(), or, where q underflowed to 0 (a denormal p halved by the
        # mean) and the log would be -inf, the log of the mean taken from the log-probabilities
        stable = log_p_chunk.logsumexp(dim=0, keepdim=True) - math.log(len(p_chunk))
        log_q = torch.where(q > 0, q.log(), stable)
        kl = torch.where(p_chunk > 0, p_chunk * (log_p_chunk - log_q), 0.0)
        scores.append(kl.sum(dim=1).mean().exp().item())
    return {"mean": float(np.mean(scores)), "std": float(np.std(scores))}


def metrics(generated: dict[str, torch.Tensor], real: dict[str, torch.Tensor] | None, *,
            extractor: str = "inception", isc_splits: int = 10, kid_subset_size: int = 1000,
            kid_subsets: int = 100, seed: int = 0, weights: Path | None = None,
            sizes: tuple | None = None, random_weights: bool = False) -> dict:
    """IS of the ``generated`` features; FID and KID against ``real`` (None: IS only); with their
    provenance.  torch-fidelity's own functions compute the numbers from the features, as
    ``calculate_metrics`` does.  ``weights``: the extractor's weights file (recorded); ``sizes``:
    the image sides (generated, real), recorded."""
    if isc_splits < 1 or kid_subsets < 1:
        raise ValueError("isc_splits and kid_subsets must be at least 1")
    if kid_subset_size < 2:
        raise ValueError(f"kid_subset_size must be at least 2 (unbiased MMD), got {kid_subset_size}")
    spec = resolve_extractor(extractor)
    cls = FEATURE_EXTRACTORS_REGISTRY[spec.fidelity_name]
    layer = {m: cls.get_default_feature_layer_for_metric(m) for m in ("isc", "fid", "kid")}
    notes = []
    n_gen = len(generated[layer["isc"]])
    n_real = len(real[layer["fid"]]) if real is not None else None
    splits = min(isc_splits, n_gen)             # an empty split would make IS NaN
    if splits < isc_splits:
        notes.append(f"IS: {isc_splits} splits asked for but only {n_gen} generated images: used {splits}")
    isc = inception_score(generated[layer["isc"]], splits, seed)
    fid = kid = subset = None
    if real is None:
        notes.append("no real set: FID and KID not computed")
    else:
        subset = min(kid_subset_size, n_gen, n_real)   # torch-fidelity refuses a subset larger than a set
        if subset < kid_subset_size:
            smaller = "generated" if n_gen <= n_real else "real"
            notes.append(f"KID: subset size {kid_subset_size} larger than the {smaller} set "
                         f"({min(n_gen, n_real)} images): used {subset}")
        fid_layer = layer["fid"]
        if fid_layer.isdigit() and min(n_gen, n_real) <= int(fid_layer):
            notes.append(f"FID: {min(n_gen, n_real)} images for {fid_layer}-d features: the covariance is singular, "
                         "FID is biased upwards and unstable; compare FIDs only at equal N")
        fid = fid_statistics_to_metric(fid_features_to_statistics(generated[fid_layer]),
                                       fid_features_to_statistics(real[fid_layer]), False)[KEY_METRIC_FID]
        kid = kid_features_to_metric(generated[layer["kid"]], real[layer["kid"]], kid_subsets=kid_subsets,
                                     kid_subset_size=subset, rng_seed=seed, verbose=False)
    if random_weights:
        notes.append("RANDOM extractor weights (a test-only setting): these numbers are not IS, FID or KID")
    if extractor == "inception":
        notes.append("IS from the ImageNet Inception, not the CUB-finetuned Inception of the text-to-image "
                     "papers: not comparable to their IS")
    metrics_used = ["isc"] + (["fid", "kid"] if real is not None else [])
    gen_size, real_size = sizes if sizes is not None else (None, None)
    return {
        "is_mean": isc["mean"],
        "is_std": isc["std"],
        "fid": fid,
        "kid_mean": kid[KEY_METRIC_KID_MEAN] if kid else None,
        "kid_std": kid[KEY_METRIC_KID_STD] if kid else None,
        "extractor": extractor,
        "fidelity_extractor": spec.fidelity_name,
        "feature_layers": {m: layer[m] for m in metrics_used},
        "weights_file": weights.name if weights is not None else None,
        "weights_sha256": sha256(weights) if weights is not None else None,
        "weights_random": random_weights,
        "n_generated": n_gen,
        "n_real": n_real,
        "generated_size": gen_size,
        "real_size": real_size,
        "resize": spec.resize,
        "seed": seed,
        "isc_splits": splits,
        "kid_subsets": kid_subsets if real is not None else None,
        "kid_subset_size": kid_subset_size,
        "kid_subset_size_used": subset,
        "torch_fidelity_version": torch_fidelity.__version__,
        "notes": notes,
    }


def score(generated: np.ndarray, real: np.ndarray | None, *, extractor: str = "inception",
          weights_path: str | None = None, isc_splits: int = 10, kid_subset_size: int = 1000,
          kid_subsets: int = 100, seed: int = 0, batch_size: int = 64, device="cpu") -> dict:
    """IS of ``generated``; FID and KID against ``real`` (None: IS only); with their provenance.

    Images are [N, H, W, 3] uint8 at their own size; the extractor resizes them (recorded as
    ``resize``).  ``seed`` drives IS's shuffle before splitting and KID's subset draws.
    Splits and KID subset size shrink to fit small sets; each shrink is said in ``notes``.
    """
    generated = check_images(generated, "generated")
    if real is not None:
        real = check_images(real, "real")
    if isc_splits < 1 or kid_subsets < 1 or batch_size < 1:
        raise ValueError("isc_splits, kid_subsets and batch_size must be at least 1")
    if kid_subset_size < 2:
        raise ValueError(f"kid_subset_size must be at least 2 (unbiased MMD), got {kid_subset_size}")
    kw = dict(extractor=extractor, weights_path=weights_path, batch_size=batch_size, device=device)
    gen = features(generated, **kw)
    ref = features(real, which="real", **kw) if real is not None else None
    spec = resolve_extractor(extractor)
    out = metrics(gen, ref, extractor=extractor, isc_splits=isc_splits, kid_subset_size=kid_subset_size,
                  kid_subsets=kid_subsets, seed=seed, weights=extractor_weights(spec, weights_path),
                  sizes=(list(generated.shape[1:3]), list(real.shape[1:3]) if real is not None else None))
    return {**out, "device": str(device)}
