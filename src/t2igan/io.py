"""Atomic file output: every file the pipeline writes appears whole or not at all.

A crash (or a full disk) while writing leaves at most a hidden ``.<name>.tmp-*`` file
next to the target, never a truncated target.  Readers therefore never see half a file.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

import numpy as np

from t2igan.errors import T2IGANError


class WriteError(T2IGANError):
    """An output could not be written (full disk, quota, file too large, read-only); nothing was left half-written."""


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", keep_previous: str | os.PathLike | None = None,
                 **open_kwargs: Any) -> Iterator[IO]:
    """Open a temporary file beside ``path``; rename it over ``path`` only on success.

    ``keep_previous``: where the file being replaced goes (renamed, just before the new one
    takes its place), so that a reader who finds ``path`` damaged can fall back to it.
    An operating-system failure while writing (a full disk...) becomes a WriteError naming
    ``path``; the temporary file is removed and an existing ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **open_kwargs) as fh:
            os.fchmod(fh.fileno(), 0o666 & ~_umask())  # mkstemp's 0600, as open() would have made it
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if keep_previous is not None and path.exists():
            os.replace(path, keep_previous)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and _is_write_failure(exc):
            raise _write_error(path, exc) from exc
        raise


def _umask() -> int:
    """The process's umask (reading it means setting it: put straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Failures of the output medium, not of the program: full disk, quota, file too large, read-only.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO}


def _is_write_failure(exc: OSError) -> bool:
    # errno None: a library's own report of a short write (numpy: "N requested and M written").
    return exc.errno in _WRITE_ERRNOS or exc.errno is None


def _write_error(path: Path, exc: OSError) -> WriteError:
    why = exc.strerror or f"{exc}: is the disk full?"
    return WriteError(f"{path}: could not be written ({why}); nothing was written there and any earlier "
                      f"version is kept")


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files a killed writer of ``path`` left behind (``atomic_write``'s
    ``.<name>.tmp-*``); call it only where one process writes ``path``.  Returns what went."""
    path = Path(path)
    stale = sorted(path.parent.glob(f".{path.name}.tmp-*")) if path.parent.is_dir() else []
    for f in stale:
        with contextlib.suppress(FileNotFoundError):
            f.unlink()
    return stale


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_write(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    with atomic_write(path, "wb") as fh:
        np.save(fh, array, allow_pickle=False)


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    with atomic_write(path, "wb") as fh:
        np.savez(fh, **arrays)


def save_png(path: str | os.PathLike, image) -> None:
    """Save a PIL image (or a matplotlib figure) as PNG atomically."""
    with atomic_write(path, "wb") as fh:
        if hasattr(image, "savefig"):
            image.savefig(fh, format="png", dpi=image.dpi, bbox_inches="tight")
        else:
            image.save(fh, format="PNG")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Build a directory under a temporary sibling name; swap it in only on success.

    On failure the temporary directory is removed and an existing ``path`` is untouched.
    The swap itself is two renames; if the second fails the old directory is put back.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        tmp.chmod(0o777 & ~_umask())  # mkdtemp's 0700, as mkdir would have made it
        yield tmp
        if path.exists() or path.is_symlink():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            try:
                os.replace(tmp, path)
            except BaseException:
                os.replace(old, path)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except OSError as exc:
        if _is_write_failure(exc):
            raise _write_error(path, exc) from exc
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class DiskFullError(T2IGANError):
    pass


def check_free_disk(directory: str | os.PathLike, needed: int, what: str) -> None:
    """Stop before writing ``needed`` bytes into ``directory`` when its file system has less free;
    the error gives both numbers (GB), so nothing is left half-written by a full disk."""
    directory = Path(directory)
    probe = next((d for d in (directory, *directory.parents) if d.exists()), Path("."))
    free = shutil.disk_usage(probe).free
    if needed > free:
        raise DiskFullError(f"{what} needs {needed / 1e9:.2f} GB but {probe} has {free / 1e9:.2f} GB free; "
                            "free some space (or point the stage's out_dir elsewhere) and run it again")


class StoredImages:
    """A stored set's images.npy (uint8 [N, s, s, 3]) read a slice at a time with plain file reads.

    Not a memory map: the pages a map has touched count in the process's RSS until the kernel
    needs them back, so a map read to the end looks as large as the file (5.8 GB for 29,330
    images at 256 px).  Reads go through the page cache instead, and only the slice asked for
    is held.  Supports ``len``, ``shape``, ``dtype``, ``size`` and ``[start:stop]``.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        with open(self.path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(fh)
            self._offset = fh.tell()
        if fortran or dtype != np.uint8 or len(shape) != 4 or shape[-1] != 3:
            raise WriteError(f"{self.path}: not a stored image set (uint8 [N, s, s, 3], C order); got "
                             f"{dtype}{list(shape)}{' in Fortran order' if fortran else ''}")
        self.shape, self.dtype = tuple(shape), np.dtype(np.uint8)
        self._row = int(np.prod(shape[1:]))

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def __getitem__(self, index: slice) -> np.ndarray:
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError(f"{self.path}: read slices [start:stop], got {index!r}")
        start, stop, _ = index.indices(len(self))
        count = max(0, stop - start)
        with open(self.path, "rb") as fh:
            fh.seek(self._offset + start * self._row)
            data = np.fromfile(fh, np.uint8, count * self._row)
        if len(data) != count * self._row:
            raise WriteError(f"{self.path}: truncated (images {start}..{stop} of {len(self)} cannot be read)")
        return data.reshape(count, *self.shape[1:])


class _ImageFileWriter:
    """images.npy written front to back by slice assignment (``w[i:j] = batch``, in order): plain
    file writes, not a memory map, whose dirty pages would count in the RSS up to the set's size."""

    def __init__(self, fh: IO[bytes], shape: tuple[int, ...]):
        self.fh, self.shape, self.written = fh, shape, 0
        np.lib.format.write_array_header_1_0(fh, {"descr": "|u1", "fortran_order": False, "shape": shape})

    def __len__(self) -> int:
        return self.shape[0]

    def __setitem__(self, index: slice, batch: np.ndarray) -> None:
        start, stop, _ = index.indices(self.shape[0])
        if start != self.written:
            raise ValueError(f"images are written in order: expected rows from {self.written}, got [{start}:{stop}]")
        batch = np.broadcast_to(np.asarray(batch, dtype=np.uint8), (stop - start, *self.shape[1:]))  # as numpy would
        self.fh.write(np.ascontiguousarray(batch).tobytes())
        self.written = stop


def write_image_set(path: str | os.PathLike, rows: np.ndarray, size: int, meta: dict, fill) -> None:
    """A generated set as a directory: images.npy (uint8 [N, size, size, 3]), caption_rows.npy and
    meta.json.  ``fill(images)`` writes the images in order by slice assignment
    (``images[i:j] = batch``) into the file it is given.  Checks the free disk first; built in a
    temporary directory and swapped in whole: never half a set on disk."""
    shape = (len(rows), size, size, 3)
    check_free_disk(Path(path).parent, int(np.prod(shape)), f"the generated set {path}")
    with atomic_dir(path) as tmp:
        with open(tmp / "images.npy", "wb") as fh:
            images = _ImageFileWriter(fh, shape)
            fill(images)
            if images.written != len(rows):
                raise ValueError(f"{path}: {images.written} of {len(rows)} images written")
        np.save(tmp / "caption_rows.npy", np.asarray(rows).astype(np.int64))
        (tmp / "meta.json").write_text(json.dumps({"images": int(len(rows)), "size": size, **meta}, indent=2))
