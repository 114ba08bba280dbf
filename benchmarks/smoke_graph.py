"""Every default stage of dvc.yaml at `scale: smoke`, run in order without DVC, for a machine that has
PyTorch but not DVC (the lent GPU machine of benchmarks/gpu_checks.sh):

    python benchmarks/smoke_graph.py --work /tmp/smoke --device cuda --out $OUT/gpu-smoke-stages.json

It copies the code (src/, stages/, dvc.yaml) into --work, writes its params.yaml (the committed one at
`scale: smoke`, `weights.random_for_tests: true`, `runtime.device` set to --device, and any
`-S key=value`), and runs the stages' commands in dvc.yaml's order.  dvc.yaml lists its stages so
that each comes after those whose outputs it reads (`test_smoke_graph.py` checks it), and a
`foreach` stage runs once per entry of its section.  It stops at the first failing stage, and
writes each stage's record (reports/timings/<stage>.json: wall seconds, peak RSS, devices) to --out.
CI runs the same graph through `dvc repro` (tests/test_smoke.py)."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from t2igan.cli import overrides  # noqa: E402
from t2igan.config import set_dotted  # noqa: E402


def stages(dvc_yaml: dict, params: dict) -> list[dict]:
    """Every stage of dvc.yaml in its order, as {name (as DVC names it), cmd, deps, outs}; a
    ``foreach: ${section}`` stage expands over that params section's entries, and ``${key}``,
    ``${item.x}`` (the entry's x) and ``${a.b}`` (a params value) are substituted."""
    def resolve(text: str, key: str | None, item: dict | None) -> str:
        while "${" in text:
            start = text.index("${")
            end = text.index("}", start)
            name = text[start + 2:end]
            if name == "key":
                value = key
            else:
                value = {"item": item, **params}
                for part in name.split("."):
                    value = value[part]
            text = text[:start] + str(value) + text[end + 1:]
        return text

    def paths(entries) -> list[str]:  # an entry is a path, or {path: its options}
        return [next(iter(e)) if isinstance(e, dict) else e for e in entries or []]

    def one(name: str, body: dict, key: str | None = None, item: dict | None = None) -> dict:
        outs = [o for kind in ("outs", "metrics", "plots") for o in paths(body.get(kind))]
        return {"name": name, "cmd": resolve(body["cmd"], key, item),
                "deps": [resolve(d, key, item) for d in paths(body.get("deps"))],
                "outs": [resolve(o, key, item) for o in outs]}

    out = []
    for name, stage in dvc_yaml["stages"].items():
        if "foreach" in stage:
            section = stage["foreach"].strip()[2:-1]  # "${variants}" -> "variants"
            out += [one(f"{name}@{key}", stage["do"], key, item) for key, item in params[section].items()]
        else:
            out.append(one(name, stage))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True, help="a scratch folder (emptied first)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("-S", "--set-param", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--first", type=int, help="only the first N stages (a check of the runner)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    settings = {"scale": "smoke", "weights.random_for_tests": True, "runtime.device": args.device,
                **overrides(args.set_param)}
    for dotted, value in settings.items():
        set_dotted(params, dotted, value)
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    for name in ("src", "stages"):
        shutil.copytree(ROOT / name, args.work / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "dvc.yaml", args.work / "dvc.yaml")
    (args.work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = dict(os.environ, PYTHONPATH=str(args.work / "src"))

    runs, t0, failed = [], time.perf_counter(), None

    def write() -> None:  # after every stage, so a run stopped by a time limit keeps what it measured
        timings = [json.loads(p.read_text()) for p in sorted((args.work / "reports" / "timings").glob("*.json"))]
        result = {"what": "every default stage at scale smoke, without DVC (benchmarks/smoke_graph.py)",
                  "settings": settings, "seconds": round(time.perf_counter() - t0, 1), "failed": failed,
                  "runs": runs, "timings": timings}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))

    for stage in stages(yaml.safe_load((ROOT / "dvc.yaml").read_text()), params)[:args.first]:
        name, cmd = stage["name"], stage["cmd"]
        start = time.perf_counter()
        proc = subprocess.run(cmd.replace("python ", f"{sys.executable} ", 1), shell=True, cwd=args.work, env=env,
                              capture_output=True, text=True)
        runs.append({"stage": name, "seconds": round(time.perf_counter() - start, 1), "rc": proc.returncode})
        print(f"{name}: rc {proc.returncode}, {runs[-1]['seconds']} s", flush=True)
        if proc.returncode:
            failed = name
            print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
        write()
        if failed:
            break
    print(f"{len(runs)} stages in {time.perf_counter() - t0:.1f} s" + (f"; {failed} failed" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
