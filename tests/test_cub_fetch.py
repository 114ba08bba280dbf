"""prepare_cub() end to end on tiny fake archives served from 127.0.0.1."""

from __future__ import annotations

import functools
import hashlib
import io
import socket
import tarfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from t2igan.config import CubSources, Source
from t2igan.data import download
from t2igan.data.cub_fetch import prepare_cub
from t2igan.errors import DataFormatError, DownloadError

CLASSES = ["001.Black_footed_Albatross", "002.Laysan_Albatross"]
IMAGES = {
    CLASSES[0]: ["Black_Footed_Albatross_0001_796111", "Black_Footed_Albatross_0002_55"],
    CLASSES[1]: ["Laysan_Albatross_0001_545"],
}
CUB_TABLES = [
    "images.txt",
    "image_class_labels.txt",
    "train_test_split.txt",
    "bounding_boxes.txt",
    "classes.txt",
    "parts/parts.txt",
    "parts/part_locs.txt",
    "attributes/image_attribute_labels.txt",
]

EXPECTED = sorted(
    [f"CUB_200_2011/{t}" for t in CUB_TABLES]
    + ["CUB_200_2011/attributes/attributes.txt"]
    + [f"CUB_200_2011/images/{c}/{i}.jpg" for c, ims in IMAGES.items() for i in ims]
    + [f"text_c10/{c}/{i}.txt" for c, ims in IMAGES.items() for i in ims]
    + ["trainvalclasses.txt", "testclasses.txt", "allclasses.txt"]
)


def build_tar(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def fake_cub_files(*, drop: str | None = None, attributes_inside: bool = False) -> dict[str, bytes]:
    files = {f"CUB_200_2011/{t}": f"{t}\n".encode() for t in CUB_TABLES}
    for c, ims in IMAGES.items():
        for i in ims:
            files[f"CUB_200_2011/images/{c}/{i}.jpg"] = b"\xff\xd8fake jpeg " + i.encode()
        files[f"CUB_200_2011/images/{c}/._{ims[0]}.jpg"] = b"mac junk"
    files["CUB_200_2011/README"] = b"readme"
    files["CUB_200_2011/attributes/certainties.txt"] = b"1 not visible\n"
    files["CUB_200_2011/parts/part_click_locs.txt"] = b"1 1 0 0 0 0\n"
    files["._CUB_200_2011"] = b"mac junk"
    if attributes_inside:
        files["CUB_200_2011/attributes/attributes.txt"] = b"1 has_bill_shape::curved\n"
    else:
        files["attributes.txt"] = b"1 has_bill_shape::curved\n"  # as in the real tgz
    if drop:
        files.pop(drop)
    return files


def fake_reed_files(*, drop: str | None = None, top: str = "reed/cvpr2016_cub") -> dict[str, bytes]:
    files = {}
    for c, ims in IMAGES.items():
        for i in ims:
            files[f"{top}/text_c10/{c}/{i}.txt"] = b"a bird\n" * 10
            files[f"{top}/text_c10/{c}/{i}.h5"] = b"not text"
            files[f"{top}/word_c10/{c}.t7"] = b"torch"
    files[f"{top}/trainvalclasses.txt"] = f"{CLASSES[0]}\n".encode()
    files[f"{top}/testclasses.txt"] = f"{CLASSES[1]}\n".encode()
    files[f"{top}/allclasses.txt"] = "\n".join(CLASSES).encode() + b"\n"
    files[f"{top}/trainclasses.txt"] = f"{CLASSES[0]}\n".encode()
    files[f"__MACOSX/{top}/._trainvalclasses.txt"] = b"junk"
    if drop:
        files.pop(f"{top}/{drop}")
    return files


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    monkeypatch.setattr(download, "RETRY_BACKOFF_S", 0.01)


@pytest.fixture
def served(tmp_path):
    """A static file server over tmp_path/srv; yields (folder, base url)."""
    folder = tmp_path / "srv"
    folder.mkdir()

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def closed_port_url(name: str) -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


def sources_for(folder: Path, base: str, cub_files=None, reed_files=None) -> CubSources:
    cub = build_tar(folder / "CUB_200_2011.tgz", cub_files or fake_cub_files())
    reed = build_tar(folder / "cvpr2016_cub.tar.gz", reed_files or fake_reed_files())
    return CubSources(
        images=Source(f"{base}/CUB_200_2011.tgz", "CUB_200_2011.tgz", md5(cub), "http"),
        text=Source(f"{base}/cvpr2016_cub.tar.gz", "cvpr2016_cub.tar.gz", md5(reed), "gdown"),
    )


def test_prepare_cub_end_to_end(served, tmp_path):
    folder, base = served
    sources = sources_for(folder, base)
    raw, out = tmp_path / "raw", tmp_path / "data" / "cub"
    assert prepare_cub(sources, raw, out, progress=False) == out
    assert tree(out) == EXPECTED
    assert (out / "CUB_200_2011/attributes/attributes.txt").read_bytes().startswith(b"1 has_bill")
    assert (out / "testclasses.txt").read_text() == f"{CLASSES[1]}\n"
    assert sorted(p.name for p in raw.iterdir()) == ["CUB_200_2011.tgz", "cvpr2016_cub.tar.gz"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["cub"]  # no temp folders left

    # Running again (archives now local, server gone) rebuilds the same layout in place.
    offline = CubSources(
        images=Source(closed_port_url("a.tgz"), sources.images.file, sources.images.md5),
        text=Source(closed_port_url("b.tgz"), sources.text.file, sources.text.md5, "gdown"),
    )
    (out / "stale.txt").write_text("old")
    prepare_cub(offline, raw, out, progress=False)
    assert tree(out) == EXPECTED
    assert sorted(p.name for p in out.parent.iterdir()) == ["cub"]


def test_prepare_cub_attributes_inside_and_flat_text_archive(served, tmp_path):
    folder, base = served
    sources = sources_for(
        folder,
        base,
        cub_files=fake_cub_files(attributes_inside=True),
        reed_files=fake_reed_files(top="text_only"),
    )
    out = prepare_cub(sources, tmp_path / "raw", tmp_path / "out", progress=False)
    assert tree(out) == EXPECTED


@pytest.mark.parametrize(
    "drop, archive, named",
    [
        ("CUB_200_2011/parts/part_locs.txt", "CUB_200_2011.tgz", "parts/part_locs.txt"),
        ("attributes.txt", "CUB_200_2011.tgz", "attributes/attributes.txt"),
        ("CUB_200_2011/images.txt", "CUB_200_2011.tgz", "images.txt"),
        ("testclasses.txt", "cvpr2016_cub.tar.gz", "testclasses.txt"),
    ],
)
def test_prepare_cub_missing_file(served, tmp_path, drop, archive, named):
    folder, base = served
    if archive == "CUB_200_2011.tgz":
        sources = sources_for(folder, base, cub_files=fake_cub_files(drop=drop))
    else:
        sources = sources_for(folder, base, reed_files=fake_reed_files(drop=drop))
    out = tmp_path / "data" / "cub"
    with pytest.raises(DataFormatError) as err:
        prepare_cub(sources, tmp_path / "raw", out, progress=False)
    assert archive in str(err.value) and named in str(err.value)
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_prepare_cub_missing_text_c10(served, tmp_path):
    folder, base = served
    reed = {k: v for k, v in fake_reed_files().items() if "/text_c10/" not in k}
    sources = sources_for(folder, base, reed_files=reed)
    with pytest.raises(DataFormatError, match="text_c10"):
        prepare_cub(sources, tmp_path / "raw", tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_prepare_cub_offline_names_both_ways_out(tmp_path):
    sources = CubSources(
        images=Source(closed_port_url("CUB_200_2011.tgz"), "CUB_200_2011.tgz", "0" * 32),
        text=Source(closed_port_url("x"), "cvpr2016_cub.tar.gz", None, "gdown"),
    )
    with pytest.raises(DownloadError) as err:
        prepare_cub(sources, tmp_path / "raw", tmp_path / "out", progress=False)
    assert "CUB_200_2011.tgz" in str(err.value) and "by hand" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_allclasses_is_not_required(served, tmp_path):
    """The reader uses trainvalclasses.txt and testclasses.txt only; allclasses.txt is kept if present."""
    folder, base = served
    sources = sources_for(folder, base, reed_files=fake_reed_files(drop="allclasses.txt"))
    out = prepare_cub(sources, tmp_path / "raw", tmp_path / "out", progress=False)
    assert tree(out) == [p for p in EXPECTED if p != "allclasses.txt"]


def test_a_broken_unpinned_archive_says_to_delete_it_and_its_record(served, tmp_path):
    """An HTML-free but truncated captions archive with no pinned md5: extraction fails, and the
    message says that the saved file (and its recorded md5) must go for a new download."""
    folder, base = served
    sources = sources_for(folder, base)
    reed = folder / "cvpr2016_cub.tar.gz"
    reed.write_bytes(reed.read_bytes()[:200])  # truncated on the server
    unpinned = CubSources(images=sources.images, text=Source(sources.text.url, sources.text.file, None, "gdown"))
    raw = tmp_path / "raw"
    with pytest.raises(DataFormatError) as err:
        prepare_cub(unpinned, raw, tmp_path / "out", progress=False)
    msg = str(err.value)
    assert msg.startswith(f"{raw / 'cvpr2016_cub.tar.gz'}: ") and "truncated" in msg
    assert f"delete it (and {raw / 'cvpr2016_cub.tar.gz.md5'}) to download it again" in msg
    assert not (tmp_path / "out").exists()


def _extract_by_hand(raw: Path) -> dict[str, bytes]:
    """The fake archives' members written under ``raw`` as a user would extract them; returns them."""
    files = {**fake_cub_files(), **fake_reed_files()}
    for name, data in files.items():
        (raw / name).parent.mkdir(parents=True, exist_ok=True)
        (raw / name).write_bytes(data)
    return files


def test_a_hand_extracted_tree_in_raw_dir_is_used_offline_and_left_as_it_was(tmp_path):
    raw = tmp_path / "raw"
    files = _extract_by_hand(raw)
    offline = CubSources(images=Source(closed_port_url("a.tgz"), "CUB_200_2011.tgz", "0" * 32),
                         text=Source(closed_port_url("b.tgz"), "cvpr2016_cub.tar.gz", None, "gdown"))
    out = prepare_cub(offline, raw, tmp_path / "data" / "birds", progress=False)
    assert tree(out) == EXPECTED  # junk, .h5 and .t7 files left out
    assert (out / "CUB_200_2011/attributes/attributes.txt").read_bytes().startswith(b"1 has_bill")
    assert tree(raw) == sorted(files)  # nothing moved, deleted or added
    assert all((raw / name).read_bytes() == data for name, data in files.items())
    assert sorted(p.name for p in out.parent.iterdir()) == ["birds"]


def test_dvc_repro_uses_a_tree_extracted_into_data_raw(tmp_path):
    """Issue 21, item 1: the user's tree is outside every output, so `dvc repro` cannot delete it."""
    import shutil
    import subprocess
    import sys

    import yaml

    root = Path(__file__).resolve().parents[1]
    work = tmp_path / "project"
    for folder in ("stages", "src"):  # the stage's command and its dependencies
        shutil.copytree(root / folder, work / folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(root / "dvc.yaml", work / "dvc.yaml")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["dataset"] = "cub"
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    files = _extract_by_hand(work / "data" / "raw")
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=work, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "config", "core.analytics", "false"], cwd=work, check=True)
    run = subprocess.run([sys.executable, "-m", "dvc", "repro", "data"], cwd=work, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert tree(work / "data" / "birds") == EXPECTED
    assert tree(work / "data" / "raw") == sorted(files)
