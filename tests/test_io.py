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
    with pytest.raises(OSError, match="No space left"):
        io.save_npy(tmp_path / "x.npy", np.zeros(10))
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert os.listdir(tmp_path) == []


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
