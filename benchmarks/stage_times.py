"""The default graph's time, stage by stage, from what the stages recorded (reports/timings/).

    python benchmarks/stage_times.py              # print the markdown table
    python benchmarks/stage_times.py --readme     # and write it into README.md between its markers
    python benchmarks/stage_times.py --timings W/reports/timings --reports W/reports \
        --json benchmarks/results/cpu-smoke-stages.json --what "..." --repro-seconds S   # a run's record

Each stage writes reports/timings/<stage>.json when it succeeds (``t2igan.stage.run``): wall
seconds, CPU seconds (its own and its children's) and peak resident memory.  CPU load = CPU
seconds / wall seconds / threads: near 1 the stage kept every core busy (CPU-bound); well below,
it waited (reading, writing, single-threaded Python).  So the table cannot drift from the run.

A training stage that resumed from its checkpoint times only the epochs it trained; its row then
shows the sum of every epoch's own seconds from reports/<name>/train.json (marked *), which is what
a fresh clone spends on it, less the few seconds of start-up.
"""
from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path


def rows(timings: Path, reports: Path | None = None) -> list[dict]:
    out = [json.loads(p.read_text()) for p in sorted(timings.glob("*.json"))]
    if not out:
        raise SystemExit(f"{timings}: no stage timings; run `dvc repro` first")
    for r in out:
        epochs = _epoch_seconds(r["stage"], reports if reports is not None else timings.parent)
        if epochs is not None and epochs > 1.05 * r["wall_seconds"]:  # it resumed: count every epoch
            r.update(cpu_seconds=r["cpu_seconds"] * epochs / r["wall_seconds"], wall_seconds=epochs, resumed=True)
    return out


def _epoch_seconds(stage: str, reports: Path) -> float | None:
    """The seconds of every epoch of a training stage (train.json), whichever run trained them."""
    name, _, key = stage.partition("@")
    path = reports / key / "train.json"
    if name not in ("train", "train_baseline") or not key or not path.is_file():
        return None
    return json.loads(path.read_text()).get("seconds")


def _kind(r: dict) -> str:
    load = r["cpu_seconds"] / max(r["wall_seconds"], 1e-9) / max(r["threads"], 1)
    return f"{load:.2f} ({'CPU-bound' if load >= 0.75 else 'partly waiting'})"


def table(records: list[dict]) -> str:
    records = sorted(records, key=lambda r: -r["wall_seconds"])
    total = sum(r["wall_seconds"] for r in records)
    lines = ["| stage | wall | share | CPU load (of all threads) | peak RSS |", "| --- | ---: | ---: | --- | ---: |"]
    for r in records:
        mark = "*" if r.get("resumed") else ""
        share = 100 * r["wall_seconds"] / total
        lines.append(f"| `{r['stage']}`{mark} | {r['wall_seconds'] / 60:.1f} min | {share:.0f} % | {_kind(r)} | "
                     f"{r['peak_rss_gib']:.1f} GiB |")
    lines.append(f"| **all {len(records)} stages** | **{total / 60:.1f} min** | | | |")
    if any(r.get("resumed") for r in records):
        lines += ["", "\\* resumed from its checkpoint in the committed run: the sum of its epochs' own seconds "
                  "(`reports/<name>/train.json`), as a fresh clone spends them, less a few seconds of start-up."]
    return "\n".join(lines)


def _write_json(path: Path, records: list[dict], what: str, repro_seconds: float | None) -> None:
    def seen(key: str):  # the machine, from the first record that names it (not every stage runs torch)
        return next((r[key] for r in records if r.get(key) is not None), None)

    total = sum(r["wall_seconds"] for r in records)
    out = {"what": what, "date": date.today().isoformat(), "cpu": seen("cpu"), "threads": seen("threads"),
           "torch": seen("torch"), "stages": len(records), "stage_wall_seconds_sum": round(total, 1)}
    if repro_seconds is not None:  # the rest is DVC's own work between stages and each stage's start-up
        out |= {"repro_seconds": round(repro_seconds, 1), "outside_stages_seconds": round(repro_seconds - total, 1)}
    out["rows"] = [{k: r[k] for k in ("stage", "wall_seconds", "cpu_seconds", "peak_rss_gib")}
                   for r in sorted(records, key=lambda r: r["stage"])]
    path.write_text(json.dumps(out, indent=1) + "\n")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timings", type=Path, default=Path("reports/timings"))
    ap.add_argument("--reports", type=Path, default=Path("reports"))
    ap.add_argument("--readme", action="store_true", help="replace the table between its README.md markers")
    ap.add_argument("--json", type=Path, help="also write the rows, their sum and the machine to this file")
    ap.add_argument("--what", default="", help="what was run, for --json")
    ap.add_argument("--repro-seconds", type=float, help="the whole `dvc repro`'s wall seconds, for --json")
    args = ap.parse_args(argv)
    records = rows(args.timings, args.reports)
    text = table(records)
    print(text)
    if args.json:
        _write_json(args.json, records, args.what, args.repro_seconds)
    if args.readme:
        from readme import replace_between  # benchmarks/readme.py, beside this script

        replace_between("stage-times", text)

if __name__ == "__main__":
    main()
