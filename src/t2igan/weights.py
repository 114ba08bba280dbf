"""Pretrained weight files: found on disk (a path in params, or the torch hub cache), checked by SHA-256.

Nothing here downloads: the pipeline runs offline.  When a file is missing the error says
which file to put where and where it comes from.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from t2igan.errors import T2IGANError


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
