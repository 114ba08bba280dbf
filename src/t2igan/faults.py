"""Fault injection for the crash tests: a real SIGKILL at a chosen training step.

Set ``T2IGAN_KILL_AT_STEP=N`` and the training process kills itself (SIGKILL: no cleanup,
no atexit, exactly like the OOM killer or a pulled plug) right after its N-th optimiser
step.  Unset, this costs one dictionary lookup per step.
"""
from __future__ import annotations

import os
import signal

_ENV = "T2IGAN_KILL_AT_STEP"


def step(n: int) -> None:
    at = os.environ.get(_ENV)
    if at is not None and n == int(at):
        os.kill(os.getpid(), signal.SIGKILL)
