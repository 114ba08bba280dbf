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


def why_not_resume(state: dict | None, settings: dict, data: str, epochs: int,
                   free: tuple[str, ...] = ("epochs",)) -> str | None:
    """Why a run's checkpoint must not be resumed from, or None when it may.

    ``state`` holds "settings" (a dict), "data" (the prepared data's fingerprint) and
    "history" (one row per finished epoch).  Keys in ``free`` may differ without harm (the
    epoch count, the device...).  Only an unfinished run is resumed: a finished one means the
    stage runs again because code or inputs changed.  Raising only the epoch count continues
    the run, which gives exactly what a fresh run with that many epochs would, because the
    schedule and all randomness depend on the epoch number alone.
    """
    if state is None:
        return None

    def fixed(d: dict) -> dict:
        return {k: v for k, v in d.items() if k not in free}

    if fixed(state["settings"]) != fixed(settings):
        return "made with other settings"
    if state.get("data") != data:
        return "made from other data"
    if len(state["history"]) >= epochs:
        return "the run it holds is finished (the stage is running again because something changed)"
    return None
