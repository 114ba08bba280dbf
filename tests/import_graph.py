"""The project's import graph, read from the source (no module is executed): what each stage's
script imports, directly or through other project modules, including imports inside functions.

Used by tests/test_deps.py.  ``python tests/import_graph.py train@attngan`` prints what one stage's
dvc.yaml deps miss or list needlessly; ``python tests/import_graph.py --fix`` rewrites every stage's
code deps in dvc.yaml to what its script runs.
"""
from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = "t2igan"


@cache
def module_file(name: str) -> Path | None:
    """The file of project module ``name`` (a package's __init__.py), or None if it is not a module."""
    path = SRC.joinpath(*name.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _package(file: Path) -> list[str]:
    parts = list(file.relative_to(SRC).with_suffix("").parts)
    return parts[:-1]  # a module's package; for __init__.py, its own package


@cache
def import_statements(file: Path) -> tuple[tuple[str, str | None, int, bool], ...]:
    """(module, imported name or None, line, inside a function) for every import in ``file``."""
    tree = ast.parse(file.read_text(encoding="utf-8"), str(file))
    local = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
             for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno, id(node) in local) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = _package(file)[:len(_package(file)) - node.level + 1]
                module = ".".join(base + ([module] if module else []))
            out += [(module, a.name, node.lineno, id(node) in local) for a in node.names]
    return tuple(out)


@cache
def direct_imports(file: Path) -> frozenset[Path]:
    """The project modules ``file`` imports by name (``from a.b import c``: a.b, or a.b.c if c is a module)."""
    out = set()
    for module, name, _, _ in import_statements(file):
        if module.split(".")[0] != PACKAGE:
            continue
        target = (module_file(f"{module}.{name}") if name else None) or module_file(module)
        if target is None:
            raise ImportError(f"{file.relative_to(ROOT)}: imports {module}{'.' + name if name else ''}, "
                              "which is not a project module")
        out.add(target)
    return frozenset(out)


def _parents(file: Path) -> set[Path]:
    """The __init__.py files Python runs before a module of theirs: a.b.c runs a/ and a/b/."""
    if not file.is_relative_to(SRC):
        return set()
    parts = file.relative_to(SRC).with_suffix("").parts
    return {f for i in range(1, len(parts)) if (f := module_file(".".join(parts[:i]))) is not None} - {file}


def closure(*files: Path) -> set[Path]:
    """Every project file that runs when ``files`` are run or imported."""
    seen: set[Path] = set()
    todo = list(files)
    while todo:
        file = todo.pop()
        if file in seen:
            continue
        seen.add(file)
        todo += direct_imports(file) | _parents(file)
    return seen


def cycles() -> list[list[str]]:
    """Groups of project modules that import each other (directly or around a loop)."""
    files = sorted(SRC.rglob("*.py"))
    graph = {f: direct_imports(f) for f in files}
    index: dict[Path, int] = {}
    low: dict[Path, int] = {}
    stack: list[Path] = []
    found = []

    def visit(v: Path) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 or v in graph[v]:
                found.append(sorted(str(g.relative_to(ROOT)) for g in group))

    for f in files:
        if f not in index:
            visit(f)
    return found


def inert(file: Path) -> bool:
    """An __init__.py that only holds a docstring and constants: running it changes no result."""
    tree = ast.parse(file.read_text(encoding="utf-8"))
    return file.name == "__init__.py" and all(
        isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)
        or isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant) for n in tree.body)


# A foreach stage's family files, by the section it loops over: what ${item.model} names.
FAMILY_DEPS = {"${variants}": ["src/t2igan/variants/${item.model}.py", "src/t2igan/models/${item.model}.py"],
               "${baselines}": ["src/t2igan/baselines/${item.model}.py", "src/t2igan/models/${item.model}.py"]}
CODE_COMMENT = "# code: every project file the script runs (tests/test_deps.py keeps this exact)"


def _own_only(stage: str, foreach: str | None, needs: dict[str, set[str]]) -> set[str]:
    """The files ${item.model} names for the entries of foreach stage ``stage`` that no other entry needs
    (``needs``: entry -> the files it runs); a family that others build on (AttnGAN's) stays common."""
    import yaml

    if foreach not in FAMILY_DEPS:
        return set()
    section = yaml.safe_load((ROOT / "params.yaml").read_text())[foreach[2:-1]]
    own = {key: {t.replace("${item.model}", e["model"]) for t in FAMILY_DEPS[foreach]} for key, e in section.items()}
    return {f for key, files in own.items() for f in files
            if all(f in own[other] for other, needed in needs.items() if f in needed)}


def fix_dvc_yaml(path: Path = ROOT / "dvc.yaml") -> None:
    """Rewrite each stage's code deps (the lines under CODE_COMMENT) to what its script runs: the files
    every expansion of a foreach stage runs, plus its family's files through ${item.model}."""
    import re

    import yaml
    from test_deps import stage_code

    stages = yaml.safe_load(path.read_text())["stages"]
    groups: dict[str, dict[str, set[str]]] = {}
    for name, (needed, _) in stage_code().items():
        stage, _, key = name.partition("@")
        groups.setdefault(stage, {})[key] = needed
    blocks = {}
    for stage, members in groups.items():
        # what any entry runs beyond its ${item.model} files (test_deps.OVER_INCLUDED: why not less)
        common = set.union(*members.values()) - _own_only(stage, stages[stage].get("foreach"), members)
        blocks[stage] = (sorted(f for f in common if f.startswith("stages/"))
                         + sorted(f for f in common if f.startswith("src/"))
                         + FAMILY_DEPS.get(stages[stage].get("foreach"), []))
    out, stage, in_deps, written = [], None, False, False
    for line in path.read_text().splitlines(keepends=True):
        if m := re.match(r"^  ([a-z_]+):", line):
            stage, in_deps, written = m.group(1), False, False
        indent = len(line) - len(line.lstrip())
        if re.match(r"^\s+deps:", line) and stage in blocks:
            in_deps, deps_indent = True, indent
        elif in_deps and line.strip() and not line.lstrip().startswith(("-", "#")) and indent <= deps_indent:
            in_deps = False
        elif in_deps and (line.strip() == CODE_COMMENT or re.match(r"^\s+- (src|stages)/", line)):
            if not written:
                out.append(" " * indent + CODE_COMMENT + "\n")
                out += [" " * indent + f"- {f}\n" for f in blocks[stage]]
                written = True
            continue
        out.append(line)
    path.write_text("".join(out))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    if sys.argv[1:] == ["--fix"]:
        fix_dvc_yaml()
        sys.exit(0)
    from test_deps import stage_code  # noqa: E402

    for name in sys.argv[1:]:
        needed, listed = stage_code()[name]
        print(f"{name}: missing {sorted(needed - listed)}; not imported {sorted(listed - needed)}")
