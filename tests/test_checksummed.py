"""Checksummed training checkpoints: damage is detected and the previous checkpoint used."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import settings
import torch

from t2igan.train import checkpoint, checksummed, gan

SRC = Path(__file__).resolve().parents[1] / "src"


def _two_saves(tmp_path) -> Path:
    path = tmp_path / "checkpoint.pt"
    checksummed.save(path, {"epoch": 1, "w": torch.arange(1000.0)})
    checksummed.save(path, {"epoch": 2, "w": torch.arange(1000.0) * 2})
    return path


def test_save_keeps_the_previous_and_load_verifies(tmp_path):
    path = _two_saves(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.prev.pt", "checkpoint.pt"]
    state = checksummed.load(path)
    assert state["epoch"] == 2 and torch.equal(state["w"], torch.arange(1000.0) * 2)
    assert checksummed.load(tmp_path / "nothing.pt") is None


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "empty"])
def test_a_damaged_checkpoint_falls_back_to_the_previous_with_a_warning(tmp_path, capsys, damage):
    path = _two_saves(tmp_path)
    data = bytearray(path.read_bytes())
    if damage == "flip a byte":
        data[len(data) // 2] ^= 0xFF
    elif damage == "truncate":
        data = data[:len(data) - 100]
    else:
        data = b""
    path.write_bytes(bytes(data))
    state = checksummed.load(path)
    assert state["epoch"] == 1
    err = capsys.readouterr().err
    assert f"warning: {path}: " in err
    assert f"resuming from the previous checkpoint {tmp_path / 'checkpoint.prev.pt'}" in err
    if damage != "empty":
        assert "checksum does not match" in err


def test_both_damaged_is_an_error_naming_both(tmp_path):
    path = _two_saves(tmp_path)
    for p in (path, checksummed.previous(path)):
        p.write_bytes(p.read_bytes()[:-1])
    with pytest.raises(checksummed.CheckpointError, match=r"checkpoint.pt: its checksum.*prev.pt: its checksum"):
        checksummed.load(path)


def test_killed_between_the_two_renames_leaves_the_previous(tmp_path, capsys):
    path = _two_saves(tmp_path)
    path.unlink()  # the state after "current -> previous" and before "new -> current"
    assert checksummed.load(path)["epoch"] == 1
    assert "missing; resuming from the previous checkpoint" in capsys.readouterr().err


def test_a_checkpoint_written_before_checksums_still_loads(tmp_path):
    torch.save({"epoch": 7}, tmp_path / "old.pt")
    assert checksummed.load(tmp_path / "old.pt") == {"epoch": 7}


def test_sigkill_mid_write_leaves_the_last_good_checkpoint(tmp_path):
    """A real SIGKILL half-way through the second save: the first stays; the next save clears the debris."""
    path = tmp_path / "checkpoint.pt"
    script = ("import sys, torch; from t2igan.train import checksummed as c; p = sys.argv[1]; "
              "c.save(p, {'epoch': 1, 'w': torch.ones(10000)}); c.save(p, {'epoch': 2, 'w': torch.zeros(10000)})")
    proc = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(SRC), T2IGAN_KILL_IN_CHECKPOINT="2"))
    assert proc.returncode == -9  # SIGKILL
    stray = [p for p in os.listdir(tmp_path) if p.startswith(".checkpoint.pt.tmp-")]
    assert len(stray) == 1 and (tmp_path / stray[0]).stat().st_size > 20_000  # half of the new one
    assert checksummed.load(path)["epoch"] == 1
    checksummed.save(path, {"epoch": 3})
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.prev.pt", "checkpoint.pt"]


def test_gan_training_resumes_from_the_previous_checkpoint_and_ends_identical(tiny, capsys):
    """Corrupt the latest checkpoint of a 2-epoch run, ask for 3 epochs: it warns, resumes after
    epoch 1 from the previous file, and ends bit-identical to a straight 3-epoch run."""
    prepared, damsm_dir, tmp = tiny
    s = settings.gan(epochs=2)
    gan.train(prepared, damsm_dir, tmp / "hurt", s, progress=False)
    ckpt = tmp / "hurt" / "checkpoint.pt"
    data = bytearray(ckpt.read_bytes())
    data[-5000] ^= 0x01  # one bit, deep in the tensors
    ckpt.write_bytes(bytes(data))
    capsys.readouterr()
    three = dataclasses.replace(s, epochs=3)
    gan.train(prepared, damsm_dir, tmp / "hurt", three, progress=False)
    out = capsys.readouterr()
    assert "checksum does not match" in out.err and "resuming after epoch 1" in out.out
    gan.train(prepared, damsm_dir, tmp / "straight", three, progress=False)
    a, b = (checkpoint.load(tmp / d / "generator.pt")["state"] for d in ("straight", "hurt"))
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name", ["text_encoder.pt", "image_encoder.pt"])
def test_a_damaged_damsm_encoder_is_named_not_a_torch_traceback(tiny, name):
    """Every model file is checksummed (issue 21): a truncated encoder is an error naming it."""
    from t2igan.train import damsm

    _, damsm_dir, _ = tiny
    damsm.load_encoders(damsm_dir)  # whole: loads
    path = damsm_dir / name
    data = path.read_bytes()
    path.write_bytes(data[:len(data) - 1000])
    with pytest.raises(checksummed.CheckpointError, match=rf"{path}: damaged: its checksum does not match"):
        damsm.load_encoders(damsm_dir)


def test_final_model_files_are_checksummed_and_keep_no_previous(tmp_path):
    path = tmp_path / "evaluator.pt"
    checkpoint.save(path, {"w": torch.arange(10.0)})
    checkpoint.save(path, {"w": torch.arange(10.0) * 3})
    assert os.listdir(tmp_path) == ["evaluator.pt"] and path.read_bytes().startswith(checksummed.MAGIC)
    assert torch.equal(checkpoint.load(path)["w"], torch.arange(10.0) * 3)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(checksummed.CheckpointError, match="damaged"):
        checkpoint.load(path)
    assert checkpoint.load(tmp_path / "none.pt") is None


def test_a_damaged_damsm_checkpoint_resumes_from_the_previous(tiny, capsys):
    """The DAMSM's resumable checkpoint keeps the one before, like the GAN's."""
    from t2igan.train import damsm

    prepared, _, tmp = tiny
    s = settings.damsm(epochs=2)
    damsm.train(prepared, tmp / "d", s, progress=False)
    ckpt = tmp / "d" / "checkpoint.pt"
    assert checksummed.previous(ckpt).is_file()
    data = bytearray(ckpt.read_bytes())
    data[-2000] ^= 0x01
    ckpt.write_bytes(bytes(data))
    capsys.readouterr()
    damsm.train(prepared, tmp / "d", dataclasses.replace(s, epochs=3), progress=False)
    out = capsys.readouterr()
    assert "checksum does not match" in out.err and "resuming after epoch 1" in out.out


def test_a_damsm_checkpoint_from_other_code_is_not_resumed(tiny, monkeypatch, capsys):
    """The DAMSM's checkpoint carries the package's code digest, as the GANs' and baselines' do."""
    from t2igan import source
    from t2igan.train import damsm

    prepared, _, tmp = tiny
    s = settings.damsm()
    damsm.train(prepared, tmp / "d", s, progress=False)
    monkeypatch.setattr(source, "fingerprint", lambda: "other code")
    capsys.readouterr()
    damsm.train(prepared, tmp / "d", dataclasses.replace(s, epochs=2), progress=False)
    out = capsys.readouterr().out
    assert "training from scratch" in out and "resuming" not in out


class _Payload:
    """Unpickling this runs code: what a hostile `--checkpoint` file would hold."""

    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


@pytest.mark.parametrize("legacy", [False, True])
def test_a_file_holding_python_objects_is_refused_without_running_them(tmp_path, monkeypatch, legacy):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "generator.pt"
    if legacy:  # a bare torch.save, as files were written before checksums
        torch.save({"state": {}, "x": _Payload()}, path)
    else:
        checkpoint.save(path, {"state": {}, "x": _Payload()})
    with pytest.raises(checksummed.CheckpointError, match=rf"{path}: it holds Python objects .* refused"):
        checkpoint.load(path)
    assert not (tmp_path / "pwned.txt").exists()


def test_the_streamed_file_is_magic_digest_payload(tmp_path):
    """save streams torch.save's bytes and fills the digest slot last: the digest is the payload's."""
    import hashlib
    import io as bytes_io

    checksummed.save(tmp_path / "c.pt", {"w": torch.arange(5000.0), "epoch": 4})
    data = (tmp_path / "c.pt").read_bytes()
    head = len(checksummed.MAGIC)
    assert data[:head] == checksummed.MAGIC
    assert data[head:head + 32] == hashlib.sha256(data[head + 32:]).digest()
    state = torch.load(bytes_io.BytesIO(data[head + 32:]), weights_only=True)
    assert state["epoch"] == 4 and torch.equal(state["w"], torch.arange(5000.0))
