"""Where training and generation run: the `device` params (auto | cpu | cuda)."""
from __future__ import annotations

import torch

from t2igan.errors import T2IGANError


def pick_device(name: str, key: str = "train.device") -> torch.device:
    """``auto`` takes CUDA when one is visible; ``key`` names the param in the error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise T2IGANError(f"{key} is 'cuda' but no CUDA device is visible; use 'auto' or 'cpu'")
    if name not in ("cpu", "cuda"):
        raise T2IGANError(f"{key} is {name!r}; use one of 'auto', 'cpu', 'cuda'")
    return torch.device(name)
