"""One trainer per model folder, and no trainer outliving the `dvc repro` or torchrun that started it.

``kill -9`` on `dvc` or on torchrun used to leave the training process running: it finished later
and rewrote the reports after DVC had reported failure, and a `dvc repro` started at once put a
second trainer on the same folder.  Two guards, taken together by ``training(folder)``:

- **A lock on the folder** (``flock`` on ``<folder>/.t2igan-lock``, which names the holder's pid):
  a second trainer refuses at once, naming the first.  The kernel releases it when its holder
  dies, however it dies, so a stale file never blocks anyone.
- **A watchdog on the launchers.**  When the trainer runs under DVC or torchrun, a daemon thread
  checks every ``POLL_SECONDS`` that each process between it and the nearest `dvc` (or its
  torchrun parent) is still the one that started it; when one is gone the trainer stops itself
  (SIGTERM), as if its launcher had taken it down.  A trainer started by hand from a shell is
  left alone, so ``nohup python stages/train.py ...`` keeps running after the shell exits.
"""
from __future__ import annotations

import fcntl
import os
import signal
import socket
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from t2igan.errors import T2IGANError

LOCK_NAME = ".t2igan-lock"
POLL_SECONDS = 1.0
LAUNCHERS = ("dvc", "torchrun")


class FolderBusy(T2IGANError):
    pass


def _proc(pid: int) -> tuple[int, int, list[str]] | None:
    """(parent pid, start time in clock ticks, argv) of a live process, from /proc; None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # the name in parentheses may hold spaces
    if fields[0] == "Z":  # a zombie has died; only its parent has not reaped it yet
        return None
    return int(fields[1]), int(fields[19]), [a.decode(errors="replace") for a in argv if a]


def _is_launcher(argv: list[str]) -> str | None:
    """Which launcher a command line is (``dvc`` / ``torchrun``, run as a script or with -m), or None."""
    words = [Path(a).name for a in argv[:3]]
    for name in LAUNCHERS:
        if name in words:
            return name
    return None


def launcher_chain(pid: int | None = None) -> list[tuple[int, int]]:
    """The (pid, start time) of every ancestor up to the nearest `dvc`, inclusive; only the parent
    when that is torchrun and no `dvc` is above it; [] when neither launched this process."""
    chain: list[tuple[int, int]] = []
    first_launcher = None
    current = os.getpid() if pid is None else pid
    info = _proc(current)
    while info is not None and info[0] > 1:
        parent = info[0]
        info = _proc(parent)
        if info is None:
            break
        chain.append((parent, info[1]))
        kind = _is_launcher(info[2])
        if kind == "dvc":
            return chain
        if kind == "torchrun" and first_launcher is None:
            first_launcher = len(chain)
    return chain[:first_launcher] if first_launcher else []


def _alive(pid: int, start: int) -> bool:
    info = _proc(pid)
    return info is not None and info[1] == start  # the same process, not a new one with a reused pid


def watch(chain: list[tuple[int, int]], on_loss=None, poll: float = POLL_SECONDS) -> threading.Thread | None:
    """Start the daemon thread that calls ``on_loss(pid)`` (default: SIGTERM to this process) when a
    process of ``chain`` is gone."""
    if not chain:
        return None

    def lost(pid: int) -> None:
        print(f"\nerror: the process that launched this trainer (pid {pid}) is gone; stopping", file=sys.stderr,
              flush=True)
        os.kill(os.getpid(), signal.SIGTERM)

    act = on_loss or lost

    def loop() -> None:
        while True:
            time.sleep(poll)
            for pid, start in chain:
                if not _alive(pid, start):
                    act(pid)
                    return

    thread = threading.Thread(target=loop, name="t2igan-launcher-watchdog", daemon=True)
    thread.start()
    return thread


@contextmanager
def folder_lock(folder: str | Path):
    """Hold ``<folder>/.t2igan-lock`` for the block, or raise FolderBusy naming the holder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise FolderBusy(f"{folder}: another trainer is using this folder ({holder}); wait for it or stop it "
                             f"before starting a second one") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, since "
                      f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)  # before the unlock: nobody ever locks a file about to vanish
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def training(folder: str | Path, main: bool = True):
    """Both guards for a trainer writing ``folder``; ``main``: this process writes it (rank 0 under
    torchrun), the only one that takes the lock.  Every process watches its launchers."""
    watch(launcher_chain())
    if not main:
        yield None
        return
    with folder_lock(folder) as path:
        yield path
