"""Tables the benchmarks write into README.md, between a pair of markers, so the prose cannot drift."""
from __future__ import annotations

import re
from pathlib import Path


def replace_between(name: str, text: str, readme: Path = Path("README.md")) -> None:
    """Replace what lies between ``<!-- name:start -->`` and ``<!-- name:end -->`` with ``text``."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    body = readme.read_text()
    if start not in body or end not in body:
        raise SystemExit(f"{readme} has no {start} ... {end} markers")
    body = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: f"{start}\n{text}\n{end}", body, flags=re.S)
    readme.write_text(body)
