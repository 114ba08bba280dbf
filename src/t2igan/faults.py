"""Fault injection for the crash tests: a real SIGKILL at a chosen point of training.

``T2IGAN_KILL_AT_STEP=N``: the training process kills itself right after its N-th optimiser step.
``T2IGAN_KILL_IN_CHECKPOINT=N``: it kills itself half-way through writing its N-th checkpoint
(the bytes written so far flushed to disk, the file not yet renamed into place).
SIGKILL means no cleanup, no atexit, exactly like the OOM killer or a pulled plug.  Counts are
per process.  Unset, each hook costs one dictionary lookup.
"""
from __future__ import annotations

import os
import signal

_STEP, _CHECKPOINT = "T2IGAN_KILL_AT_STEP", "T2IGAN_KILL_IN_CHECKPOINT"
_checkpoints = 0


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def step(n: int) -> None:
    at = os.environ.get(_STEP)
    if at is not None and n == int(at):
        _kill()


def checkpoint_write(fh) -> None:
    """Called half-way through each checkpoint write with the open file."""
    global _checkpoints
    _checkpoints += 1
    at = os.environ.get(_CHECKPOINT)
    if at is not None and _checkpoints == int(at):
        fh.flush()
        os.fsync(fh.fileno())
        _kill()
