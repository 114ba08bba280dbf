"""Model files (final models, snapshots) written atomically with a checksum, and the rule for
resuming a run.  Resumable checkpoints, which also keep the one before, are ``checksummed``'s."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn

from t2igan.train import checksummed


def save(path: str | Path, state: dict[str, Any]) -> None:
    checksummed.save(path, state, keep_previous=False)


def load(path: str | Path) -> dict[str, Any] | None:
    """The file's state; None when it does not exist; a CheckpointError naming a damaged file."""
    return checksummed.load_verified(path)


def built_from(build: Callable[[], nn.Module], state: dict[str, torch.Tensor]) -> nn.Module:
    """``build()``'s network holding ``state``, on the CPU.  Built on the meta device, so no random
    init runs only to be overwritten (the orthogonal init of a 256 px AttnGAN, G and Ds, took 5 s a
    load), then given memory and every tensor of ``state`` (strict: a missing or extra key is an
    error, and nothing is left uninitialised)."""
    with torch.device("meta"):
        net = build()
    net = net.to_empty(device="cpu")
    net.load_state_dict(state)
    return net


def inputs_digest(data: str, files: list[Path]) -> str:
    """``data`` (the prepared data's fingerprint) joined with the SHA-256 of every input file that
    decides a run beside it (frozen DAMSM encoders, reference patches), in the given order."""
    h = hashlib.sha256(data.encode())
    for path in files:
        h.update(b"\0" + Path(path).name.encode() + b"\0")
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 24), b""):
                h.update(block)
    return h.hexdigest()


def why_not_resume(state: dict | None, settings: dict, data: str, epochs: int,
                   free: tuple[str, ...] = ("epochs",), finished_ok: bool = False) -> str | None:
    """Why a run's checkpoint must not be resumed from, or None when it may.

    ``state`` holds "settings" (a dict), "data" (the fingerprint of the inputs) and
    "history" (one row per finished epoch).  Keys in ``free`` may differ without harm (the
    epoch count, the device...).  A finished run is reused only with ``finished_ok``, for the
    trainers whose settings carry the code's digest (so that only the same code, settings and
    inputs match): its stage then writes its outputs again without training, e.g. after DVC
    deleted them for a run that failed.  Otherwise a finished run means the stage runs again
    because code or inputs changed.  Raising only the epoch count continues the run, which
    gives exactly what a fresh run with that many epochs would, because the schedule and all
    randomness depend on the epoch number alone.
    """
    if state is None:
        return None

    def fixed(d: dict) -> dict:
        return {k: v for k, v in d.items() if k not in free}

    if fixed(state["settings"]) != fixed(settings):
        return "made with other settings"
    if state.get("data") != data:
        return "made from other data"
    if len(state["history"]) > epochs:
        return f"it holds {len(state['history'])} epochs, more than the {epochs} asked for"
    if len(state["history"]) == epochs and not finished_ok:
        return "the run it holds is finished (the stage is running again because something changed)"
    return None
