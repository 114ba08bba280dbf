"""What every stage script shares: params loading, timing, and clean error exits."""
from __future__ import annotations

import dataclasses
import os
import resource
import sys
import time
from pathlib import Path
from typing import Callable

from t2igan import allocator, io, logs
from t2igan.config import Params, RuntimeConfig, load_params
from t2igan.errors import ConfigError, T2IGANError

TIMINGS_DIR = Path("reports") / "timings"
_DEVICES: dict[str, str] = {}  # what the stage ran on (``record_device``), written beside its timings


def record_device(device, key: str) -> None:
    """Note that the stage ran on ``device``, picked by param ``key`` (``train.device.pick_device``
    calls this): reports/timings/<stage>.json gets it with the device's name and the torch / CUDA /
    cuDNN versions, beside the metrics, which hold results only (a CPU and a GPU run of equal numbers
    diff as equal)."""
    _DEVICES[key] = str(device)


def device_record() -> dict:
    """The recorded devices with the software that ran on them (empty when none was recorded)."""
    if not _DEVICES:
        return {}
    import torch

    out: dict = {"devices": dict(_DEVICES)}
    out["torch"] = torch.__version__
    out["cuda"] = torch.version.cuda  # the CUDA the build targets (None: a CPU-only build)
    if any(d.startswith("cuda") for d in _DEVICES.values()):
        out["gpu"] = torch.cuda.get_device_name()
        out["cuda_driver_visible"] = torch.cuda.is_available()
        out["cudnn"] = torch.backends.cudnn.version()
    else:
        out["cpu"] = _cpu_name()
    return out


def _cpu_name() -> str:
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def label(argv: list[str] | None = None) -> str:
    """The stage a script run is, e.g. ``train@attngan`` for ``stages/train.py attngan``."""
    argv = sys.argv if argv is None else argv
    return "@".join([Path(argv[0]).stem, *argv[1:]])


def _cpu_seconds() -> float:
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


def run(body: Callable[[Params], dict | None], params_path: str = "params.yaml") -> None:
    """Load and validate params, run ``body``; a user-facing error exits 1 with one clear line.

    On success the stage's wall and CPU seconds and peak memory go to reports/timings/<label>.json
    (beside the metrics, never in them): ``benchmarks/stage_times.py`` makes the README's table.
    """
    start, cpu = time.perf_counter(), _cpu_seconds()
    tuned = allocator.tune()  # large blocks from the heap: no page faults through every step
    try:
        logs.configure()  # INFO to stderr (downloads say what they do); T2IGAN_LOG_LEVEL to change it
        params = load_params(params_path)
        body(params)
    except T2IGANError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    wall = time.perf_counter() - start
    if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 speaks for the stage
        peak = max(resource.getrusage(w).ru_maxrss for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
        io.write_json(TIMINGS_DIR / f"{label()}.json", {
            "stage": label(), "wall_seconds": round(wall, 1), "cpu_seconds": round(_cpu_seconds() - cpu, 1),
            "threads": _threads(), "peak_rss_gib": round(peak / 2**20, 2),
            "glibc_malloc_tuned": tuned, **device_record(),
            "runtime": dataclasses.asdict(params.runtime)})  # what it ran with; no stage depends on it
    print(f"done in {wall:.1f} s", file=sys.stderr)


def runtime_params(params_path: str = "params.yaml") -> RuntimeConfig:
    """params.yaml's ``runtime`` section, validated, before the stage runs (a bad file: exit 1)."""
    try:
        return load_params(params_path).runtime
    except T2IGANError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


def _threads() -> int:
    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else 1


def elapsed(start: float) -> float:
    return round(time.perf_counter() - start, 2)


def variant_name(params: Params, name: str) -> str:
    """``name`` if it is an entry of params.yaml's `variants`, else a ConfigError listing them."""
    if name not in params.variants:
        raise ConfigError(f"variants: no entry {name!r} in params.yaml; known: {', '.join(params.variants)}")
    return name
