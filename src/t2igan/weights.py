"""Pretrained weight files: found on disk (a path in params, or the torch hub cache), checked by SHA-256.

``find_weights`` never downloads: a stage that loads weights runs offline.  Stage
``fetch_weights`` (``place``) puts the files the params need into models/weights/: found in
data/raw/ or the torch hub cache (hand-placed, checked), else downloaded with the project's
downloader; when neither works its error names the file, its checksum and the two places to put
it, before any heavy work.  ``random`` files (test only) stand in for them where no network is.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from t2igan import io
from t2igan.config import Source
from t2igan.data import download
from t2igan.errors import DownloadError, T2IGANError


class WeightsError(T2IGANError):
    pass


def sha256(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def hub_path(filename: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def find_weights(filename: str, sha256_prefix: str, url: str, path: str | None = None) -> Path:
    """The verified weight file: ``path`` if given, else the torch hub cache.

    ``sha256_prefix`` may be the whole digest or its start (torch hub file names carry the
    first 8 hex digits of their SHA-256).
    """
    candidate = Path(path) if path else hub_path(filename)
    if not candidate.is_file():
        raise WeightsError(
            f"weights file {candidate} not found (offline: nothing is downloaded). "
            f"Download {url} and put it at {candidate}" + ("" if path else " (or set its path in params.yaml)"))
    digest = sha256(candidate)
    if not digest.startswith(sha256_prefix.lower()):
        raise WeightsError(f"{candidate}: SHA-256 {digest} does not start with the expected {sha256_prefix}; "
                           f"the file is corrupt or not {filename}: delete it and download {url} again")
    return candidate


# --------------------------------------------------------------------------- the pretrained files a run needs
@dataclass(frozen=True)
class Pretrained:
    """A pretrained weights file: torch hub's name (the first hex digits of its SHA-256 in it), where
    it comes from, and what reads it."""

    key: str
    file: str
    sha256: str
    url: str
    what: str


FID_INCEPTION = Pretrained(
    "fid_inception", "weights-inception-2015-12-05-6726825d.pth", "6726825d",
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
    "the FID Inception (the TF 2015-12-05 graph as torch-fidelity ports it): IS, FID and KID of `inception`")
IMAGENET_INCEPTION = Pretrained(
    "imagenet_inception", "inception_v3_google-0cc3c7bd.pth", "0cc3c7bd",
    "https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth",
    "torchvision's ImageNet Inception-v3: the DAMSM image encoder's frozen backbone (AttnGAN)")
PRETRAINED = {w.key: w for w in (FID_INCEPTION, IMAGENET_INCEPTION)}
MANIFEST = "weights.json"


def needed(p) -> list[Pretrained]:
    """The files the params need: the FID Inception when a scale scores with it, the ImageNet
    Inception-v3 when its DAMSMs use that backbone."""
    out = []
    if "inception" in p.scale.extractors:
        out.append(FID_INCEPTION)
    if p.scale.damsm_backbone == "inception_v3":
        out.append(IMAGENET_INCEPTION)
    return out


def place(w: Pretrained, out_dir: str | Path, raw_dir: str | Path, *, random: bool = False, seed: int = 0) -> dict:
    """``out_dir/<file>`` ready and checked; returns its manifest entry.

    In order: a file already in ``raw_dir`` or the torch hub cache (hand-placed, used offline after
    its SHA-256 check), else a download into ``raw_dir`` (resumable, checked; the project's
    downloader), then hard-linked (or copied) into ``out_dir``.  ``random``: test only, a file of
    random weights in the same format, said so in the entry."""
    out_dir, raw_dir = Path(out_dir), Path(raw_dir)
    target = out_dir / w.file
    if random:
        RANDOM_BUILDERS[w.key](target, seed)
        return {"file": w.file, "sha256": sha256(target), "random": True,
                "source": "RANDOM weights (test only): no score made with them is the metric it names"}
    found = next((c for c in (raw_dir / w.file, hub_path(w.file)) if c.is_file()), None)
    if found is not None:
        digest = sha256(found)
        if not digest.startswith(w.sha256):
            raise WeightsError(f"{found}: SHA-256 {digest} does not start with the expected {w.sha256}; the file "
                               f"is corrupt or not {w.file}: delete it and download {w.url} again")
        source = f"hand-placed at {found}"
    else:
        try:
            found = download.fetch(Source(w.url, w.file, None, "http", w.sha256), raw_dir)
        except DownloadError as exc:
            raise WeightsError(
                f"{w.file} (SHA-256 starting {w.sha256}; {w.what}) is missing and could not be downloaded: "
                f"{exc}. Offline, get it from {w.url} and put it in one of the two places it is looked for: "
                f"{raw_dir / w.file} or {hub_path(w.file)}") from None
        digest, source = sha256(found), f"downloaded from {w.url}"
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        os.link(found, target)  # no second copy of 100 MB where the file system allows it
    except OSError:
        shutil.copyfile(found, target)
    return {"file": w.file, "sha256": digest, "random": False, "source": source}


def located(weights_dir: str | Path, w: Pretrained) -> tuple[Path, str | None, bool]:
    """(path, full SHA-256 or None, random) of ``w`` in the folder stage ``fetch_weights`` fills,
    from its manifest; before that stage ran, the path it will have (the loader's checksum check
    and its missing-file error, naming the stage, happen when the file is read)."""
    manifest = Path(weights_dir) / MANIFEST
    entries = json.loads(manifest.read_text()) if manifest.is_file() else {}
    e = entries.get(w.key)
    if e is None:
        return Path(weights_dir) / w.file, None, False
    return Path(weights_dir) / e["file"], e["sha256"], bool(e["random"])


# --------------------------------------------------------------------------- random weights, for tests only
def smooth_images(n: int, size: int, seed: int) -> torch.Tensor:
    """[n, 3, size, size] uint8: upsampled 6x6 colour fields plus noise (inputs with structure)."""
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(seed)
    coarse = F.interpolate(torch.rand(n, 3, 6, 6, generator=g), size=(size, size), mode="bilinear",
                           align_corners=False)
    return (255 * (0.85 * coarse + 0.15 * torch.rand(n, 3, size, size, generator=g))).round().clamp(0, 255).to(
        torch.uint8)


def _calibrate(net: torch.nn.Module, run) -> None:
    """Random BatchNorm scales, and running statistics from one train-mode pass: activations keep
    a usable range through the 94 layers instead of vanishing or overflowing."""
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
            m.momentum = 1.0
    net.train()
    with torch.no_grad():
        run(net)
    net.eval()


def random_fid_inception(path: str | Path, seed: int = 0) -> Path:
    """A file in torch-fidelity's (and pytorch-fid's) FID Inception format with random weights."""
    import torchvision
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3


    path = Path(path)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        # torchvision's Inception3 without the aux head, 1008 classes: the FID Inception's keys
        net = torchvision.models.inception_v3(weights=None, aux_logits=False, num_classes=1008, init_weights=True)
        with io.atomic_write(path.with_name(path.name + ".init")) as fh:
            torch.save(net.state_dict(), fh)
        extractor = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                                feature_extractor_weights_path=str(path) + ".init")
        _calibrate(extractor, lambda m: m(smooth_images(2, 299, seed + 1)))
        with io.atomic_write(path) as fh:
            torch.save(extractor.state_dict(), fh)
    path.with_name(path.name + ".init").unlink()
    return path


def random_imagenet_inception(path: str | Path, seed: int = 0) -> Path:
    """A file in torchvision's inception_v3_google format (aux head, 1000 classes), random weights."""
    import torchvision


    path = Path(path)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=True)
        _calibrate(net, lambda m: m(smooth_images(2, 299, seed + 1).float() / 127.5 - 1))
        with io.atomic_write(path) as fh:
            torch.save(net.state_dict(), fh)
    return path


RANDOM_BUILDERS = {"fid_inception": random_fid_inception, "imagenet_inception": random_imagenet_inception}
