"""The experiments the RaGAN thesis (seed 001) wanted and could not run, as queued DVC experiments.

Its chapter 5: the similarity loss's weight lambda2 at 2, 5 and 10 (it only ran 1), and the ablation
without the F_ref blocks.  Each is one `dvc exp run` that changes one option of `ragan_v1` (the
thesis's final model) and so re-runs only ragan_v1's train / generate / score stages and the report.
The thesis's third experiment, the all-black reference patch (its figures 4.17-4.18), needs no run of
its own: every RaGAN `generate@` also generates and `score@` scores the set with black patches.

    python benchmarks/thesis_experiments.py --queue     # queue the four; then `dvc queue start -j 1`
    python benchmarks/thesis_experiments.py             # their table (and the default run's), from the
                                                        # experiments' refs and DVC's cache, into README.md
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import dvc.api

sys.path.insert(0, str(Path(__file__).resolve().parent))
from readme import replace_between  # noqa: E402

VARIANT = "ragan_v1"
# name -> (what it changes, as the table says it; the `-S` overrides)
EXPERIMENTS: dict[str, tuple[str, dict[str, object]]] = {
    "ragan-lambda2-2": ("lambda2 = 2", {f"variants.{VARIANT}.lambda2": 2.0}),
    "ragan-lambda2-5": ("lambda2 = 5", {f"variants.{VARIANT}.lambda2": 5.0}),
    "ragan-lambda2-10": ("lambda2 = 10", {f"variants.{VARIANT}.lambda2": 10.0}),
    "ragan-no-fref": ("no F_ref blocks", {f"variants.{VARIANT}.ref_blocks": False}),
}
SCORES = f"reports/{VARIANT}/scores.json"


def command(name: str) -> list[str]:
    """The `dvc exp run --queue` command of one experiment."""
    _, overrides = EXPERIMENTS[name]
    sets = [arg for k, v in overrides.items() for arg in ("-S", f"{k}={json.dumps(v)}")]
    return ["dvc", "exp", "run", "--queue", "-n", name, *sets]


def experiment_revs() -> dict[str, str]:
    """Name -> commit of every experiment DVC keeps (its refs: refs/exps/<baseline>/<name>)."""
    out = subprocess.run(["git", "for-each-ref", "--format=%(objectname) %(refname)", "refs/exps"],
                         check=True, capture_output=True, text=True).stdout
    revs = {}
    for line in out.splitlines():
        sha, ref = line.split()
        revs[ref.rsplit("/", 1)[-1]] = sha
    return revs


def row(label: str, scores: dict) -> list[str]:
    f, black = scores["final"], scores["black_reference"]
    return [label, f"{f['fid']:.1f}", f"{f['is']:.2f}", f"{100 * f['r_precision_evaluator_damsm']:.1f} %",
            f"{f['reference_similarity']:.3f}", f"{f['reference_similarity_shuffled']:.3f}",
            f"{black['fid']:.1f}", f"{f['black_reference_change']:.3f}"]


def table(rows: list[list[str]]) -> str:
    head = ["ragan_v1", "FID", "IS", "R-prec. eval. DAMSM", "ref. similarity", "shuffled (chance)", "FID, black patch",
            "pixel change, black patch"]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--queue", action="store_true", help="queue the experiments (dvc exp run --queue)")
    ap.add_argument("--json", type=Path, default=Path("benchmarks/results/thesis-experiments-quick.json"))
    args = ap.parse_args(argv)
    if args.queue:
        for name in EXPERIMENTS:
            subprocess.run(command(name), check=True)
        print("queued; run them with `dvc queue start -j 1`, then this script without --queue")
        return 0
    revs = experiment_revs()
    missing = [n for n in EXPERIMENTS if n not in revs]
    if missing:
        sys.exit(f"no finished experiment named {', '.join(missing)}: queue them with --queue and "
                 "`dvc queue start`, and wait for `dvc queue status` to show them done")
    results = {"default (lambda2 = 1)": json.loads(dvc.api.read(SCORES))}
    for name, (label, _) in EXPERIMENTS.items():
        results[label] = json.loads(dvc.api.read(SCORES, rev=revs[name]))
    rows = [row(label, scores) for label, scores in results.items()]
    args.json.write_text(json.dumps({"variant": VARIANT, "experiments": {n: {"change": EXPERIMENTS[n][0],
                                                                             "rev": revs[n]} for n in EXPERIMENTS},
                                     "rows": rows}, indent=1) + "\n")
    replace_between("thesis-experiments", table(rows))
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
