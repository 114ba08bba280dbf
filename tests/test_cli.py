"""The `t2igan` command on tiny trained models: sample grids, attention maps, references, info, errors."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import settings
import yaml
from PIL import Image

from t2igan import cli
from t2igan.data.refs import crop_refs
from t2igan.train import gan

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A params.yaml whose outputs point at a tiny AttnGAN and a tiny RaGAN v1, one epoch each."""
    from conftest import prepare_with_damsm, write_cub

    tmp = tmp_path_factory.mktemp("cli")
    prepared = prepare_with_damsm(write_cub(tmp / "birds"), tmp)
    crop_refs(tmp / "birds", tmp / "prep", tmp / "refs", patch_size=20, seed=0, progress=False)
    gan.train(prepared, tmp / "damsm", tmp / "models" / "attngan", settings.gan(), progress=False)
    gan.train(prepared, tmp / "damsm", tmp / "models" / "ragan_v1",
              settings.gan("ragan_v1", "ragan",
                           {"version": 1, "lambda2": 1.0, "ref_blocks": True, "reference_species": "same"}),
              data_dirs={"crop_refs": tmp / "refs"}, progress=False)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["preprocess"]["out_dir"] = str(tmp / "prep")
    params["damsm"]["out_dir"] = str(tmp)  # the DAMSM is <out_dir>/damsm
    params["train"]["out_dir"] = str(tmp / "models")
    params["crop_refs"]["out_dir"] = str(tmp / "refs")
    params["crop_refs"]["patch_size"] = 20
    (tmp / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return tmp


def _sample(trained, *args: str) -> tuple[int, str, str]:
    """Run `t2igan --params ... sample ...` in a fresh process; (exit code, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "t2igan.cli", "--params", str(trained / "params.yaml"), "sample",
                           *args], capture_output=True, text=True, cwd=trained)
    return proc.returncode, proc.stdout, proc.stderr


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def test_sample_writes_a_grid_of_the_right_size_and_a_seed_repeats_it(trained):
    out = trained / "a.png"
    code, stdout, stderr = _sample(trained, "--variant", "attngan", "--text", "a small red bird with black wings",
                                   "-n", "5", "-o", str(out), "--seed", "3")
    assert code == 0, stderr
    cell = cli.grid_cell(32)  # 32 px images enlarged 4x
    assert cell == 128
    with Image.open(out) as img:
        assert img.size == (5 * (cell + 2) + 2, cell + 2 + 2) and img.mode == "RGB"
    assert "attngan, epoch 1" in stdout
    grid = _pixels(out)
    cells = [grid[2:2 + cell, 2 + k * (cell + 2):2 + k * (cell + 2) + cell] for k in range(5)]
    assert all(c.std() > 0 for c in cells) and not np.array_equal(cells[0], cells[1])  # n different birds

    again, other = trained / "b.png", trained / "c.png"
    assert _sample(trained, "--variant", "attngan", "--text", "a small red bird with black wings", "-n", "5",
                   "-o", str(again), "--seed", "3")[0] == 0
    assert np.array_equal(_pixels(again), grid)
    assert _sample(trained, "--variant", "attngan", "--text", "a small red bird with black wings", "-n", "5",
                   "-o", str(other), "--seed", "4")[0] == 0
    assert not np.array_equal(_pixels(other), grid)


def test_nine_images_wrap_onto_a_second_row_and_attention_maps_are_written(trained):
    out = trained / "nine.png"
    code, stdout, stderr = _sample(trained, "--variant", "attngan", "--text", "this bird has a red crown",
                                   "-n", "9", "-o", str(out), "--attention")
    assert code == 0, stderr
    cell = cli.grid_cell(32)
    with Image.open(out) as img:
        assert img.size == (8 * (cell + 2) + 2, 2 * (cell + 2) + 2)
    assert np.all(_pixels(out)[cell + 4:2 * cell + 4, 2 + cell + 2:] == 255)  # the rest of row 2 is blank
    maps = sorted(trained.glob("nine.attention-*.png"))
    assert len(maps) == 9 and all(p.stat().st_size > 1000 for p in maps)


def test_unknown_words_are_named_and_ignored(trained):
    code, _, stderr = _sample(trained, "--variant", "attngan", "--text", "a red bird with zorbly wings and flimp",
                              "-n", "2", "-o", str(trained / "u.png"))
    assert code == 0 and "unknown words, ignored: zorbly, flimp" in stderr


@pytest.mark.parametrize("args, message", [
    (["--text", "   "], "--text '   ' has no words"),
    (["--text", "zorbly flimp"], "--text: none of its words is in the vocabulary (zorbly, flimp)"),
    (["--text", "red", "--checkpoint", "nowhere/generator.pt"], "nowhere/generator.pt: no trained generator"),
    (["--text", "red", "--variant", "bogus"], "--variant 'bogus': no such entry under `variants`"),
    (["--text", "red", "-n", "0"], "-n 0: give at least 1 image"),
    (["--text", "red", "-o", "out.jpg"], "-o out.jpg: the grid is written as PNG"),
    (["--text", "red", "--reference", "patch.png"], "--reference: attngan takes no input 'reference' (its inputs: "),
    (["--text", "red", "--input", "patch.png"], "--input patch.png: write NAME=FILE"),
    (["--text", "red", "-n", "100000"], "-n 100000: at most 1024 images per grid"),
    (["--text", "red", "--seed", "-1"], "--seed -1: give a whole number from 0 to 2^63 - 1"),
    (["--text", "red", "-o", "a_dir.png"], "-o a_dir.png: is a directory; give a file name"),
    (["--text", "red", "-o", "params.yaml/birds.png"], "-o params.yaml/birds.png: params.yaml is a file, not a dir"),
])
def test_bad_input_is_a_clear_error_and_a_nonzero_exit(trained, args, message):
    (trained / "a_dir.png").mkdir(exist_ok=True)
    args = ["--variant", "attngan", *args] if "--variant" not in args else args
    code, stdout, stderr = _sample(trained, *args)
    assert code == 1 and f"error: {message}" in stderr and "Traceback" not in stderr


def test_a_long_text_names_each_unknown_word_once_with_its_count(trained):
    text = " ".join(["a red bird"] + ["zorbly flimp"] * 500 + [f"w{i}x" for i in range(30)])
    code, _, stderr = _sample(trained, "--variant", "attngan", "--text", text, "-n", "1", "-o", str(trained / "l.png"))
    assert code == 0
    warning = next(line for line in stderr.splitlines() if line.startswith("unknown words"))
    assert warning.startswith("unknown words, ignored: zorbly (x500), flimp (x500), w0x, w1x")
    assert warning.endswith("and 12 more distinct words") and stderr.count("zorbly") == 1


def test_an_unwritable_output_is_a_clear_error(trained, monkeypatch, capsys):
    """A read-only file system (here: os.replace refusing, as EROFS does) is named, with no traceback."""
    import errno
    import os

    def refuse(*_):
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.chdir(trained)
    monkeypatch.setattr(os, "replace", refuse)
    code = cli.main(["--params", str(trained / "params.yaml"), "sample", "--variant", "attngan", "--text", "red",
                     "-n", "1", "-o", str(trained / "ro.png")])
    assert code == 1 and "ro.png: cannot be written (Permission denied)" in capsys.readouterr().err
    assert not (trained / "ro.png").exists()


def test_a_training_checkpoint_is_not_taken_for_a_generator(trained):
    code, _, stderr = _sample(trained, "--variant", "attngan", "--text", "red bird",
                              "--checkpoint", str(trained / "models" / "attngan" / "checkpoint.pt"))
    assert code == 1 and "checkpoint.pt: " in stderr and "Traceback" not in stderr


def test_a_truncated_generator_is_reported_as_damaged(trained, tmp_path):
    good = (trained / "models" / "attngan" / "generator.pt").read_bytes()
    cut = tmp_path / "generator.pt"
    cut.write_bytes(good[:len(good) // 2])
    code, _, stderr = _sample(trained, "--variant", "attngan", "--text", "red bird", "--checkpoint", str(cut))
    assert code == 1 and "Traceback" not in stderr
    assert f"{cut}: damaged: its checksum does not match" in stderr
    assert "not a generator written by training" not in stderr


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


def test_a_pickle_that_would_run_code_is_refused(trained, tmp_path):
    """`sample --checkpoint some.pkl`: files are loaded weights_only, so nothing in them runs (issue 22)."""
    import torch

    bad = tmp_path / "some.pkl"
    torch.save({"state": {}, "settings": _RunsCode(), "epoch": 1}, bad)
    code, _, stderr = _sample(trained, "--variant", "attngan", "--text", "red bird", "--checkpoint", str(bad))
    assert code == 1 and "Traceback" not in stderr
    assert f"{bad}: it holds Python objects besides tensors and plain values; refused" in stderr
    assert not (trained / "pwned.txt").exists()  # _sample runs in `trained`


def test_ragan_takes_a_reference_patch_and_rejects_wrong_ones(trained):
    rng = np.random.default_rng(0)
    good = trained / "patch.png"
    Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(good)
    black = trained / "black.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(black)
    for name, image in [("small.png", Image.new("RGB", (16, 20))), ("grey.png", Image.new("L", (20, 20))),
                        ("rgba.png", Image.new("RGBA", (20, 20)))]:
        image.save(trained / name)
    (trained / "text.png").write_text("not an image")
    text = ["--variant", "ragan_v1", "--text", "a red bird with a white belly", "-n", "3"]
    for path, message in [("small.png", "small.png: 16 x 20 pixels; the model takes 20 x 20 images"),
                          ("grey.png", "grey.png: mode L; the model takes RGB images"),
                          ("rgba.png", "rgba.png: mode RGBA; the model takes RGB images"),
                          ("text.png", "text.png: not a readable image"),
                          ("missing.png", "missing.png: no such file")]:
        code, _, stderr = _sample(trained, *text, "--reference", str(trained / path), "-o", str(trained / "r.png"))
        assert code == 1 and f"--reference {trained / message}" in stderr, stderr
    assert _sample(trained, *text, "--reference", str(good), "-o", str(trained / "r1.png"))[0] == 0
    assert _sample(trained, *text, "--input", f"reference={black}", "-o", str(trained / "r2.png"))[0] == 0
    code, _, stderr = _sample(trained, *text, "-o", str(trained / "r3.png"))
    assert code == 0 and "no --input reference=FILE: using the reference of test caption row" in stderr
    assert not np.array_equal(_pixels(trained / "r1.png"), _pixels(trained / "r2.png"))  # the patch is used


def test_info_lists_every_model_with_what_is_known(trained, monkeypatch, capsys):
    monkeypatch.chdir(trained)  # reports/ is read relative to the project root
    (trained / "reports" / "attngan").mkdir(parents=True)
    (trained / "reports" / "attngan" / "train.json").write_text(json.dumps({"epochs": 1}))
    (trained / "reports" / "attngan" / "metrics.json").write_text(json.dumps(  # n/a metrics are left out
        {"fid": 123.456, "is": 2.5, "kid": 3.25, "r_precision_evaluator_damsm": 0.125}))
    assert cli.main(["--params", str(trained / "params.yaml"), "info", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    params = yaml.safe_load((trained / "params.yaml").read_text())
    assert set(rows) == set(params["variants"]) | set(params["baselines"])
    assert rows["attngan"] == {"name": "attngan", "kind": "variant", "trained": True, "epochs": 1, "fid": 123.456,
                               "is": 2.5, "kid": 3.25, "r_precision_damsm": None, "r_precision_evaluator_damsm": 0.125,
                               "attribute_accuracy": None}  # every table metric of the registry
    assert rows["ragan_v1"]["trained"] and rows["ragan_v1"]["epochs"] is None  # no train.json beside it
    assert not rows["dualattngan"]["trained"] and rows["dcgan"]["kind"] == "baseline"
    assert cli.main(["--params", str(trained / "params.yaml"), "info"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert lines["model"].split() == ["model", "kind", "trained", "epochs", "FID", "IS", "KID", "R-prec"]
    assert lines["attngan"].split() == ["attngan", "variant", "yes", "1", "123.5", "2.50", "3.25", "0.125"]
    assert lines["dualattngan"].split() == ["dualattngan", "variant", "no"] + ["-"] * 5
    assert len({len(lines[k]) for k in ("model", "attngan", "dualattngan")}) == 1  # the columns line up


def test_help_reads_well():
    proc = subprocess.run([sys.executable, "-m", "t2igan.cli", "sample", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    for flag in ("--variant", "--text", "-n", "--output", "--reference", "--seed", "--checkpoint", "--attention"):
        assert flag in proc.stdout


def test_a_missing_model_says_whether_a_dvc_remote_can_supply_it(trained):
    """No remote: say so and how to add one (`dvc pull` would only fail); a remote: pull from it."""
    args = ("--variant", "ragan_v0", "--text", "red", "-o", str(trained / "m.png"))  # never trained here
    code, _, stderr = _sample(trained, *args)
    assert code == 1 and "ragan_v0/generator.pt: no trained generator" in stderr
    assert "No DVC remote is configured" in stderr and "dvc remote add -d storage <url>" in stderr
    assert "`dvc repro train@ragan_v0`" in stderr and "Traceback" not in stderr
    (trained / ".dvc").mkdir()
    try:
        (trained / ".dvc" / "config").write_text('[core]\n    remote = lab\n[\'remote "lab"\']\n    url = /mnt/x\n')
        code, _, stderr = _sample(trained, *args)
        assert code == 1 and "from the default remote 'lab'" in stderr
        assert f"`dvc pull {trained / 'models' / 'ragan_v0' / 'generator.pt'}`" in stderr
    finally:
        shutil.rmtree(trained / ".dvc")


def test_a_missing_damsm_is_named_before_any_loading(trained, tmp_path):
    params = yaml.safe_load((trained / "params.yaml").read_text())
    params["damsm"]["out_dir"] = str(tmp_path)  # no damsm/ there
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    proc = subprocess.run([sys.executable, "-m", "t2igan.cli", "--params", str(tmp_path / "params.yaml"), "sample",
                           "--variant", "attngan", "--text", "red", "-o", str(tmp_path / "x.png")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"{tmp_path / 'damsm' / 'text_encoder.pt'}: missing" in proc.stderr and "pretrain_damsm" in proc.stderr
