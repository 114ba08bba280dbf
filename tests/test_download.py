"""fetch() and extract() against a local HTTP server on 127.0.0.1 (no real hosts)."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import socket
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from t2igan.config import Source
from t2igan.data import download
from t2igan.data.download import extract, fetch, md5sum
from t2igan.errors import DataFormatError, DownloadError

PAYLOAD = bytes(range(256)) * 4096 + b"tail"  # ~1 MiB, not a multiple of the chunk size
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()


# --------------------------------------------------------------------------- test server
class Handler(BaseHTTPRequestHandler):
    """Serves ``server.payload`` at any path, misbehaving as ``server`` is told to.

    server.cut_after: cut the connection after this many body bytes, once (then behave)
    server.fail_500: answer 500 this many times (-1: always), then behave
    server.ignore_range: always answer 200 with the whole body
    server.status: answer with this status (e.g. 404) and no body
    server.too_many: answer 429 (with Retry-After: server.retry_after if set) this many times
    server.redirect: answer the first request 302 to /moved/<name> (then serve there)
    server.stall_s: after the headers of the first answer, stall this long before the body
    server.bad_range: answer a resume with a Content-Range that starts elsewhere, once
    server.no_length: send no Content-Length
    """

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):  # noqa: N802
        srv = self.server
        srv.requests.append({"path": self.path, "range": self.headers.get("Range")})
        if srv.status is not None:
            self.send_error(srv.status)
            return
        if srv.too_many:
            srv.too_many -= 1
            self.send_response(429)
            if srv.retry_after is not None:
                self.send_header("Retry-After", srv.retry_after)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if srv.redirect and not self.path.startswith("/moved/"):
            self.send_response(302)
            self.send_header("Location", "/moved/" + self.path.rsplit("/", 1)[-1])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if srv.fail_500:
            srv.fail_500 -= 1 if srv.fail_500 > 0 else 0
            self.send_error(500, "boom")
            return
        data = srv.payload
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and not srv.ignore_range:
            start = int(match.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            shown = start
            if srv.bad_range:
                srv.bad_range, shown = False, 0
            self.send_header("Content-Range", f"bytes {shown}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Type", "application/octet-stream")
        if not srv.no_length:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.close_connection = True  # the end of the body is the end of the connection
        self.end_headers()
        if srv.stall_s:
            stall, srv.stall_s = srv.stall_s, 0
            self.wfile.flush()
            threading.Event().wait(stall)
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting, as it should
                pass
            return
        if srv.cut_after is not None:
            cut, srv.cut_after = srv.cut_after, None
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.payload = PAYLOAD
    srv.requests = []
    srv.cut_after = None
    srv.fail_500 = 0
    srv.ignore_range = False
    srv.status = None
    srv.too_many = 0
    srv.retry_after = None
    srv.redirect = False
    srv.stall_s = 0
    srv.bad_range = False
    srv.no_length = False
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/files/archive.tgz"
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    monkeypatch.setattr(download, "RETRY_BACKOFF_S", 0.01)
    monkeypatch.setattr(download, "MAX_RETRY_AFTER_S", 0.5)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/archive.tgz"


def leftovers(raw: Path) -> list[str]:
    return sorted(p.name for p in raw.iterdir()) if raw.exists() else []


# --------------------------------------------------------------------------- http fetch
def test_fresh_download(server, tmp_path):
    raw = tmp_path / "raw"
    path = fetch(Source(server.url, "archive.tgz", PAYLOAD_MD5), raw, progress=False)
    assert path == raw / "archive.tgz"
    assert path.read_bytes() == PAYLOAD
    assert leftovers(raw) == ["archive.tgz"]
    assert server.requests[0]["range"] is None


def test_resume_after_cut_connection(server, tmp_path):
    server.cut_after = 300_000
    raw = tmp_path / "raw"
    path = fetch(Source(server.url, "archive.tgz", PAYLOAD_MD5), raw, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert len(server.requests) == 2
    assert server.requests[1]["range"] == "bytes=300000-"
    assert leftovers(raw) == ["archive.tgz"]


def test_resume_existing_part_file(server, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "archive.tgz.part").write_bytes(PAYLOAD[:1234])
    path = fetch(Source(server.url, "archive.tgz", PAYLOAD_MD5), raw, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert server.requests[0]["range"] == "bytes=1234-"


def test_complete_part_file_gets_416_and_is_used(server, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "archive.tgz.part").write_bytes(PAYLOAD)
    path = fetch(Source(server.url, "archive.tgz", PAYLOAD_MD5), raw, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert leftovers(raw) == ["archive.tgz"]


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    server.cut_after = 300_000
    server.ignore_range = True
    raw = tmp_path / "raw"
    path = fetch(Source(server.url, "archive.tgz", PAYLOAD_MD5), raw, progress=False)
    assert path.read_bytes() == PAYLOAD  # not the first 300000 bytes twice
    assert server.requests[1]["range"] == "bytes=300000-"


def test_checksum_mismatch(server, tmp_path):
    raw = tmp_path / "raw"
    wrong = "0" * 32
    with pytest.raises(DownloadError) as err:
        fetch(Source(server.url, "archive.tgz", wrong), raw, progress=False)
    msg = str(err.value)
    assert wrong in msg and PAYLOAD_MD5 in msg and "archive.tgz" in msg and server.url in msg
    assert leftovers(raw) == []


def test_500_then_success(server, tmp_path):
    server.fail_500 = 2
    raw = tmp_path / "raw"
    path = fetch(Source(server.url, "archive.tgz", PAYLOAD_MD5), raw, retries=3, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert len(server.requests) == 3


def test_persistent_500(server, tmp_path):
    server.fail_500 = -1
    raw = tmp_path / "raw"
    with pytest.raises(DownloadError) as err:
        fetch(Source(server.url, "archive.tgz", PAYLOAD_MD5), raw, retries=2, progress=False)
    assert "500" in str(err.value) and "archive.tgz" in str(err.value)
    assert len(server.requests) == 3  # first try + 2 retries
    assert not (raw / "archive.tgz").exists()


def test_404_fails_at_once(server, tmp_path):
    server.status = 404
    with pytest.raises(DownloadError) as err:
        fetch(Source(server.url, "archive.tgz", PAYLOAD_MD5), tmp_path, retries=3, progress=False)
    assert "404" in str(err.value)
    assert len(server.requests) == 1


def test_preplaced_file_used_without_network(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "archive.tgz").write_bytes(PAYLOAD)
    path = fetch(Source(closed_port_url(), "archive.tgz", PAYLOAD_MD5), raw, progress=False)
    assert path.read_bytes() == PAYLOAD


def test_preplaced_file_with_wrong_md5(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "archive.tgz").write_bytes(b"something else")
    with pytest.raises(DownloadError) as err:
        fetch(Source(closed_port_url(), "archive.tgz", PAYLOAD_MD5), raw, progress=False)
    msg = str(err.value)
    assert "archive.tgz" in msg and PAYLOAD_MD5 in msg
    assert hashlib.md5(b"something else").hexdigest() in msg
    assert "Delete it" in msg and "replace it" in msg


def test_offline_error_message(tmp_path):
    raw = tmp_path / "raw"
    url = closed_port_url()
    with pytest.raises(DownloadError) as err:
        fetch(Source(url, "archive.tgz", PAYLOAD_MD5), raw, progress=False)
    msg = str(err.value)
    assert "archive.tgz" in msg and str(raw) in msg and "by hand" in msg and url in msg


def test_no_md5_warns_with_computed_md5(server, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="t2igan.data.download"):
        path = fetch(Source(server.url, "archive.tgz", None), tmp_path, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert PAYLOAD_MD5 in caplog.text


def test_md5sum_chunks(tmp_path):
    f = tmp_path / "f"
    f.write_bytes(PAYLOAD * 3)
    assert md5sum(f) == hashlib.md5(PAYLOAD * 3).hexdigest()


def test_follows_a_redirect(server, tmp_path):
    server.redirect = True
    path = fetch(Source(server.url, "archive.tgz", PAYLOAD_MD5), tmp_path, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert [r["path"] for r in server.requests] == ["/files/archive.tgz", "/moved/archive.tgz"]


def test_a_stalled_answer_times_out_and_is_retried(server, tmp_path):
    server.stall_s = 2.0
    path = fetch(Source(server.url, "archive.tgz", PAYLOAD_MD5), tmp_path, timeout=0.3, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert len(server.requests) == 2


def test_a_resume_answered_with_the_wrong_range_starts_again(server, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "archive.tgz.part").write_bytes(PAYLOAD[:5000])
    server.bad_range = True
    path = fetch(Source(server.url, "archive.tgz", PAYLOAD_MD5), raw, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert [r["range"] for r in server.requests] == ["bytes=5000-", None]
    assert leftovers(raw) == ["archive.tgz"]


def test_no_content_length(server, tmp_path):
    server.no_length = True
    path = fetch(Source(server.url, "archive.tgz", PAYLOAD_MD5), tmp_path, progress=False)
    assert path.read_bytes() == PAYLOAD


@pytest.mark.parametrize("retry_after", ["0", None])
def test_429_is_retried_after_what_the_server_asks(server, tmp_path, monkeypatch, retry_after):
    waits = []
    monkeypatch.setattr(download.time, "sleep", waits.append)
    server.too_many, server.retry_after = 2, retry_after
    path = fetch(Source(server.url, "archive.tgz", PAYLOAD_MD5), tmp_path, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert len(server.requests) == 3
    # the server's 0 s, else the exponential back-off
    assert waits == ([0.0, 0.0] if retry_after == "0" else [0.01, 0.02])


def test_retry_after_in_seconds_or_as_a_date():
    assert download._retry_after("120") == 120.0
    assert download._retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert download._retry_after("soon") is None and download._retry_after(None) is None


def test_giving_up_names_no_part_file_that_is_not_there(server, tmp_path):
    server.fail_500 = -1
    with pytest.raises(DownloadError) as err:
        fetch(Source(server.url, "archive.tgz", PAYLOAD_MD5), tmp_path / "raw", retries=1, progress=False)
    assert ".part" not in str(err.value) and "500" in str(err.value)


def test_a_cut_download_that_gives_up_names_its_part_file(server, tmp_path):
    server.cut_after, raw = 1000, tmp_path / "raw"
    with pytest.raises(DownloadError, match=r"1000 bytes kept in .*archive\.tgz\.part"):
        fetch(Source(server.url, "archive.tgz", PAYLOAD_MD5), raw, retries=0, progress=False)


HTML = b"\n<!DOCTYPE html>\n<html><head><title>Quota exceeded</title></head><body>Too many users</body></html>\n"


def test_an_html_page_is_refused_and_not_saved(server, tmp_path):
    server.payload = HTML
    raw = tmp_path / "raw"
    with pytest.raises(DownloadError, match="HTML page instead of archive.tgz"):
        fetch(Source(server.url, "archive.tgz", None), raw, progress=False)
    assert leftovers(raw) == []


def test_a_saved_html_page_is_named(tmp_path):
    (tmp_path / "archive.tgz").write_bytes(HTML)
    with pytest.raises(DownloadError, match=r"archive\.tgz is an HTML page.*Delete it"):
        fetch(Source(closed_port_url(), "archive.tgz", None), tmp_path, progress=False)


def test_an_unpinned_download_is_checked_against_its_first_md5(server, tmp_path):
    raw = tmp_path / "raw"
    fetch(Source(server.url, "archive.tgz", None), raw, progress=False)
    assert (raw / "archive.tgz.md5").read_text().strip() == PAYLOAD_MD5
    assert fetch(Source(closed_port_url(), "archive.tgz", None), raw, progress=False).read_bytes() == PAYLOAD
    (raw / "archive.tgz").write_bytes(PAYLOAD[:-1])  # damaged later (a disk, a hand)
    with pytest.raises(DownloadError, match=r"recorded in .*archive\.tgz\.md5 when it was first fetched"):
        fetch(Source(closed_port_url(), "archive.tgz", None), raw, progress=False)
    (raw / "archive.tgz").unlink()  # deleted alone: the download is checked against the record
    server.payload = PAYLOAD + b"changed upstream"
    with pytest.raises(DownloadError, match=r"expected md5 .* \(recorded in .*at its first download\)"):
        fetch(Source(server.url, "archive.tgz", None), raw, progress=False)
    assert leftovers(raw) == ["archive.tgz.md5"]


def test_a_hand_placed_unpinned_file_is_recorded_at_first_use(tmp_path):
    (tmp_path / "archive.tgz").write_bytes(PAYLOAD)
    fetch(Source(closed_port_url(), "archive.tgz", None), tmp_path, progress=False)
    assert (tmp_path / "archive.tgz.md5").read_text().strip() == PAYLOAD_MD5


# --------------------------------------------------------------------------- gdown
def test_gdown_via_local_url(server, tmp_path):
    raw = tmp_path / "raw"
    source = Source(server.url, "text.tar.gz", PAYLOAD_MD5, via="gdown")
    path = fetch(source, raw, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert leftovers(raw) == ["text.tar.gz"]


def test_gdown_checksum_mismatch(server, tmp_path):
    raw = tmp_path / "raw"
    source = Source(server.url, "text.tar.gz", "1" * 32, via="gdown")
    with pytest.raises(DownloadError, match="1{32}"):
        fetch(source, raw, progress=False)
    assert leftovers(raw) == []


def test_gdown_404(server, tmp_path):
    server.status = 404
    source = Source(server.url, "text.tar.gz", PAYLOAD_MD5, via="gdown")
    with pytest.raises(DownloadError) as err:
        fetch(source, tmp_path / "raw", retries=0, progress=False)
    assert "text.tar.gz" in str(err.value) and "by hand" in str(err.value)


def test_gdown_offline(tmp_path):
    source = Source(closed_port_url(), "text.tar.gz", PAYLOAD_MD5, via="gdown")
    with pytest.raises(DownloadError) as err:
        fetch(source, tmp_path / "raw", retries=0, progress=False)
    assert "by hand" in str(err.value) and str(tmp_path / "raw") in str(err.value)


# --------------------------------------------------------------------------- extract
def make_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], mode="w:gz") -> Path:
    with tarfile.open(path, mode) as tf:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    return path


def file_info(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def link_info(name: str, target: str, kind=tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def assert_clean(parent: Path, archive_name: str):
    assert sorted(p.name for p in parent.iterdir()) == [archive_name]


def test_extract_tgz(tmp_path):
    archive = make_tar(
        tmp_path / "a.tgz",
        [
            (file_info("top/x.txt"), b"x"),
            (file_info("top/sub/y.txt"), b"yy"),
            (link_info("top/link", "sub/y.txt"), None),
        ],
    )
    dest = extract(archive, tmp_path / "out", progress=False)
    assert (dest / "top" / "x.txt").read_bytes() == b"x"
    assert (dest / "top" / "sub" / "y.txt").read_bytes() == b"yy"
    assert (dest / "top" / "link").read_bytes() == b"yy"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tgz", "out"]


@pytest.mark.parametrize(
    "member, why",
    [
        ((file_info("../evil"), b"!"), ".."),
        ((file_info("ok/../../evil"), b"!"), ".."),
        ((file_info("/abs/evil"), b"!"), "absolute"),
        ((link_info("innocent", "/etc"), None), "/etc"),
        ((link_info("innocent", "../../etc/passwd"), None), "outside"),
        ((link_info("hard", "../outside", tarfile.LNKTYPE), None), "outside"),
    ],
)
def test_extract_rejects_unsafe_tar(tmp_path, member, why):
    archive = make_tar(tmp_path / "bad.tar.gz", [(file_info("fine.txt"), b"ok"), member])
    with pytest.raises(DataFormatError) as err:
        extract(archive, tmp_path / "out", progress=False)
    assert "bad.tar.gz" in str(err.value) and why in str(err.value)
    assert member[0].name in str(err.value)
    assert_clean(tmp_path, "bad.tar.gz")
    assert not (tmp_path.parent / "evil").exists()


def test_extract_rejects_write_through_symlinked_dir(tmp_path):
    outside = tmp_path / "outside"
    archive = make_tar(
        tmp_path / "bad.tar",
        [(link_info("d", "."), None), (link_info("d2", "d/.."), None), (file_info("d2/x"), b"!")],
        mode="w",
    )
    with pytest.raises(DataFormatError):
        extract(archive, outside / "out", progress=False)
    assert not (outside / "x").exists()


def test_extract_rejects_device_file(tmp_path):
    dev = tarfile.TarInfo("null")
    dev.type = tarfile.CHRTYPE
    dev.devmajor, dev.devminor = 1, 3
    archive = make_tar(tmp_path / "dev.tgz", [(dev, None)])
    with pytest.raises(DataFormatError, match="device"):
        extract(archive, tmp_path / "out", progress=False)
    assert_clean(tmp_path, "dev.tgz")


def test_extract_zip_and_zip_traversal(tmp_path):
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("top/a.txt", "a")
    assert (extract(good, tmp_path / "out", progress=False) / "top" / "a.txt").read_text() == "a"

    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    bad = bad_dir / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("ok.txt", "fine")
        zf.writestr("../../evil.txt", "evil")
    with pytest.raises(DataFormatError) as err:
        extract(bad, bad_dir / "out", progress=False)
    assert "bad.zip" in str(err.value) and "../../evil.txt" in str(err.value)
    assert_clean(bad_dir, "bad.zip")
    assert not (tmp_path / "evil.txt").exists()


def test_extract_zip_absolute_path(tmp_path):
    bad = tmp_path / "abs.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr(zipfile.ZipInfo("/etc/evil"), "evil")
    with pytest.raises(DataFormatError, match="absolute"):
        extract(bad, tmp_path / "out", progress=False)


def test_extract_is_atomic(tmp_path):
    dest = tmp_path / "out"
    good = make_tar(tmp_path / "v1.tgz", [(file_info("v1.txt"), b"1")])
    extract(good, dest, progress=False)
    # A bad archive leaves the old extraction untouched ...
    bad = make_tar(tmp_path / "bad.tgz", [(file_info("v2.txt"), b"2"), (file_info("../evil"), b"!")])
    with pytest.raises(DataFormatError):
        extract(bad, dest, progress=False)
    assert sorted(p.name for p in dest.iterdir()) == ["v1.txt"]
    # ... so does a truncated one.
    truncated = tmp_path / "trunc.tgz"
    full = make_tar(tmp_path / "big.tgz", [(file_info("big.bin"), os.urandom(200_000))])
    truncated.write_bytes(full.read_bytes()[:50_000])
    with pytest.raises(DataFormatError, match="trunc.tgz"):
        extract(truncated, dest, progress=False)
    assert sorted(p.name for p in dest.iterdir()) == ["v1.txt"]
    # A good one replaces it completely.
    v2 = make_tar(tmp_path / "v2.tgz", [(file_info("v2.txt"), b"2")])
    extract(v2, dest, progress=False)
    assert sorted(p.name for p in dest.iterdir()) == ["v2.txt"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_extract_not_an_archive(tmp_path):
    f = tmp_path / "data.bin"
    f.write_bytes(b"just bytes")
    with pytest.raises(DataFormatError, match="data.bin"):
        extract(f, tmp_path / "out", progress=False)


# --------------------------------------------------------------------------- weights files (SHA-256 pinned)
def _pretrained(url: str, digest: str):
    from t2igan.weights import Pretrained

    return Pretrained("fid_inception", "weights-test.pth", digest, url, "a test network")


def test_a_weights_file_is_downloaded_resumed_checked_and_linked(server, tmp_path):
    """stage fetch_weights' download: by the project's downloader (resuming a cut connection),
    checked against the SHA-256 prefix torch hub names pin, then linked into models/weights."""
    from t2igan import weights

    server.cut_after = 300_000
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    entry = weights.place(_pretrained(server.url, digest[:8]), tmp_path / "weights", tmp_path / "raw")
    assert (tmp_path / "weights" / "weights-test.pth").read_bytes() == PAYLOAD
    assert (tmp_path / "raw" / "weights-test.pth").read_bytes() == PAYLOAD   # kept for the next run, offline
    assert entry == {"file": "weights-test.pth", "sha256": digest, "random": False,
                     "source": f"downloaded from {server.url}"}
    assert [r["range"] for r in server.requests] == [None, "bytes=300000-"]
    assert not (tmp_path / "raw" / "weights-test.pth.md5").exists()   # the SHA-256 is the pin: no md5 recorded
    # a second run finds it in data/raw and never asks the network
    server.requests.clear()
    again = weights.place(_pretrained(server.url, digest[:8]), tmp_path / "weights2", tmp_path / "raw")
    assert again["source"] == f"hand-placed at {tmp_path / 'raw' / 'weights-test.pth'}" and server.requests == []


def test_a_weights_download_with_the_wrong_sha256_is_deleted(server, tmp_path):
    from t2igan import weights

    with pytest.raises(weights.WeightsError, match="expected a SHA-256 starting 00000000"):
        weights.place(_pretrained(server.url, "00000000"), tmp_path / "weights", tmp_path / "raw")
    assert leftovers(tmp_path / "raw") == [] and not (tmp_path / "weights").exists()


def test_missing_weights_offline_name_the_file_its_checksum_and_both_places(tmp_path, monkeypatch):
    import torch

    from t2igan import weights

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(weights.WeightsError) as err:
        weights.place(_pretrained(closed_port_url(), "1234abcd"), tmp_path / "weights", tmp_path / "raw")
    message = str(err.value)
    assert "weights-test.pth (SHA-256 starting 1234abcd; a test network) is missing" in message
    assert str(tmp_path / "raw" / "weights-test.pth") in message
    assert str(tmp_path / "hub" / "checkpoints" / "weights-test.pth") in message
    # placed by hand in the torch hub cache: used as it is, after the check
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / "weights-test.pth").write_bytes(b"weights")
    good = hashlib.sha256(b"weights").hexdigest()
    entry = weights.place(_pretrained(closed_port_url(), good[:8]), tmp_path / "weights", tmp_path / "raw")
    assert entry["sha256"] == good and (tmp_path / "weights" / "weights-test.pth").read_bytes() == b"weights"
    with pytest.raises(weights.WeightsError, match="does not start with the expected 1234abcd"):
        weights.place(_pretrained(closed_port_url(), "1234abcd"), tmp_path / "w3", tmp_path / "raw")
