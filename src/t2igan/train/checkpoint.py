"""Checkpoints written atomically, so a process killed at any moment leaves the last good one."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from t2igan import io


def save(path: str | Path, state: dict[str, Any]) -> None:
    with io.atomic_write(path, "wb") as fh:
        torch.save(state, fh)


def load(path: str | Path) -> dict[str, Any] | None:
    path = Path(path)
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)
