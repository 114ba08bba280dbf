"""Training files that detect their own damage; resumable checkpoints also keep the one before.

A file is ``MAGIC``, the SHA-256 of the payload, then the payload (``torch.save`` bytes).  Every
model file of the project is written so (``save``; ``t2igan.train.checkpoint.save`` for final
models and snapshots), and reading verifies the checksum, so a truncated or corrupted file (a bad
copy, a failed `dvc pull`, a dying disk) is named as damaged instead of failing inside torch.

A resumable checkpoint (``save(..., keep_previous=True)``, ``load``) renames the current file to
``<name>.prev<suffix>`` just before the new one takes its place (``io.atomic_write``), so at
every instant there is a whole, verified checkpoint on disk: a process killed mid-write leaves
the old file and a stray temporary one (removed on the next write); killed between the two
renames, it leaves only the previous file.  A damaged one falls back to the previous.
"""
from __future__ import annotations

import hashlib
import pickle
import sys
from pathlib import Path
from typing import Any

import torch

from t2igan import faults, io
from t2igan.errors import T2IGANError

MAGIC = b"T2IGAN-CKPT-1\n"
_DIGEST = 32


class CheckpointError(T2IGANError):
    pass


def previous(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def save(path: str | Path, state: dict[str, Any], keep_previous: bool = True) -> None:
    """Write ``state`` atomically with its checksum; ``keep_previous``: a resumable checkpoint,
    whose current file becomes ``previous(path)`` (and whose writes the fault injection counts).
    The payload streams to disk as torch.save writes it, hashed on the way, and the digest goes
    into its slot last: no second copy in memory (a paper-scale RaGAN checkpoint is 1.5 GB)."""
    io.remove_stale_temps(path)
    with io.atomic_write(path, "wb", keep_previous=previous(path) if keep_previous else None) as fh:
        fh.write(MAGIC + bytes(_DIGEST))
        sink = _HashingWriter(fh, faults.checkpoint_write if keep_previous else None, _tensor_bytes(state) // 2)
        try:
            torch.save(state, sink)
        except RuntimeError:
            if sink.error is not None:  # torch's own end-of-file error hides the disk's: raise the disk's
                raise sink.error from None
            raise
        fh.seek(len(MAGIC))
        fh.write(sink.digest.digest())


def _tensor_bytes(value) -> int:
    """The bytes of the tensors in a (nested) state: about the size of its torch.save payload."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(_tensor_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_tensor_bytes(v) for v in value)
    return 0


class _HashingWriter:
    """The write side of a file that SHA-256s what passes through.  ``midway(fh)`` runs once, when
    ``half`` payload bytes are written (about half-way): the crash tests' fault point."""

    def __init__(self, fh, midway=None, half: int = 0):
        self.fh, self.midway, self.half, self.written, self.digest = fh, midway, half, 0, hashlib.sha256()
        self.error: OSError | None = None

    def write(self, data) -> int:
        try:
            self.fh.write(data)
        except OSError as exc:
            self.error = self.error or exc
            raise
        self.digest.update(data)
        self.written += len(data)
        if self.midway is not None and self.written >= self.half:
            midway, self.midway = self.midway, None
            midway(self.fh)
        return len(data)

    def flush(self) -> None:
        self.fh.flush()


def _unpickle(fh) -> tuple[dict | None, str | None]:
    """torch.load, from ``fh``'s position on, with ``weights_only``: tensors and plain values only.
    Every file this project writes is that; anything else (a pickled object, which loading would
    execute) is refused."""
    try:
        return torch.load(fh, map_location="cpu", weights_only=True), None
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else ""
        return None, ("it holds Python objects besides tensors and plain values; refused, because loading it "
                      f"could run code ({first})")
    except Exception as exc:  # noqa: BLE001 - any other failure to unpickle means a damaged file
        return None, f"it cannot be read ({exc.__class__.__name__}: {exc})"


def _read(path: Path) -> tuple[dict | None, str | None]:
    """(state, None) for a good file, (None, why) for a damaged or refused one.  The checksum is
    computed a chunk at a time and torch.load reads the file itself: one copy in memory."""
    with path.open("rb") as fh:
        head = fh.read(len(MAGIC) + _DIGEST)
        if head.startswith(b"PK") and not head.startswith(MAGIC):  # written before checksums: a bare torch.save
            fh.seek(0)
            return _unpickle(fh)
        if not head.startswith(MAGIC):
            return None, "it is not a t2igan checkpoint (no header; truncated to nothing, or another file)"
        digest, sha = head[len(MAGIC):], hashlib.sha256()
        while chunk := fh.read(1 << 24):
            sha.update(chunk)
        if len(digest) < _DIGEST or sha.digest() != digest:
            return None, f"its checksum does not match ({fh.tell()} bytes: truncated or corrupted)"
        fh.seek(len(head))
        return _unpickle(fh)


def load_verified(path: str | Path) -> dict[str, Any] | None:
    """The file at ``path`` (no fallback), None when it does not exist; a CheckpointError naming
    it when it is damaged."""
    path = Path(path)
    if not path.is_file():
        return None
    state, why = _read(path)
    if state is None:
        raise CheckpointError(f"{path}: damaged: {why}. Restore it (`dvc checkout` / `dvc pull`) or run its stage "
                              f"again" if "refused" not in why else f"{path}: {why}")
    return state


def load(path: str | Path) -> dict[str, Any] | None:
    """The checkpoint at ``path``, or the previous one (with a warning) when ``path`` is damaged
    or missing; None when there is neither.  Both damaged: a CheckpointError."""
    path = Path(path)
    prev = previous(path)
    problems = []
    for candidate in (path, prev):
        if not candidate.is_file():
            continue
        state, why = _read(candidate)
        if state is None:
            problems.append(f"{candidate}: {why}")
            print(f"warning: {candidate}: {why}; " +
                  (f"trying {prev}" if candidate == path else "no earlier checkpoint is left"), file=sys.stderr)
            continue
        if candidate == prev:
            print(f"warning: {path}: {'damaged' if problems else 'missing'}; resuming from the previous "
                  f"checkpoint {prev}", file=sys.stderr)
        return state
    if problems:
        raise CheckpointError("; ".join(problems) + ". Delete them to train from scratch")
    return None
