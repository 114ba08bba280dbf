"""The pull-request comment: what a change did to the metrics and the figures.

    python -m t2igan.report.pr --base main -o comment.md               # the working tree against main
    python -m t2igan.report.pr --base main --head HEAD -o comment.md   # two committed revisions

Run after `dvc repro` in a checkout of the pull request (the CI job does; so can you, locally).
It writes markdown with what changed from ``base``: the params (`dvc params diff`), the metrics
that describe results (`dvc metrics diff`, without the timings that some metrics files carry
beside them: run times move on every run and say nothing about the change), and every figure
under reports/ that differs, linked so that `cml comment create` uploads and shows them.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from t2igan import io

IMAGE_SUFFIXES = (".png", ".gif", ".jpg", ".svg")


def _git(args: list[str], cwd: Path) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


# Keys of the metrics files that time a run rather than describe its results.
TIMING_KEYS = ("seconds", "seconds_per_epoch", "images_per_s", "wall_seconds", "cpu_seconds")


def _dvc_json(what: str, base: str, head: str | None, cwd: Path) -> dict:
    proc = subprocess.run([sys.executable, "-m", "dvc", what, "diff", base, *([head] if head else []), "--json"],
                          cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"dvc {what} diff {base}{' ' + head if head else ''}: {proc.stderr.strip()}")
    return json.loads(proc.stdout or "{}")


def _is_timing(key: str) -> bool:
    return key.rsplit(".", 1)[-1] in TIMING_KEYS


def _cell(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _table(diff: dict, base: str, head: str, what: str, *, skip=lambda key: False) -> str:
    """A markdown table of a `dvc {params,metrics} diff --json` result ('' when nothing changed)."""
    rows = [(path, key, d.get("old"), d.get("new"), d.get("diff"))
            for path, keys in sorted(diff.items()) for key, d in sorted(keys.items()) if not skip(key)]
    if not rows:
        return ""
    out = [f"| Path | {what} | {base} | {head} | Change |", "| --- | --- | ---: | ---: | ---: |"]
    out += [f"| {path} | {key} | {_cell(old)} | {_cell(new)} | {_cell(change)} |"
            for path, key, old, new, change in rows]
    return "\n".join(out)


def metrics_diff(base: str, cwd: Path, head: str | None = None) -> str:
    """The result metrics that changed from ``base`` (to ``head``, or the working tree), as a markdown
    table without the timing keys ('' when none)."""
    return _table(_dvc_json("metrics", base, head, cwd), base, head or "workspace", "Metric", skip=_is_timing)


def params_diff(base: str, cwd: Path, head: str | None = None) -> str:
    """The params that changed, as a markdown table ('' when none)."""
    return _table(_dvc_json("params", base, head, cwd), base, head or "workspace", "Param")


def changed_figures(base: str, cwd: Path, under: str = "reports", head: str | None = None) -> list[str]:
    """Figures under ``under`` that differ from ``base`` in ``head`` (or the working tree, with the
    ones new in it), and exist there."""
    changed = _git(["diff", "--name-only", base, *([head] if head else []), "--", under], cwd).split()
    if head:
        present = set(_git(["ls-tree", "-r", "--name-only", head, "--", under], cwd).split())
        return sorted(p for p in changed if p.lower().endswith(IMAGE_SUFFIXES) and p in present)
    new = _git(["ls-files", "--others", "--exclude-standard", "--", under], cwd).split()
    return sorted({p for p in changed + new if p.lower().endswith(IMAGE_SUFFIXES) and (cwd / p).is_file()})


def comment(base: str, metrics_md: str, figures: list[str], *, params_md: str = "", max_figures: int = 30) -> str:
    out = [f"## t2igan: what this change does (against `{base}`)", "", "### Params", ""]
    out.append(params_md if params_md else "No param changed.")
    out += ["", "### Metrics (timings left out)", ""]
    out.append(metrics_md if metrics_md else "No metric changed.")
    out += ["", "### Figures", ""]
    if not figures:
        out.append("No figure changed.")
    for path in figures[:max_figures]:
        out += [f"**{path}**", "", f"![{path}]({path})", ""]
    if len(figures) > max_figures:
        out.append(f"... and {len(figures) - max_figures} more: " + ", ".join(figures[max_figures:]))
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="main", help="the revision to compare with (default: main)")
    parser.add_argument("--head", help="a committed revision to compare (default: the working tree)")
    parser.add_argument("-o", "--output", default="comment.md", help="where to write the markdown")
    parser.add_argument("--repo", default=".", help="the project's root (default: here)")
    args = parser.parse_args(argv)
    root = Path(args.repo)
    try:
        text = comment(args.base, metrics_diff(args.base, root, args.head),
                       changed_figures(args.base, root, head=args.head),
                       params_md=params_diff(args.base, root, args.head))
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    io.write_text(root / args.output, text)
    print(f"wrote {root / args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
