import os

import numpy as np
import pytest

from t2igan import io


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "out.json"
    io.write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with io.atomic_write(target, "w") as fh:
            fh.write('{"a": 2, "half')
            raise RuntimeError("crash mid-write")
    assert target.read_text() == '{\n  "a": 1\n}\n'
    assert os.listdir(tmp_path) == ["out.json"]  # no temp file left


def test_disk_full_leaves_nothing(tmp_path, monkeypatch):
    real_fsync = os.fsync

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(io.WriteError, match=r"x.npy: could not be written \(No space left on device\); nothing"):
        io.save_npy(tmp_path / "x.npy", np.zeros(10))
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert os.listdir(tmp_path) == []


# A real failure of the operating system mid-write: a 64 KiB file-size limit (RLIMIT_FSIZE, with
# SIGXFSZ ignored so that write() fails with EFBIG instead of killing the process), as a full disk
# fails a write half-way.  Each writer must raise a clear error and leave the old output whole.
_LIMITED = """
import resource, signal, sys
import numpy as np
import torch
from t2igan import io
from t2igan.train import checksummed
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
out, what = sys.argv[1], sys.argv[2]
big = np.ones((200, 200), dtype=np.float64)  # 320 kB
try:
    if what == "npy":
        io.save_npy(out + "/a.npy", big)
    elif what == "set":
        io.write_image_set(out + "/set", np.arange(20), 64, {}, lambda im: im.__setitem__(slice(None), 7))
    else:
        checksummed.save(out + "/checkpoint.pt", {"w": torch.from_numpy(big)})
except io.WriteError as exc:
    print(exc)
    sys.exit(3)
"""


@pytest.mark.parametrize("what, target", [("npy", "a.npy"), ("set", "set"), ("checkpoint", "checkpoint.pt")])
def test_a_write_failing_half_way_raises_and_keeps_the_old_output(tmp_path, what, target):
    import subprocess
    import sys
    from pathlib import Path

    import torch

    from t2igan.train import checksummed

    io.save_npy(tmp_path / "a.npy", np.zeros(3))
    io.write_image_set(tmp_path / "set", np.arange(2), 8, {}, lambda im: im.__setitem__(slice(None), 1))
    checksummed.save(tmp_path / "checkpoint.pt", {"w": torch.zeros(3)})
    before = {p.name: (p.read_bytes() if p.is_file() else sorted(os.listdir(p))) for p in tmp_path.iterdir()}
    src = Path(__file__).resolve().parents[1] / "src"
    proc = subprocess.run([sys.executable, "-c", _LIMITED, str(tmp_path), what], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(src)))
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.startswith(f"{tmp_path / target}: could not be written (")
    assert "File too large" in proc.stdout or "written: is the disk full?" in proc.stdout  # numpy reports its own
    assert "nothing was written there and any earlier version is kept" in proc.stdout
    after = {p.name: (p.read_bytes() if p.is_file() else sorted(os.listdir(p))) for p in tmp_path.iterdir()}
    assert after == before  # no temporary file, no half file, the old output untouched


def test_atomic_dir_swaps_whole_directory(tmp_path):
    target = tmp_path / "d"
    with io.atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("1")
    assert (target / "a.txt").read_text() == "1"
    with pytest.raises(KeyError):
        with io.atomic_dir(target) as tmp:
            (tmp / "b.txt").write_text("2")
            raise KeyError("crash")
    assert sorted(os.listdir(target)) == ["a.txt"]
    assert os.listdir(tmp_path) == ["d"]
    with io.atomic_dir(target) as tmp:
        (tmp / "c.txt").write_text("3")
    assert sorted(os.listdir(target)) == ["c.txt"] and os.listdir(tmp_path) == ["d"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_written_files_and_directories_honour_the_umask(tmp_path, umask):
    """Atomic outputs get the modes a plain open() / mkdir would give them, not the temp file's 0600."""
    old = os.umask(umask)
    try:
        io.write_json(tmp_path / "a.json", {"x": 1})
        io.save_npy(tmp_path / "b.npy", np.zeros(3))
        with io.atomic_dir(tmp_path / "set") as d:
            (d / "images.npy").write_bytes(b"")
        with open(tmp_path / "plain", "w"):
            pass
        (tmp_path / "plain_dir").mkdir()
    finally:
        os.umask(old)
    assert os.umask(old) == old  # the umask is put back after every write
    expected_file, expected_dir = 0o666 & ~umask, 0o777 & ~umask
    for name in ("a.json", "b.npy", "plain"):
        assert (tmp_path / name).stat().st_mode & 0o777 == expected_file, name
    for name in ("set", "plain_dir"):
        assert (tmp_path / name).stat().st_mode & 0o777 == expected_dir, name


def test_image_sets_are_written_in_order_and_read_back_a_slice_at_a_time(tmp_path):
    """write_image_set writes front to back with plain writes; StoredImages reads any slice of it
    without a memory map, exactly as np.load does."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (11, 6, 6, 3), dtype=np.uint8)

    def fill(images):
        for i in range(0, 11, 4):
            images[i:i + 4] = x[i:i + 4]

    io.write_image_set(tmp_path / "set", np.arange(11), 6, {"epoch": 3}, fill)
    assert np.array_equal(np.load(tmp_path / "set" / "images.npy"), x)
    stored = io.StoredImages(tmp_path / "set" / "images.npy")
    assert len(stored) == 11 and stored.shape == (11, 6, 6, 3) and stored.size == x.size
    for sl in (slice(0, 3), slice(4, 11), slice(9, 100), slice(None)):
        assert np.array_equal(stored[sl], x[sl])
    with pytest.raises(TypeError, match="slices"):
        stored[3]

    def out_of_order(images):
        images[4:8] = x[4:8]

    with pytest.raises(ValueError, match="in order: expected rows from 0"):
        io.write_image_set(tmp_path / "set", np.arange(11), 6, {}, out_of_order)

    def short(images):
        images[0:5] = x[:5]

    with pytest.raises(ValueError, match="5 of 11 images written"):
        io.write_image_set(tmp_path / "set", np.arange(11), 6, {}, short)
    assert np.array_equal(np.load(tmp_path / "set" / "images.npy"), x)  # the failed writes left it whole


def test_stored_images_refuse_what_is_not_a_set_and_name_a_truncated_file(tmp_path):
    np.save(tmp_path / "floats.npy", np.zeros((2, 4, 4, 3), np.float32))
    with pytest.raises(io.WriteError, match="floats.npy: not a stored image set"):
        io.StoredImages(tmp_path / "floats.npy")
    np.save(tmp_path / "set.npy", np.zeros((4, 4, 4, 3), np.uint8))
    data = (tmp_path / "set.npy").read_bytes()
    (tmp_path / "set.npy").write_bytes(data[:-10])
    stored = io.StoredImages(tmp_path / "set.npy")
    assert stored[0:2].shape == (2, 4, 4, 3)
    with pytest.raises(io.WriteError, match=r"truncated \(images 2..4 of 4"):
        stored[2:4]


def test_a_set_larger_than_the_free_disk_stops_before_writing(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**10, 10**10 - 2 * 10**6, 2 * 10**6))
    with pytest.raises(io.DiskFullError, match=r"needs 0\.01 GB but .* has 0\.00 GB free"):
        io.write_image_set(tmp_path / "set", np.arange(1000), 64, {}, lambda images: None)
    assert not (tmp_path / "set").exists() and list(tmp_path.iterdir()) == []
    io.check_free_disk(tmp_path / "not" / "yet", 10**6, "a small set")  # fits; a missing folder is fine
