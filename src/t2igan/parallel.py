"""An ordered, chunked process pool with a progress bar, for per-image work."""
from __future__ import annotations

import multiprocessing as mp
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

from tqdm import tqdm

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(fn: Callable[[T], R], items: Sequence[T], *, workers: int = 1,
                desc: str = "", progress: bool = True, chunksize: int = 16) -> Iterator[R]:
    """``map(fn, items)`` over ``workers`` processes, results in input order.

    Results come out in order whatever the scheduling, so outputs do not depend on the
    number of workers.  ``fn`` must be a module-level function (it is pickled).
    """
    bar = tqdm(total=len(items), desc=desc, disable=not progress, unit="img", smoothing=0.05)
    try:
        if workers <= 1 or len(items) < 2 * chunksize:
            results: Iterable[R] = map(fn, items)
            pool = None
        else:
            pool = mp.get_context("fork").Pool(workers)
            results = pool.imap(fn, items, chunksize=chunksize)
        for r in results:
            bar.update(1)
            yield r
        if pool is not None:
            pool.close()
            pool.join()
    finally:
        bar.close()
        if "pool" in locals() and pool is not None:
            pool.terminate()
