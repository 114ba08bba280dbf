"""What every stage script shares: params loading, timing, and clean error exits."""
from __future__ import annotations

import sys
import time
from typing import Callable

from t2igan.config import Params, load_params
from t2igan.errors import ConfigError, T2IGANError


def run(body: Callable[[Params], dict | None], params_path: str = "params.yaml") -> None:
    """Load and validate params, run ``body``; a user-facing error exits 1 with one clear line."""
    start = time.perf_counter()
    try:
        params = load_params(params_path)
        body(params)
    except T2IGANError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    print(f"done in {time.perf_counter() - start:.1f} s", file=sys.stderr)


def elapsed(start: float) -> float:
    return round(time.perf_counter() - start, 2)


def variant_name(params: Params, name: str) -> str:
    """``name`` if it is an entry of params.yaml's `variants`, else a ConfigError listing them."""
    if name not in params.variants:
        raise ConfigError(f"variants: no entry {name!r} in params.yaml; known: {', '.join(params.variants)}")
    return name
