"""The pull-request comment: what a change did to the metrics and the figures.

    python -m t2igan.report.pr --base main -o comment.md

Run after `dvc repro` in a checkout of the pull request (the CI job does; so can you, locally).
It writes markdown with `dvc metrics diff <base> --md` (the working tree's metrics against the
committed ones of ``base``) and every figure under reports/ that differs from ``base``, linked
so that `cml comment create` uploads and shows them.
"""
from __future__ import annotations

import argparse
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


def metrics_diff(base: str, cwd: Path) -> str:
    """`dvc metrics diff base --md`: the metrics that changed, as a markdown table ('' when none)."""
    proc = subprocess.run([sys.executable, "-m", "dvc", "metrics", "diff", base, "--md"], cwd=cwd,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"dvc metrics diff {base}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def changed_figures(base: str, cwd: Path, under: str = "reports") -> list[str]:
    """Figures under ``under`` that differ from ``base`` in the working tree, or are new in it."""
    changed = _git(["diff", "--name-only", base, "--", under], cwd).split()
    new = _git(["ls-files", "--others", "--exclude-standard", "--", under], cwd).split()
    return sorted({p for p in changed + new if p.lower().endswith(IMAGE_SUFFIXES) and (cwd / p).is_file()})


def comment(base: str, metrics_md: str, figures: list[str], *, max_figures: int = 30) -> str:
    out = [f"## t2igan: what this change does (against `{base}`)", "", "### Metrics", ""]
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
    parser.add_argument("-o", "--output", default="comment.md", help="where to write the markdown")
    parser.add_argument("--repo", default=".", help="the project's root (default: here)")
    args = parser.parse_args(argv)
    root = Path(args.repo)
    try:
        text = comment(args.base, metrics_diff(args.base, root), changed_figures(args.base, root))
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    io.write_text(root / args.output, text)
    print(f"wrote {root / args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
