"""Where the networks run: ``runtime.device`` (auto | cpu | cuda)."""
from __future__ import annotations

import torch

from t2igan import stage
from t2igan.errors import T2IGANError


def pick_device(name: str, key: str = "runtime.device") -> torch.device:
    """``auto`` takes CUDA when one is visible; ``key`` names the param in the error.  The choice
    is noted for the stage's run record (``stage.record_device``: device and torch / CUDA versions
    beside the metrics), so a silent CPU fallback of ``auto`` is visible there."""
    if name == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    elif name == "cuda" and not torch.cuda.is_available():
        raise T2IGANError(f"{key} is 'cuda' but no CUDA device is usable here (torch {torch.__version__}, built "
                          f"for CUDA {torch.version.cuda}: no GPU, or a driver too old for it); use 'auto' or 'cpu'")
    elif name not in ("cpu", "cuda"):
        raise T2IGANError(f"{key} is {name!r}; use one of 'auto', 'cpu', 'cuda'")
    else:
        device = torch.device(name)
    stage.record_device(device, key)
    return device
