"""glibc malloc settings that stop the CPU from page-faulting through every training step.

By default glibc serves each allocation above its mmap threshold (128 KiB, raised on the fly to
at most 32 MiB) with a fresh ``mmap`` and returns it with ``munmap`` when freed.  A training step
allocates and frees the same large activations and gradients every time (D256's input batch at
``paper`` is 134 MB), so each step touches hundreds of megabytes of brand-new pages, and the
kernel zero-fills them one 4 KiB page fault at a time.  Profiled on the 2-core EPYC, AttnGAN at
256 px spent about a third of its step there.  Serving large blocks from the heap and never
trimming it lets the step reuse pages it already owns.  The cost is resident memory: a process
keeps its peak heap until it exits (about +25 % peak RSS in that benchmark).

Nothing here changes arithmetic.  ``T2IGAN_MALLOC_TUNE=0`` leaves glibc's defaults alone; other
C libraries (musl, macOS, Windows) are left alone too.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

# mallopt's parameter numbers (glibc's malloc.h)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
LARGEST = 2**31 - 1        # mallopt takes a C int: blocks up to 2 GiB come from the heap
TOP_PAD = 256 * 2**20      # grow the heap in 256 MiB steps rather than one brk per block

_done: bool | None = None


def tune() -> bool:
    """Apply the settings once per process; True when they are in force."""
    global _done
    if _done is not None:
        return _done
    _done = False
    if os.environ.get("T2IGAN_MALLOC_TUNE", "1") == "0" or platform.system() != "Linux" \
            or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    _done = all(libc.mallopt(param, value) == 1 for param, value in
                ((M_MMAP_THRESHOLD, LARGEST), (M_TRIM_THRESHOLD, LARGEST), (M_TOP_PAD, TOP_PAD)))
    return _done
