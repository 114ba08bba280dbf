"""Fetch CUB-200-2011 and Reed et al.'s captions and arrange them in one folder.

The result (built in a temporary sibling folder and renamed at the end) is::

    out_dir/
      CUB_200_2011/   images/, images.txt, image_class_labels.txt, train_test_split.txt,
                      bounding_boxes.txt, classes.txt, parts/parts.txt, parts/part_locs.txt,
                      attributes/image_attribute_labels.txt, attributes/attributes.txt
      text_c10/<class_name>/<image_name>.txt
      trainvalclasses.txt, testclasses.txt (and allclasses.txt when the archive has it)

Only the structure is checked here; parsing the files is the job of the CUB reader.

A user may instead extract the archives by hand into ``raw_dir`` (``data/raw/CUB_200_2011/``
and the captions' ``text_c10/`` with the two class lists, in any sub-folder): that tree is then
used without any archive or network, and only read (its files are hard-linked into the output
where the file system allows, else copied). Never put it in ``out_dir`` (``data/birds``): DVC
deletes a stage's outputs before running it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from t2igan.config import CubSources
from t2igan.data.download import extract, fetch, md5_record
from t2igan.errors import DataFormatError
from t2igan.io import atomic_dir

log = logging.getLogger(__name__)

__all__ = ["prepare_cub", "find_extracted", "CUB_FILES", "CLASS_LISTS", "OPTIONAL_LISTS"]

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
CLASS_LISTS = ("trainvalclasses.txt", "testclasses.txt")  # the split the CUB reader reads
OPTIONAL_LISTS = ("allclasses.txt",)                        # kept when present, never read


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


def _link_or_copy(src: str | Path, dst: str | Path) -> None:
    try:
        os.link(src, dst)  # instant, no extra disk; the user's file stays where it is
    except OSError:
        shutil.copy2(src, dst)


def _take(src: Path, dst: Path, keep: bool) -> None:
    """Put ``src`` (file or folder) at ``dst``: moved out of an extracted archive, or, from a
    user's tree (``keep``), hard-linked or copied without junk files."""
    if not keep:
        _move(src, dst)
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dst, ignore=lambda _, names: [n for n in names if _junk(n)],
                        copy_function=_link_or_copy)
    else:
        _link_or_copy(src, dst)


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


def _arrange_images(tree: Path, archive: Path, dest: Path, keep: bool = False) -> None:
    root = _find_cub_root(tree, archive)
    sources = {rel: root / rel for rel in CUB_FILES}
    if not sources["attributes/attributes.txt"].is_file():
        # The official tgz has attributes.txt beside CUB_200_2011/, not inside it.
        found = _find_file(tree, "attributes.txt", prefer_near=root)
        if found is not None and root / "images" not in found.parents:
            sources["attributes/attributes.txt"] = found
    missing = [rel for rel, path in sources.items() if not path.is_file()]
    images = root / "images"
    if not any(p.is_dir() and not _junk(p.name) for p in images.iterdir()):
        missing.append("images/<class>/ (images/ is empty)")
    if missing:
        raise DataFormatError(
            archive,
            f"missing in {root.relative_to(tree).as_posix()}/: {', '.join(missing)}",
        )
    if not keep:
        _remove_junk(images)
    _take(images, dest / "images", keep)
    for rel, path in sources.items():
        _take(path, dest / rel, keep)


# --------------------------------------------------------------------------- text
def _arrange_text(tree: Path, archive: Path, dest: Path, keep: bool = False) -> None:
    text_dirs = [folder / "text_c10" for folder, dirs, _ in _walk(tree) if "text_c10" in dirs]
    if not text_dirs:
        raise DataFormatError(archive, "no text_c10/ folder found in this archive")
    text_dir = min(text_dirs, key=lambda p: _depth(tree, p))
    lists = {name: _find_file(tree, name, prefer_near=text_dir.parent) for name in CLASS_LISTS + OPTIONAL_LISTS}
    missing = [name for name in CLASS_LISTS if lists[name] is None]
    # Only text_c10/<class>/<image>.txt is kept; anything else the archive put there is left out.
    captions = [f for d in text_dir.iterdir() if d.is_dir() and not _junk(d.name)
                for f in d.iterdir() if f.is_file() and f.suffix == ".txt" and not _junk(f.name)]
    if not captions:
        missing.append("text_c10/<class>/<image>.txt (text_c10/ has no caption files)")
    if missing:
        raise DataFormatError(archive, f"missing: {', '.join(missing)}")
    dropped = sum(1 for _ in text_dir.rglob("*")) - len(captions) - len({f.parent for f in captions})
    if dropped:
        log.info("%s: ignored %d entries in text_c10/ that are not <class>/<image>.txt", archive, dropped)
    for f in captions:  # moved out of an archive, or linked from a user's tree
        _take(f, dest / "text_c10" / f.parent.name / f.name, keep)
    for name, path in lists.items():
        if path is not None:
            _take(path, dest / name, keep)


# --------------------------------------------------------------------------- main
@contextlib.contextmanager
def _advice_on_failure(archive: Path):
    """A damaged or wrong archive is reused by every later run: say how to get a good one."""
    try:
        yield
    except DataFormatError as exc:
        record = md5_record(archive)
        also = f" (and {record})" if record.exists() else ""
        raise DataFormatError(archive, f"{str(exc).removeprefix(f'{exc.path}: ')}. The archive is kept and "
                                       f"would be used again: delete it{also} to download it again, or "
                                       f"replace it with a good copy") from None


def find_extracted(raw_dir: str | os.PathLike) -> bool:
    """Whether ``raw_dir`` holds a hand-extracted CUB tree (CUB_200_2011/ with images.txt and
    images/) and captions (a text_c10/ folder)."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        return False
    found = {"cub": False, "text": False}
    for _, dirs, files in _walk(raw_dir):
        found["cub"] |= "images.txt" in files and "images" in dirs
        found["text"] |= "text_c10" in dirs
        if "images" in dirs:
            dirs.remove("images")  # 11,788 files that say nothing about the layout
        if "text_c10" in dirs:
            dirs.remove("text_c10")
    return found["cub"] and found["text"]


def prepare_cub(
    sources: CubSources,
    raw_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    progress: bool = True,
) -> Path:
    """Fetch both archives into ``raw_dir`` and build ``out_dir`` (see the module docstring);
    or, when ``raw_dir`` holds the extracted trees (``find_extracted``), build it from them."""
    raw_dir = Path(raw_dir)
    out_dir = Path(out_dir)
    if find_extracted(raw_dir):
        log.info("using the extracted CUB and captions in %s (no archives needed)", raw_dir)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        with atomic_dir(out_dir) as stage:
            _arrange_images(raw_dir, raw_dir, stage / "CUB_200_2011", keep=True)
            _arrange_text(raw_dir, raw_dir, stage, keep=True)
        log.info("CUB data ready in %s", out_dir)
        return out_dir
    images_archive = fetch(sources.images, raw_dir, progress=progress)
    text_archive = fetch(sources.text, raw_dir, progress=progress)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.work-", dir=out_dir.parent) as scratch, \
            atomic_dir(out_dir) as stage:
        work = Path(scratch)
        with _advice_on_failure(images_archive):
            images_tree = extract(images_archive, work / "images_archive", progress=progress)
            _arrange_images(images_tree, images_archive, stage / "CUB_200_2011")
        shutil.rmtree(images_tree)  # free the disk before unpacking the next archive
        with _advice_on_failure(text_archive):
            text_tree = extract(text_archive, work / "text_archive", progress=progress)
            _arrange_text(text_tree, text_archive, stage)
    log.info("CUB data ready in %s", out_dir)
    return out_dir
