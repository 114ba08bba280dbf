"""What every stage script shares: its command line, params loading, timing, clean error exits, and
the scratch folder where a trainer keeps what a resumed run needs."""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

from t2igan import allocator, io, logs
from t2igan.config import Params, RuntimeConfig, load_params
from t2igan.errors import ConfigError, T2IGANError

TIMINGS_DIR = Path("reports") / "timings"
# Resumable checkpoints, snapshots and sample grids while a stage trains: outside DVC's outputs, so
# no output needs `persist` (which turns DVC's run cache off) and a killed run still resumes
RESUME_DIR = Path("resume")
KEEP_RESUME_ENV = "T2IGAN_KEEP_RESUME"  # "1": keep resume/<stage> after success (e.g. for benchmarks/ema_blend.py)
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
    """The stage a script run is, e.g. ``train@attngan`` for ``stages/train.py attngan`` (flags left out)."""
    argv = sys.argv if argv is None else argv
    return "@".join([Path(argv[0]).stem, *(a for a in argv[1:] if not a.startswith("-"))])


def parse_args(doc: str | None, name: str | None = None, what: str = "", choices: Sequence[str] | None = None,
               argv: list[str] | None = None) -> argparse.Namespace:
    """A stage script's command line: ``--help`` prints ``doc`` and exits without running anything;
    ``-v`` / ``-q`` set the log level (``T2IGAN_LOG_LEVEL`` still wins); ``name`` (e.g. ``VARIANT``),
    when given, is the one positional argument, described by ``what`` (one of ``choices`` if given)."""
    parser = argparse.ArgumentParser(prog=f"python stages/{Path(sys.argv[0]).name}", description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    if name:
        parser.add_argument("name", metavar=name, help=what, choices=choices)
    loud = parser.add_mutually_exclusive_group()
    loud.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=1, default=0,
                      help="log DEBUG records too")
    loud.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=-1,
                      help="log warnings and errors only")
    return parser.parse_args(argv)


def scratch(*parts: str) -> Path:
    """``resume/<this stage>/<parts>``: where its trainer keeps what a resumed run needs.  ``run``
    removes the stage's folder when the stage succeeds; a failed or killed run leaves it for the next."""
    return RESUME_DIR / label() / Path(*parts)


def publish(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Put the trained file or folder ``src`` (in the scratch) at the output ``dst``: hard links where
    the file system allows (no second copy on disk), copies otherwise; built beside ``dst`` and renamed
    into place, so ``dst`` is never half-written."""
    src, dst = Path(src), Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.publish-{os.getpid()}")
    _remove(tmp)  # debris of a publish killed half-way
    if src.is_dir():
        shutil.copytree(src, tmp, copy_function=_link_or_copy)
    else:
        _link_or_copy(src, tmp)
    if dst.is_dir():
        shutil.rmtree(dst)
    os.replace(tmp, dst)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _link_or_copy(src, dst) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _cpu_seconds() -> float:
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


def run(body: Callable[[Params], dict | None], params_path: str = "params.yaml", verbosity: int = 0) -> None:
    """Load and validate params, run ``body``; a user-facing error exits 1 with one clear line.

    On success the stage's scratch folder (``scratch``) is removed, and its wall and CPU seconds and
    peak memory go to reports/timings/<label>.json (beside the metrics, never in them):
    ``benchmarks/stage_times.py`` makes the README's table.
    """
    start, cpu = time.perf_counter(), _cpu_seconds()
    tuned = allocator.tune()  # large blocks from the heap: no page faults through every step
    try:
        logs.configure(verbosity)  # INFO to stderr (downloads say what they do); -v / -q / T2IGAN_LOG_LEVEL
        params = load_params(params_path)
        body(params)
    except T2IGANError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    wall = time.perf_counter() - start
    if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 speaks for the stage
        if os.environ.get(KEEP_RESUME_ENV) != "1":
            shutil.rmtree(RESUME_DIR / label(), ignore_errors=True)
            with contextlib.suppress(OSError):
                RESUME_DIR.rmdir()  # when no other stage's run is waiting there
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
