"""Fetching and unpacking the raw archives, safely and resumably.

:func:`fetch` makes sure ``raw_dir/<source.file>`` exists with the pinned md5 (or SHA-256).  A file that
is already there (for example placed by hand on an offline machine) is checked and used
without touching the network.  Otherwise it is downloaded to ``<file>.part`` (resumable
with HTTP ``Range`` for ``via: http``; through the ``gdown`` package for Google Drive) and
renamed into place only after its checksum matched, so ``raw_dir/<file>`` is always whole.
An HTML page (a host's error or sign-in page served with status 200) is refused, not saved.
Where no md5 is pinned, the md5 of the first download is recorded in ``<file>.md5`` and every
later run checks the file against it.

:func:`extract` unpacks ``.tgz``/``.tar.gz``/``.tar``/``.zip`` archives into a temporary
sibling directory and renames it to the destination at the end.  Members with absolute
paths, ``..`` components, links leading outside, or device files are refused.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import http.client
import logging
import os
import posixpath
import re
import socket
import stat
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path

from tqdm import tqdm

from t2igan.config import Source
from t2igan.errors import DataFormatError, DownloadError
from t2igan.io import atomic_dir, write_text

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # 1 MiB: read/write/hash block size
RETRY_BACKOFF_S = 1.0  # first pause between retries; doubles each time (tests lower it)
MAX_BACKOFF_S = 30.0
MAX_RETRY_AFTER_S = 300.0  # the longest HTTP 429 Retry-After honoured (tests lower it)
USER_AGENT = "t2igan-downloader/1.0 (+urllib)"

__all__ = ["fetch", "extract", "md5sum", "sha256sum", "md5_record", "RETRY_BACKOFF_S"]


# --------------------------------------------------------------------------- checksums
def md5sum(path: str | os.PathLike, *, progress: bool = False) -> str:
    """MD5 of a (possibly multi-GB) file, read in 1 MiB chunks."""
    path = Path(path)
    digest = hashlib.md5()
    size = path.stat().st_size
    with (
        open(path, "rb") as fh,
        tqdm(
            total=size,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=f"md5 {path.name}",
            disable=not progress or size < (64 << 20),
            leave=False,
        ) as bar,
    ):
        while block := fh.read(CHUNK):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


def sha256sum(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _check_md5(path: Path, source: Source, *, progress: bool) -> str:
    actual = md5sum(path, progress=progress)
    if source.md5 is None:
        log.warning(
            "%s has no pinned md5; its md5 is %s. Put it in params.yaml to verify future downloads.",
            path,
            actual,
        )
    return actual


def md5_record(final: Path) -> Path:
    """Where the md5 of an unpinned file's first download is kept."""
    return final.with_name(final.name + ".md5")


def _expected_md5(source: Source, final: Path) -> tuple[str | None, Path | None]:
    """The md5 ``final`` must have: the pinned one, else the one recorded at its first fetch (and
    that record's path), else None."""
    if source.md5 is not None:
        return source.md5.lower(), None
    record = md5_record(final)
    if record.is_file():
        return record.read_text(encoding="utf-8").strip().lower(), record
    return None, None


def _looks_like_html(path: Path) -> bool:
    """An archive starts with binary magic; a page starts with markup."""
    with open(path, "rb") as fh:
        head = fh.read(2048)
    head = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith(b"<") and any(tag in head for tag in (b"<!doctype html", b"<html", b"<head", b"<body"))


def _html_error(path: Path, source: Source, *, downloaded: bool) -> DownloadError:
    if downloaded:
        return DownloadError(
            f"{source.url} answered with an HTML page instead of {source.file} (an error, quota or sign-in "
            f"page). Nothing was saved; try again later, or download the archive by hand and place it at "
            f"{path.with_name(source.file)}"
        )
    return DownloadError(
        f"{path} is an HTML page, not the archive {source.file} (an error page saved by an earlier "
        f"download?). Delete it to download it again, or replace it with the archive."
    )


# --------------------------------------------------------------------------- fetch
def fetch(
    source: Source,
    raw_dir: str | os.PathLike,
    *,
    retries: int = 3,
    timeout: float = 30,
    progress: bool = True,
) -> Path:
    """Make sure ``raw_dir/source.file`` exists with the right md5; return its path."""
    raw_dir = Path(raw_dir)
    final = raw_dir / source.file
    if final.is_file():
        if _looks_like_html(final):
            raise _html_error(final, source, downloaded=False)
        if source.sha256:
            actual = sha256sum(final)
            if not actual.startswith(source.sha256.lower()):
                raise DownloadError(f"{final} is already present but its SHA-256 is {actual}, expected one starting "
                                    f"{source.sha256}. Delete it (to download it again) or replace it with the "
                                    "correct file")
            log.info("using %s (already present, SHA-256 checked)", final)
            return final
        actual = _check_md5(final, source, progress=progress)
        expected, record = _expected_md5(source, final)
        if expected is not None and actual.lower() != expected:
            origin = f" (recorded in {record} when it was first fetched)" if record else ""
            raise DownloadError(
                f"{final} is already present but its md5 is {actual}, expected {expected}{origin}. "
                f"Delete it (to download it again) or replace it with the correct file"
                + ("." if not record else f"; delete {record} too if the new file is the one to trust.")
            )
        if expected is None:
            write_text(md5_record(final), actual + "\n")  # a hand-placed file: checked from now on
        log.info("using %s (already present)", final)
        return final

    raw_dir.mkdir(parents=True, exist_ok=True)
    part = raw_dir / (source.file + ".part")
    if source.via == "http":
        _download_http(source, part, final, retries=retries, timeout=timeout, progress=progress)
    elif source.via == "gdown":
        _download_gdown(source, part, final, retries=retries, timeout=timeout, progress=progress)
    else:  # config validation prevents this
        raise DownloadError(f"{source.file}: unknown download method {source.via!r}")

    if _looks_like_html(part):
        part.unlink()
        raise _html_error(final, source, downloaded=True)
    if source.sha256:
        actual = sha256sum(part)
        if not actual.startswith(source.sha256.lower()):
            part.unlink()
            raise DownloadError(f"checksum mismatch for {source.file} downloaded from {source.url}: expected a "
                                f"SHA-256 starting {source.sha256}, got {actual}. The partial download was deleted; "
                                f"download it by hand, check it, and place it at {final}")
        os.replace(part, final)
        return final
    actual = _check_md5(part, source, progress=progress)
    expected, record = _expected_md5(source, final)
    if expected is not None and actual.lower() != expected:
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
        origin = f" (recorded in {record} at its first download)" if record else ""
        raise DownloadError(
            f"checksum mismatch for {source.file} downloaded from {source.url}: "
            f"expected md5 {expected}{origin}, got {actual}. The partial download was deleted; "
            f"if the file changed upstream, download it by hand, check it, and place it at {final}"
            + ("." if not record else f", deleting {record}.")
        )
    if expected is None:
        write_text(md5_record(final), actual + "\n")
    os.replace(part, final)
    return final


def _fail(source: Source, final: Path, why: str) -> DownloadError:
    return DownloadError(
        f"could not download {source.file} from {source.url}: {why}. If this machine cannot "
        f"reach the host, download it by hand and place it at {final}"
    )


def _sleep_before_retry(attempt: int, wait: float | None = None) -> None:
    """Back off exponentially, or wait what the server asked (429 Retry-After, capped)."""
    if wait is not None:
        time.sleep(min(wait, MAX_RETRY_AFTER_S))
    else:
        time.sleep(min(RETRY_BACKOFF_S * 2 ** (attempt - 1), MAX_BACKOFF_S))


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class _Incomplete(Exception):
    """The body ended before the announced length: retry, resuming from the current size."""


class _Restart(Exception):
    """The partial file cannot be resumed: start again from byte 0 (not counted as a retry)."""


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def _download_http(source: Source, part: Path, final: Path, *, retries: int, timeout: float, progress: bool) -> None:
    """Download ``source.url`` into ``part``, resuming with Range after interruptions."""
    attempt = 0  # failed attempts so far
    restarts = 0
    while True:
        wait = None  # what the server asked us to wait (429), else exponential back-off
        try:
            _http_attempt(source, part, timeout=timeout, progress=progress)
            return
        except _Restart as exc:
            restarts += 1
            if restarts > 2:
                raise _fail(source, final, f"the server keeps rejecting resumption ({exc})") from None
            log.info("%s: %s; starting again from byte 0", source.file, exc)
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
            continue
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 429:  # rate limited: come back when the server says
                wait = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
            elif exc.code < 500:
                raise _fail(source, final, f"HTTP {exc.code} {exc.reason}") from None
            why = f"HTTP {exc.code} {exc.reason}"
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, (socket.gaierror, ConnectionRefusedError)):
                # Offline, DNS failure, nothing listening: retrying will not help.
                raise _fail(source, final, f"host unreachable ({reason})") from None
            why = f"network error ({reason})"
        except (_Incomplete, http.client.IncompleteRead) as exc:
            why = f"connection cut mid-transfer ({exc})"
        except (ConnectionError, TimeoutError, socket.timeout, http.client.HTTPException) as exc:
            why = f"connection error ({type(exc).__name__}: {exc})"
        attempt += 1
        if attempt > retries:
            have = part.stat().st_size if part.exists() else 0
            kept = f"; {have} bytes kept in {part} for resuming" if have else ""
            raise _fail(source, final, f"{why}; gave up after {retries} retr{'y' if retries == 1 else 'ies'}{kept}")
        log.warning("%s: %s; retry %d/%d", source.file, why, attempt, retries)
        _sleep_before_retry(attempt, wait)


def _http_attempt(source: Source, part: Path, *, timeout: float, progress: bool) -> None:
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(source.url, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            # Range not satisfiable: the .part is complete already, or longer than the file.
            match = re.fullmatch(r"bytes\s+\*/(\d+)", exc.headers.get("Content-Range", "") or "")
            exc.close()
            if match and int(match.group(1)) == offset:
                return
            raise _Restart(f"HTTP 416 for a resume at byte {offset}") from None
        raise
    with response:
        status = response.status
        if offset and status == 206:
            match = _CONTENT_RANGE.fullmatch((response.headers.get("Content-Range") or "").strip())
            if match is None or int(match.group(1)) != offset:
                raise _Restart(
                    f"server answered a resume at byte {offset} with Content-Range "
                    f"{response.headers.get('Content-Range')!r}"
                )
            mode = "ab"
        elif status == 200:
            if offset:
                log.info("%s: server ignored the Range request; restarting from 0", source.file)
            offset = 0
            mode = "wb"
        else:
            raise http.client.HTTPException(f"unexpected HTTP status {status}")

        length_header = response.headers.get("Content-Length")
        length = int(length_header) if length_header and length_header.isdigit() else None
        total = offset + length if length is not None else None
        received = 0
        with (
            open(part, mode) as fh,
            tqdm(
                total=total,
                initial=offset,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=source.file,
                disable=not progress,
            ) as bar,
        ):
            try:
                while chunk := response.read(CHUNK):
                    fh.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            finally:
                fh.flush()
                os.fsync(fh.fileno())
        if length is not None and received < length:
            raise _Incomplete(f"received {received} of {length} bytes")


def _download_gdown(source: Source, part: Path, final: Path, *, retries: int, timeout: float, progress: bool) -> None:
    """Download with gdown into ``part`` (gdown keeps its own resumable temp files beside it)."""
    try:
        import gdown
        import requests
    except ImportError as exc:  # pragma: no cover - gdown is a declared dependency
        raise _fail(source, final, f"the gdown package is not installed ({exc})") from None
    if part.exists():
        # A finished gdown output that was never renamed (crash), or a stale file: gdown
        # would skip the download if we kept it, so only keep it when it checks out.
        if source.md5 is not None and md5sum(part).lower() == source.md5.lower():
            return
        part.unlink()
    try:
        gdown.download(
            url=source.url,
            output=str(part),
            quiet=not progress,
            resume=True,
            timeout=timeout,
            retries=retries,
        )
    except (gdown.exceptions.DownloadError, requests.RequestException, OSError, ValueError) as exc:
        raise _fail(source, final, f"{type(exc).__name__}: {exc}") from None
    if not part.is_file():
        raise _fail(source, final, "gdown finished without producing a file")


# --------------------------------------------------------------------------- extract
def _archive_kind(archive: Path) -> str:
    name = archive.name.lower()
    if name.endswith(".zip"):
        return "zip"
    if name.endswith((".tgz", ".tar.gz", ".tar", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")):
        return "tar"
    if zipfile.is_zipfile(archive):
        return "zip"
    if tarfile.is_tarfile(archive):
        return "tar"
    raise DataFormatError(archive, "not a .tar/.tgz/.tar.gz/.zip archive")


def _member_path(archive: Path, name: str) -> str:
    """Normalised relative posix path of a member, or DataFormatError if unsafe."""
    if "\x00" in name:
        raise DataFormatError(archive, f"unsafe member {name!r}: NUL byte in its name")
    clean = name.replace("\\", "/")
    if clean.startswith("/") or re.match(r"^[A-Za-z]:", clean):
        raise DataFormatError(archive, f"unsafe member {name!r}: absolute path")
    parts = [p for p in clean.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise DataFormatError(archive, f"unsafe member {name!r}: '..' in its path")
    return "/".join(parts)


def _inside(root: Path, target: str | os.PathLike) -> bool:
    root_real = os.path.realpath(root)
    target_real = os.path.realpath(target)
    return target_real == root_real or target_real.startswith(root_real + os.sep)


def _check_link(archive: Path, tmp: Path, name: str, rel: str, link: str, *, hard: bool) -> None:
    if link.startswith("/") or re.match(r"^[A-Za-z]:", link):
        raise DataFormatError(archive, f"unsafe member {name!r}: link to absolute path {link!r}")
    # Symlinks are relative to the member's folder, hard links to the archive root.
    base = "" if hard else posixpath.dirname(rel)
    joined = posixpath.normpath(posixpath.join(base, link))
    if joined == ".." or joined.startswith("../") or not _inside(tmp, tmp / joined):
        raise DataFormatError(archive, f"unsafe member {name!r}: link {link!r} points outside")


def _check_tar_member(archive: Path, tmp: Path, member: tarfile.TarInfo) -> str:
    rel = _member_path(archive, member.name)
    if member.isdev():
        raise DataFormatError(archive, f"unsafe member {member.name!r}: device or fifo file")
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise DataFormatError(archive, f"unsafe member {member.name!r}: unsupported member type")
    # Extracting through an already extracted symlink must stay inside too.
    if rel and not _inside(tmp, tmp / rel if not member.issym() else (tmp / rel).parent):
        raise DataFormatError(archive, f"unsafe member {member.name!r}: path leads outside")
    if member.issym() or member.islnk():
        _check_link(archive, tmp, member.name, rel, member.linkname, hard=member.islnk())
    return rel


def _extract_tar(archive: Path, tmp: Path, progress: bool) -> None:
    has_filter = hasattr(tarfile, "data_filter")
    try:
        tf = tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError) as exc:
        raise DataFormatError(archive, f"cannot open archive: {exc}") from None
    with tf, tqdm(unit=" files", desc=f"extract {archive.name}", disable=not progress) as bar:
        try:
            for member in tf:  # streaming: a .tgz is decompressed only once
                _check_tar_member(archive, tmp, member)
                if has_filter:
                    tf.extract(member, tmp, set_attrs=True, filter="data")
                else:  # pragma: no cover - Python < 3.11.4
                    tf.extract(member, tmp, set_attrs=False)
                bar.update(1)
        except DataFormatError:
            raise
        except tarfile.FilterError as exc:
            raise DataFormatError(archive, f"unsafe member: {exc}") from None
        except (tarfile.TarError, EOFError, zlib.error) as exc:
            raise DataFormatError(archive, f"corrupt or truncated archive: {exc}") from None


def _extract_zip(archive: Path, tmp: Path, progress: bool) -> None:
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataFormatError(archive, f"cannot open archive: {exc}") from None
    with zf:
        infos = zf.infolist()
        for info in infos:  # check everything before writing anything
            rel = _member_path(archive, info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                target = zf.read(info).decode("utf-8", "replace")
                _check_link(archive, tmp, info.filename, rel, target, hard=False)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
                raise DataFormatError(archive, f"unsafe member {info.filename!r}: device or fifo file")
        try:
            for info in tqdm(infos, unit=" files", desc=f"extract {archive.name}", disable=not progress):
                zf.extract(info, tmp)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise DataFormatError(archive, f"corrupt archive: {exc}") from None


def extract(archive: str | os.PathLike, dest: str | os.PathLike, *, progress: bool = True) -> Path:
    """Extract ``archive`` into ``dest`` atomically (``dest`` is replaced if it exists)."""
    archive = Path(archive)
    dest = Path(dest)
    if not archive.is_file():
        raise DataFormatError(archive, "archive not found")
    kind = _archive_kind(archive)
    with atomic_dir(dest) as tmp:
        if kind == "zip":
            _extract_zip(archive, tmp, progress)
        else:
            _extract_tar(archive, tmp, progress)
    return dest
