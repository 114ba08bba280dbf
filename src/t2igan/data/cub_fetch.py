"""Fetch CUB-200-2011 and Reed et al.'s captions and arrange them in one folder.

The result (built in a temporary sibling folder and renamed at the end) is::

    out_dir/
      CUB_200_2011/   images/, images.txt, image_class_labels.txt, train_test_split.txt,
                      bounding_boxes.txt, classes.txt, parts/parts.txt, parts/part_locs.txt,
                      attributes/image_attribute_labels.txt, attributes/attributes.txt
      text_c10/<class_name>/<image_name>.txt
      trainvalclasses.txt, testclasses.txt, allclasses.txt

Only the structure is checked here; parsing the files is the job of the CUB reader.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from t2igan.config import CubSources
from t2igan.data.download import extract, fetch
from t2igan.errors import DataFormatError
from t2igan.io import atomic_dir

log = logging.getLogger(__name__)

__all__ = ["prepare_cub", "CUB_FILES", "CLASS_LISTS"]

# Files of the CUB archive that end up in out_dir/CUB_200_2011/ (relative paths).
CUB_FILES = (
    "images.txt",
    "image_class_labels.txt",
    "train_test_split.txt",
    "bounding_boxes.txt",
    "classes.txt",
    "parts/parts.txt",
    "parts/part_locs.txt",
    "attributes/image_attribute_labels.txt",
    "attributes/attributes.txt",
)
CLASS_LISTS = ("trainvalclasses.txt", "testclasses.txt", "allclasses.txt")


def _junk(name: str) -> bool:
    """Mac resource forks, Finder files and the like."""
    return name.startswith("._") or name in (".DS_Store", "__MACOSX", "Thumbs.db")


def _walk(root: Path) -> Iterator[tuple[Path, list[str], list[str]]]:
    """os.walk, shallow folders first order kept, skipping junk folders and files."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not _junk(d))
        yield Path(folder), dirs, sorted(f for f in files if not _junk(f))


def _depth(root: Path, path: Path) -> int:
    return len(path.relative_to(root).parts)


def _remove_junk(root: Path) -> None:
    for folder, dirs, files in os.walk(root, topdown=True):
        for name in list(dirs):
            if _junk(name):
                shutil.rmtree(Path(folder) / name, ignore_errors=True)
                dirs.remove(name)
        for name in files:
            if _junk(name):
                (Path(folder) / name).unlink()


def _move(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(src), str(dst))  # a rename on the same file system


# --------------------------------------------------------------------------- images
def _find_cub_root(tree: Path, archive: Path) -> Path:
    candidates = [folder for folder, dirs, files in _walk(tree) if "images.txt" in files and "images" in dirs]
    if not candidates:
        raise DataFormatError(
            archive,
            "no CUB_200_2011 folder (a folder with images.txt and images/) found in this archive",
        )
    named = [c for c in candidates if c.name == "CUB_200_2011"]
    return min(named or candidates, key=lambda c: _depth(tree, c))


def _find_file(tree: Path, name: str, *, prefer_near: Path | None = None) -> Path | None:
    """The shallowest non-junk file called ``name`` (ties: the one closest to ``prefer_near``)."""
    hits = [folder / name for folder, _, files in _walk(tree) if name in files]
    if not hits:
        return None

    def key(p: Path) -> tuple[int, int]:
        near = 0
        if prefer_near is not None:
            near = 0 if p.parent in (prefer_near, prefer_near.parent) else 1
        return (near, _depth(tree, p))

    return min(hits, key=key)


def _arrange_images(tree: Path, archive: Path, dest: Path) -> None:
    root = _find_cub_root(tree, archive)
    attributes = root / "attributes" / "attributes.txt"
    if not attributes.is_file():
        # The official tgz has attributes.txt beside CUB_200_2011/, not inside it.
        found = _find_file(tree, "attributes.txt", prefer_near=root)
        if found is not None and root / "images" not in found.parents:
            _move(found, attributes)
    missing = [rel for rel in CUB_FILES if not (root / rel).is_file()]
    images = root / "images"
    if not any(p.is_dir() and not _junk(p.name) for p in images.iterdir()):
        missing.append("images/<class>/ (images/ is empty)")
    if missing:
        raise DataFormatError(
            archive,
            f"missing in {root.relative_to(tree).as_posix()}/: {', '.join(missing)}",
        )
    _remove_junk(images)
    _move(images, dest / "images")
    for rel in CUB_FILES:
        _move(root / rel, dest / rel)


# --------------------------------------------------------------------------- text
def _arrange_text(tree: Path, archive: Path, dest: Path) -> None:
    text_dirs = [folder / "text_c10" for folder, dirs, _ in _walk(tree) if "text_c10" in dirs]
    if not text_dirs:
        raise DataFormatError(archive, "no text_c10/ folder found in this archive")
    text_dir = min(text_dirs, key=lambda p: _depth(tree, p))
    lists = {name: _find_file(tree, name, prefer_near=text_dir.parent) for name in CLASS_LISTS}
    missing = [name for name, path in lists.items() if path is None]
    _remove_junk(text_dir)
    has_txt = any(f.suffix == ".txt" for d in text_dir.iterdir() if d.is_dir() for f in d.iterdir())
    if not has_txt:
        missing.append("text_c10/<class>/<image>.txt (text_c10/ has no caption files)")
    if missing:
        raise DataFormatError(archive, f"missing: {', '.join(missing)}")
    # Keep only text_c10/<class>/<image>.txt; drop anything else the archive put there.
    dropped = 0
    for entry in list(text_dir.iterdir()):
        if not entry.is_dir():
            entry.unlink()
            dropped += 1
            continue
        for f in list(entry.iterdir()):
            if f.is_dir():
                shutil.rmtree(f)
                dropped += 1
            elif f.suffix != ".txt":
                f.unlink()
                dropped += 1
    if dropped:
        log.info("%s: ignored %d entries in text_c10/ that are not <class>/<image>.txt", archive, dropped)
    _move(text_dir, dest / "text_c10")
    for name, path in lists.items():
        _move(path, dest / name)


# --------------------------------------------------------------------------- main
def prepare_cub(
    sources: CubSources,
    raw_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    progress: bool = True,
) -> Path:
    """Fetch both archives into ``raw_dir`` and build ``out_dir`` (see the module docstring)."""
    raw_dir = Path(raw_dir)
    out_dir = Path(out_dir)
    images_archive = fetch(sources.images, raw_dir, progress=progress)
    text_archive = fetch(sources.text, raw_dir, progress=progress)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.work-", dir=out_dir.parent) as scratch, \
            atomic_dir(out_dir) as stage:
        work = Path(scratch)
        images_tree = extract(images_archive, work / "images_archive", progress=progress)
        _arrange_images(images_tree, images_archive, stage / "CUB_200_2011")
        shutil.rmtree(images_tree)  # free the disk before unpacking the next archive
        text_tree = extract(text_archive, work / "text_archive", progress=progress)
        _arrange_text(text_tree, text_archive, stage)
    log.info("CUB data ready in %s", out_dir)
    return out_dir
