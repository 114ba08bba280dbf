"""A digest of the package's own source code, kept in checkpoints.

A persisted checkpoint (dvc.yaml ``persist: true``) must resume only the run that wrote it.
When DVC re-runs a training stage because its code changed, the settings and the data may be
unchanged, and resuming would finish the old code's run: the digest tells the two apart.
It covers every module of the package (not only the stage's), so any code change starts over.
"""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


@functools.cache
def fingerprint(root: Path = PACKAGE) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()
