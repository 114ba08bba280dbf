"""End to end: `dvc repro` of the data stages at tiny scale in a fresh git repository."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import assert_same, committed_params, make_project, run_ok

from t2igan.train import checkpoint, checksummed, guard

ROOT = Path(__file__).resolve().parents[1]


_run = run_ok


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A copy of the project (code, stages, dvc.yaml, params at tiny scale) as its own git+DVC repo."""
    params = committed_params()
    params["scale"] = "tiny"
    return make_project(tmp_path_factory.mktemp("project"), params)


def test_repro_crop_refs_then_nothing_to_do(project):
    work, env, dvc = project
    _run(dvc + ["repro", "crop_refs"], work, env)
    stats = json.loads((work / "reports/data/stats.json").read_text())
    assert stats["images"] == 400 and stats["classes"] == 200
    assert stats["classes_train"] == 150 and stats["classes_test"] == 50
    images = np.load(work / "data/prepared/images.npy", mmap_mode="r")
    assert images.shape == (400, 38, 38, 3)
    assert (work / "reports/data/contact_sheet.png").is_file()
    refs = np.load(work / "data/refs/refs.npz")
    assert refs["assignment_same"].shape == refs["assignment_any"].shape == (4000,)
    lock = yaml.safe_load((work / "dvc.lock").read_text())
    assert set(lock["stages"]) == {"validate_params", "data", "preprocess", "crop_refs"}
    assert lock["stages"]["data"]["params"]["params.yaml"]["tiny.synthetic_images"] == 400
    out = _run(dvc + ["repro", "crop_refs"], work, env)
    for stage in ("validate_params", "data", "preprocess", "crop_refs"):
        assert f"Stage '{stage}' didn't change, skipping" in out
    assert "Running stage" not in out


def test_changing_every_runtime_setting_reruns_no_stage(project):
    """`runtime` is how the machine runs the stages: dvc sees nothing to do after changing all of it."""
    work, env, dvc = project
    original = (work / "params.yaml").read_text()
    params = yaml.safe_load(original)
    params["runtime"] = {"device": "cpu", "workers": 8, "loader_workers": 4, "gpus": 2, "compile": True,
                         "generate_batch": 7}
    try:
        (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        assert "Data and pipelines are up to date" in _run(dvc + ["status", "crop_refs"], work, env)
        assert "Running stage" not in _run(dvc + ["repro", "crop_refs"], work, env)
    finally:
        (work / "params.yaml").write_text(original)


def _set(tree: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for k in parents:
        tree = tree[k]
    if value is _DELETE:
        del tree[last]
    else:
        tree[last] = value


_DELETE = object()


@pytest.mark.parametrize("dotted, value, needle", [
    ("data.on_bad_image", "ignore", "data.on_bad_image: 'ignore' is not allowed; use one of 'error', 'skip'"),
    ("variants.bogus", {"model": "nope"}, "variants.bogus.model: 'nope' is not a known model"),
    ("train.lr_d", -0.001, "train.lr_d: -0.001 is below the minimum 0.0"),
    ("tiny.damsm_epochs", _DELETE, "tiny.damsm_epochs"),
    ("lambda", "five", "lambda: expected a number, got 'five'"),
    ("lambda", float("nan"), "lambda: nan is not a finite number"),
    ("train.lr_g", float("inf"), "train.lr_g: inf is not a finite number"),
    ("tiny.gan_batch_size", 0, "tiny.gan_batch_size: 0 is below the minimum 2"),
])
def test_bad_params_stop_the_stage_naming_the_key(project, dotted, value, needle):
    """Bad params make `dvc repro` fail at validate_params, naming the key, before any other stage
    runs: the outputs of earlier runs (the data stages' here) are left as they were."""
    work, env, dvc = project
    _run(dvc + ["repro", "preprocess"], work, env)
    before = {p: p.stat().st_mtime_ns for p in (work / "data").rglob("*") if p.is_file()}
    assert any("prepared" in p.parts for p in before)
    original = (work / "params.yaml").read_text()
    params = yaml.safe_load(original)
    _set(params, dotted, value)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        proc = subprocess.run(dvc + ["repro", "pretrain_damsm"], cwd=work, env=env, capture_output=True, text=True)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0
        assert needle in out
        assert "Running stage 'validate_params'" in out
        assert [line for line in out.splitlines() if line.startswith("Running stage")] == \
            ["Running stage 'validate_params':"]
        assert not (work / "models").exists()
        assert {p: p.stat().st_mtime_ns for p in (work / "data").rglob("*") if p.is_file()} == before
    finally:
        (work / "params.yaml").write_text(original)


def test_corrupt_inputs_are_named_through_the_pipeline(project):
    """A broken image and a broken caption file in the data set: `dvc repro preprocess` stops,
    naming the file (and the line); with them mended, nothing is left to compute."""
    work, env, dvc = project
    birds = work / "data" / "birds"
    image = sorted((birds / "CUB_200_2011" / "images").rglob("*.jpg"))[3]
    captions = sorted((birds / "text_c10").rglob("*.txt"))[5]
    for victim, damage, needle in [
        (image, lambda b: b[:len(b) // 3], f"{image.relative_to(work)}: corrupt or truncated image"),
        (captions, lambda b: b.replace(b"\n", b"\n\xff\xfe bad bytes\n", 1), f"{captions.relative_to(work)}:2:"),
    ]:
        good = victim.read_bytes()
        victim.chmod(0o644)
        victim.write_bytes(damage(good))
        try:
            proc = subprocess.run(dvc + ["repro", "-s", "preprocess"], cwd=work, env=env, capture_output=True,
                                  text=True)
            assert proc.returncode != 0 and needle in proc.stdout + proc.stderr, proc.stdout + proc.stderr
        finally:
            victim.write_bytes(good)
    out = _run(dvc + ["repro", "-s", "preprocess"], work, env)
    assert "Running stage" not in out  # DVC removed the failed stage's outputs; its run cache restores them
    assert (work / "data/prepared/images.npy").is_file()


def test_a_stage_whose_output_cannot_be_written_fails_clearly_and_keeps_the_old(project):
    """The preprocess stage under a 1 MB file-size limit (as on a full disk): a clear error naming
    its output, which is left as it was."""
    import resource
    import signal

    work, env, dvc = project
    before = _digest_dir(work / "data" / "prepared")

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    proc = subprocess.run([sys.executable, "stages/preprocess.py"], cwd=work, env=env, capture_output=True, text=True,
                          preexec_fn=limit)
    assert proc.returncode == 1, proc.stderr
    assert "error: data/prepared: could not be written (File too large)" in proc.stderr
    assert _digest_dir(work / "data" / "prepared") == before
    assert not [p for p in (work / "data").iterdir() if p.name.startswith(".")]  # no temporary directory left


def _digest_dir(path: Path) -> dict[str, str]:
    import hashlib

    return {str(p.relative_to(path)): hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(path.rglob("*"))
            if p.is_file()}


# `-f -s`: run the stage itself, not its run-cache entry (each test's project has one by then)
FORCE = ["repro", "-f", "-s"]


def _kill_in_epoch_2_and_resume(project, stage: str, scratch: str, batch_size: int) -> None:
    """Start ``stage`` afresh, SIGKILL it 5 steps into epoch 2, then `dvc repro` it to the end.
    ``scratch``: the stage's resume/ folder, which the kill leaves and the success removes."""

    work, env, dvc = project
    shutil.rmtree(work / scratch, ignore_errors=True)
    steps_per_epoch = 300 // batch_size  # tiny: 300 training images
    killed = subprocess.run(dvc + FORCE + [stage], cwd=work, capture_output=True, text=True,
                            env=dict(env, T2IGAN_KILL_AT_STEP=str(steps_per_epoch + 5)))
    assert killed.returncode != 0
    state = checksummed.load(work / scratch / "checkpoint.pt")
    assert len(state["history"]) == 1  # the kill came mid-way through epoch 2
    assert "resuming after epoch 1" in _run(dvc + FORCE + [stage], work, env)
    assert not (work / scratch).exists()  # removed once the stage succeeded


def _weights(path):
    return checkpoint.load(path)["state"]


def test_damsm_killed_mid_epoch_resumes_bit_identical(project):
    """SIGKILL the DAMSM stage in its second epoch; `dvc repro` again ends with the same weights."""
    import torch

    work, env, dvc = project
    _run(dvc + ["repro", "pretrain_damsm"], work, env)
    metrics = json.loads((work / "reports/damsm/metrics.json").read_text())
    run = json.loads((work / "reports/damsm/run.json").read_text())
    assert run["epochs"] == 2 and 0 <= metrics["r_precision_shuffled"] < 0.1
    clean = {name: _weights(work / f"models/damsm/{name}.pt") for name in ("text_encoder", "image_encoder")}
    curves = (work / "reports/damsm/live/plots/metrics/train/w0.tsv").read_text()

    _kill_in_epoch_2_and_resume(project, "pretrain_damsm", "resume/pretrain_damsm@damsm", batch_size=16)
    for name, tensors in clean.items():
        resumed = _weights(work / f"models/damsm/{name}.pt")
        assert tensors.keys() == resumed.keys()
        for key in tensors:
            assert torch.equal(tensors[key], resumed[key]), f"{name}.{key} differs after resume"
    assert (work / "reports/damsm/live/plots/metrics/train/w0.tsv").read_text() == curves


def test_attngan_trains_generates_and_resumes_bit_identical(project):
    """`dvc repro generate@attngan` at tiny scale; then SIGKILL training four times, twice while it
    writes a checkpoint; it ends bit-identical."""

    work, env, dvc = project
    scratch = work / "resume/train@attngan"
    keep = dict(env, T2IGAN_KEEP_RESUME="1")  # the resumable checkpoint is compared, so kept after success
    _run(dvc + ["repro", "generate@attngan"], work, keep)
    train = json.loads((work / "reports/attngan/train.json").read_text())
    assert train["epochs"] == 2 and train["images_per_s"] > 0
    final = np.load(work / "data/generated/attngan/final/images.npy", mmap_mode="r")
    rows = np.load(work / "data/generated/attngan/final/caption_rows.npy")
    assert final.shape == (1000, 32, 32, 3) and len(np.unique(rows)) == 1000  # 100 test images x 10 captions
    assert sorted(d.name for d in (work / "data/generated/attngan").iterdir()) == ["final"]  # snapshots: not stored
    assert (work / "reports/attngan/generated.png").is_file()
    assert (work / "reports/attngan/samples/epoch_0002.png").is_file()
    assert len(list((work / "reports/attngan/attention").glob("caption_*.png"))) == 4
    clean = checksummed.load(scratch / "checkpoint.pt")
    assert sorted(p.name for p in (work / "models/attngan").iterdir()) == ["generator.pt", "snapshots"]
    curves = (work / "reports/attngan/live/plots/metrics/g/adv.tsv").read_text()
    grids = {p.name: p.read_bytes() for p in (work / "reports/attngan/samples").glob("*.png")}
    assert sorted(grids) == ["epoch_0001.png", "epoch_0002.png"]

    generator = (work / "models/attngan/generator.pt").read_bytes()
    kills = _kill_repeatedly_then_finish(project, "train@attngan", "resume/train@attngan", steps_per_epoch=300 // 8)
    assert kills == 4
    resumed = checksummed.load(scratch / "checkpoint.pt")
    for key in ("G", "Ds", "G_ema", "opt_g", "opt_d"):
        assert_same(clean[key], resumed[key], key)
    assert [h["d_total"] for h in clean["history"]] == [h["d_total"] for h in resumed["history"]]
    assert (work / "reports/attngan/live/plots/metrics/g/adv.tsv").read_text() == curves
    # the grid of epoch 1 was drawn by a run killed later in epoch 2: it survives the resume (issue 21)
    assert {p.name: p.read_bytes() for p in (work / "reports/attngan/samples").glob("*.png")} == grids

    assert (work / "models/attngan/generator.pt").read_bytes() == generator

    # a run that stops after training (here forced; in life, e.g. a full disk while publishing) keeps its
    # scratch; the next run reuses the finished checkpoint: its outputs again without training
    report = (work / "reports/attngan/train.json").read_text()
    (work / "reports/attngan/samples/epoch_0002.png").unlink()
    out = _run(dvc + FORCE + ["train@attngan"], work, env)
    assert "the run it holds is finished (same code, settings and inputs): writing its outputs again" in out
    assert "epoch 1:" not in out and "epoch 2:" not in out  # no epoch was trained
    assert not scratch.exists()  # removed once the stage succeeded (T2IGAN_KEEP_RESUME unset)
    assert (work / "models/attngan/generator.pt").read_bytes() == generator
    assert (work / "reports/attngan/train.json").read_text() == report
    assert (work / "reports/attngan/live/plots/metrics/g/adv.tsv").read_text() == curves
    assert {p.name: p.read_bytes() for p in (work / "reports/attngan/samples").glob("*.png")} == grids

    # outputs deleted, nothing changed: DVC's run cache gives them back (no stage output is `persist`)
    shutil.rmtree(work / "models/attngan")
    shutil.rmtree(work / "reports/attngan/samples")
    out = _run(dvc + ["repro", "train@attngan"], work, env)
    assert "Stage 'train@attngan' is cached - skipping run, checking out outputs" in out, out
    assert (work / "models/attngan/generator.pt").read_bytes() == generator
    assert {p.name: p.read_bytes() for p in (work / "reports/attngan/samples").glob("*.png")} == grids


def test_killing_dvc_stops_its_trainer_and_a_second_trainer_is_refused(project):
    """kill -9 of `dvc repro` takes its trainer (dvc -> torchrun -> stages/train.py) down within
    seconds, and while that trainer runs a second one on its folder refuses, naming its pid."""
    work, env, dvc = project
    shutil.rmtree(work / "resume/train@attngan", ignore_errors=True)  # from scratch: long enough to be caught
    lock = work / "resume/train@attngan" / guard.LOCK_NAME
    run = subprocess.Popen(dvc + FORCE + ["train@attngan"], cwd=work, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (lock.is_file() and lock.read_text().startswith("pid")) and time.monotonic() < deadline:
            time.sleep(0.2)
        holder = int(lock.read_text().split()[1])
        second = subprocess.run([sys.executable, "stages/train.py", "attngan"], cwd=work, env=env,
                                capture_output=True, text=True, timeout=300)
        assert second.returncode == 1 and "Traceback" not in second.stderr
        assert f"another trainer is using this folder (pid {holder} on" in second.stderr
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
        deadline = time.monotonic() + 15
        while guard._proc(holder) is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert guard._proc(holder) is None, "the trainer outlived the dvc that started it"
        report = work / "reports/attngan/train.json"
        time.sleep(2)  # nothing of that run is written after its launcher died
        assert not report.exists() or report.stat().st_mtime < time.time() - 2
    finally:
        if run.poll() is None:
            run.kill()
    out = _run(dvc + FORCE + ["train@attngan"], work, env)  # the next run takes the folder over
    assert "another trainer" not in out and (work / "models/attngan/generator.pt").is_file()


def _kill_repeatedly_then_finish(project, stage: str, scratch: str, steps_per_epoch: int) -> int:
    """From scratch, SIGKILL a 2-epoch ``stage`` four times at random points (seeded) and twice of
    them half-way through writing a checkpoint, each time `dvc repro` again; then let it finish
    (keeping its ``scratch`` folder, resume/<stage>).  Checks what is on disk after every kill;
    returns the number of kills survived."""
    import random

    work, env, dvc = project
    rng = random.Random(2026)
    ckpt = work / scratch / "checkpoint.pt"
    shutil.rmtree(work / scratch)
    # (what kills this process, the epochs the checkpoint holds afterwards).  Steps count from each
    # process's start; the checkpoint written at the end of epoch 1 is a fresh process's first.
    plan = [({"T2IGAN_KILL_AT_STEP": rng.randint(1, steps_per_epoch - 1)}, None),  # in epoch 1
            ({"T2IGAN_KILL_IN_CHECKPOINT": 1}, None),  # writing epoch 1's checkpoint
            ({"T2IGAN_KILL_AT_STEP": steps_per_epoch + rng.randint(1, steps_per_epoch - 1)}, 1),  # in epoch 2
            ({"T2IGAN_KILL_IN_CHECKPOINT": 1}, 1)]  # resumed after epoch 1; writing epoch 2's checkpoint
    for n, (fault, epochs_after) in enumerate(plan, start=1):
        killed = subprocess.run(dvc + FORCE + [stage], cwd=work, capture_output=True, text=True,
                                env=dict(env, **{k: str(v) for k, v in fault.items()}))
        assert killed.returncode != 0, f"kill {n} ({fault}) did not happen"
        state = checksummed.load(ckpt)
        assert (None if state is None else len(state["history"])) == epochs_after, f"after kill {n} ({fault})"
        strays = list(ckpt.parent.glob(".checkpoint.pt.tmp-*"))
        assert len(strays) == ("T2IGAN_KILL_IN_CHECKPOINT" in fault), f"after kill {n}: {strays}"
    out = _run(dvc + FORCE + [stage], work, dict(env, T2IGAN_KEEP_RESUME="1"))
    assert "resuming after epoch 1" in out
    assert not list(ckpt.parent.glob(".checkpoint.pt.tmp-*"))  # the debris of the killed writes is gone
    return len(plan)


def test_score_attngan_with_reference_rows(project):
    """`dvc repro score@attngan` at tiny scale: every score, the reference rows and the curves."""
    work, env, dvc = project
    _run(dvc + ["repro", "score@attngan"], work, env)
    scores = json.loads((work / "reports/attngan/scores.json").read_text())
    for row in ("final", "real", "untrained"):
        s = scores[row]
        assert s["images"] == 1000 and np.isfinite([s["is"], s["fid"], s["kid"]]).all()
        assert 0 <= s["r_precision_damsm"] <= 1 and 0 <= s["attribute_accuracy"] <= 1
        # 100 real test images: the KID subset shrinks, and says so
        assert s["protocol"]["kid_subset_size_used"] == 100 and s["protocol"]["notes"]
    assert scores["real"]["fid"] < 1e-3  # the real reference is the real set itself
    curves = json.loads((work / "reports/attngan/score_epochs.json").read_text())
    assert [c["epoch"] for c in curves] == [1, 2]
    # the last snapshot is the final generator, scored on the final set's first captions; epoch 1's
    # images were generated and scored in the stage, never stored
    assert curves[0]["fid"] != curves[1]["fid"] and np.isfinite([c["fid"] for c in curves]).all()
    record = json.loads((work / "reports/timings/score@attngan.json").read_text())
    assert record["devices"] == {"runtime.device": "cpu"} and record["torch"] and "cpu" in record
    assert record["runtime"]["device"] == "auto" and record["runtime"]["gpus"] == 1  # what it ran with
    assert (work / "reports/attngan/score_epochs.png").is_file()


def test_ragan_v1_through_train_generate_and_score(project):
    """`dvc repro score@ragan_v1` at tiny scale: references in every stage, the black-reference
    set and row, the reference similarities, reference-attention maps."""
    work, env, dvc = project
    _run(dvc + ["repro", "score@ragan_v1"], work, env)
    train = json.loads((work / "reports/ragan_v1/train.json").read_text())
    assert np.isfinite(train["final_g_sim"]) and "final_d_total" in train
    black = np.load(work / "data/generated/ragan_v1/final_black/images.npy", mmap_mode="r")
    final = np.load(work / "data/generated/ragan_v1/final/images.npy", mmap_mode="r")
    assert black.shape == final.shape == (1000, 32, 32, 3)
    assert len(list((work / "reports/ragan_v1/attention").glob("reference_*.png"))) == 4
    scores = json.loads((work / "reports/ragan_v1/scores.json").read_text())
    for row in ("final", "real", "untrained", "black_reference"):
        assert -1 <= scores[row]["reference_similarity"] <= 1 and np.isfinite(scores[row]["fid"])
    assert 0 < scores["final"]["black_reference_change"] <= 1
    assert -1 <= scores["final"]["reference_similarity_shuffled"] <= 1
    assert json.loads(_run(dvc + ["status", "--json", "score@ragan_v1", "--with-deps"], work, env)) == {}
    # `dvc exp run -S variants.ragan_v1.lambda2=5` changes that variant's params and nothing else
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["variants"]["ragan_v1"]["lambda2"] = 5.0
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    status = json.loads(_run(dvc + ["status", "--json", "score@ragan_v1", "--with-deps"], work, env))
    assert set(status) == {"validate_params", "train@ragan_v1"}  # the rest follows once its generator changes
    assert "variants.ragan_v1" in json.dumps(status["train@ragan_v1"])


def test_dfgan_through_train_generate_and_score(project):
    """`dvc repro score@dfgan` at tiny scale: its own loss terms in the curves, an image-and-caption figure
    in place of the attention maps it does not have, every score of a text-conditional model."""
    work, env, dvc = project
    _run(dvc + ["repro", "score@dfgan"], work, env)
    train = json.loads((work / "reports/dfgan/train.json").read_text())
    assert {"final_d_real", "final_d_fake", "final_d_mismatched", "final_d_ma_gp", "final_g_adv"} <= set(train)
    final = np.load(work / "data/generated/dfgan/final/images.npy", mmap_mode="r")
    assert final.shape == (1000, 32, 32, 3) and final.std() > 0
    figures = sorted(p.name for p in (work / "reports/dfgan/attention").iterdir())
    assert figures == [f"captioned_{k}.png" for k in range(4)]
    scores = json.loads((work / "reports/dfgan/scores.json").read_text())
    for row in ("final", "real", "untrained"):
        assert np.isfinite([scores[row]["fid"], scores[row]["is"]]).all()
        assert 0 <= scores[row]["r_precision_evaluator_damsm"] <= 1 and 0 <= scores[row]["attribute_accuracy"] <= 1
    assert scores["final"]["protocol"]["noise"] == "z ~ N(0, I), drawn per caption row from (seed, row)"
    assert "noise" not in scores["real"]["protocol"]  # the real images were not drawn


def test_baselines_through_train_generate_and_score(project):
    """`dvc repro` of an unconditional GAN (text scores "n/a") and of the sentence-conditioned DRAW
    (R-precision computed, DRAW's own metrics, canvases) at tiny scale."""
    work, env, dvc = project
    _run(dvc + ["repro", "score_baseline@wgan_gp", "score_baseline@draw_cond"], work, env)
    for name in ("wgan_gp", "draw_cond"):
        final = np.load(work / f"data/generated/{name}/final/images.npy", mmap_mode="r")
        assert final.shape == (1000, 32, 32, 3)
        figures = work / "reports" / name / "figures"
        assert {"generated.png", "interpolation.png", "interpolation.gif"} <= {p.name for p in figures.iterdir()}
        assert (work / f"reports/{name}/samples/epoch_0001.png").is_file()
    gp = json.loads((work / "reports/wgan_gp/scores.json").read_text())
    for row in ("final", "real", "untrained"):
        assert np.isfinite([gp[row]["is"], gp[row]["fid"], gp[row]["kid"]]).all()
        assert gp[row]["r_precision_damsm"] == gp[row]["attribute_accuracy"] == "n/a"
    assert gp["real"]["fid"] < 1e-3
    draw = json.loads((work / "reports/draw_cond/scores.json").read_text())
    assert 0 <= draw["final"]["r_precision_evaluator_damsm"] <= 1 and 0 <= draw["final"]["attribute_accuracy"] <= 1
    stats = draw["final"]["draw"]
    assert stats["images"] == 100 and len(stats["kl_per_step"]) == stats["latents"] // 16 == 8
    assert (work / "reports/draw_cond/figures/canvas.png").is_file()
    train = json.loads((work / "reports/wgan_gp/train.json").read_text())
    assert {"final_d_gp", "final_d_wasserstein", "final_g_total"} <= set(train)
    # `dvc exp run -S baselines.wgan_gp.gp_lambda=5` re-runs that baseline only
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["baselines"]["wgan_gp"]["gp_lambda"] = 5.0
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = json.loads(_run(dvc + ["status", "--json", "score_baseline@wgan_gp", "score_baseline@draw_cond",
                                    "--with-deps"], work, env))
    assert set(status) == {"validate_params", "train_baseline@wgan_gp"}  # validate_params: any params edit


def test_draw_sweep(project):
    """`dvc repro draw_sweep` at tiny scale with two step counts: one row per count, the figure."""
    work, env, dvc = project
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["draw_sweep"].update(steps=[1, 4], images=50)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _run(dvc + ["repro", "draw_sweep"], work, env)
    sweep = json.loads((work / "reports/draw_sweep/sweep.json").read_text())
    assert [r["steps"] for r in sweep["runs"]] == [1, 4] and [r["z_per_step"] for r in sweep["runs"]] == [128, 32]
    for r in sweep["runs"]:
        assert len(r["variance_law_per_step"]) == r["steps"] and np.isfinite([r["fid"], r["reconstruction_bce"]]).all()
    assert (work / "reports/draw_sweep/sweep.png").is_file()
    assert (work / "models/draw_sweep/steps_04/generator.pt").is_file()


def test_remote_push_then_pull_into_a_fresh_clone_restores_every_output(project, tmp_path):
    """A local-directory DVC remote: `dvc push`, commit, `git clone` elsewhere, `dvc pull`; every
    cached output comes back byte for byte and `dvc repro` of a finished target has nothing to do."""
    import hashlib

    work, env, dvc = project
    _run(dvc + ["remote", "add", "-d", "local", str(tmp_path / "remote")], work, env)
    _run(dvc + ["push"], work, env)
    _run(["git", "add", "-A"], work, env)
    _run(["git", "-c", "user.name=t2igan-test", "-c", "user.email=test@localhost", "commit", "-qm", "run"], work, env)
    clone = tmp_path / "clone"
    _run(["git", "clone", "-q", str(work), str(clone)], tmp_path, env)
    lock = yaml.safe_load((work / "dvc.lock").read_text())
    _run(dvc + ["pull", *lock["stages"]], clone, env)  # the stages this project ran (others have no outputs)
    outs = {o["path"] for stage in lock["stages"].values() for o in stage.get("outs", [])}
    assert {"models/attngan/generator.pt", "data/prepared", "models/damsm/text_encoder.pt"} <= outs

    def digest(root: Path, rel: str) -> str:
        path = root / rel
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        h = hashlib.sha256()
        for f in files:
            h.update(f.relative_to(root).as_posix().encode() + f.read_bytes())
        return h.hexdigest()

    for rel in sorted(outs):
        assert (clone / rel).exists(), f"{rel} not restored"
        assert digest(clone, rel) == digest(work, rel), f"{rel} differs after dvc pull"
    clone_env = dict(env, PYTHONPATH=str(clone / "src"))
    out = _run(dvc + ["repro", "score@attngan"], clone, clone_env)
    assert "Running stage" not in out, out

    # The README's shortcut: a clone that pulls only what `t2igan sample` reads can sample at once.
    sampler = tmp_path / "sampler"
    _run(["git", "clone", "-q", str(work), str(sampler)], tmp_path, env)
    _run(dvc + ["pull", "models/attngan/generator.pt", "models/damsm/text_encoder.pt",
                "models/damsm/image_encoder.pt", "data/prepared"], sampler, env)
    assert not (sampler / "models/dualattngan").exists() and not (sampler / "data/generated").exists()
    _run([sys.executable, "-m", "t2igan.cli", "sample", "--variant", "attngan", "--text", "a red bird", "-n", "2",
          "-o", "birds.png"], sampler, dict(env, PYTHONPATH=str(sampler / "src")))
    assert (sampler / "birds.png").stat().st_size > 0

    # The generator as a registered DVC artifact (a GTO tag on the commit), fetched by name.
    _run(["git", "tag", "-a", "attngan-generator@v0.1.0", "-m", "attngan, tiny"], work, env)
    _run(dvc + ["artifacts", "get", str(work), "attngan-generator", "-o", str(tmp_path / "fetched.pt")], tmp_path, env)
    assert (tmp_path / "fetched.pt").read_bytes() == (work / "models/attngan/generator.pt").read_bytes()


@pytest.mark.slow
def test_going_back_to_a_param_value_restores_it_from_the_run_cache(project):
    """`dvc exp run -S lambda=2`, then back to the committed value, then 2 again: each value trains once;
    going back restores that run's outputs from DVC's run cache instead of training."""
    work, env, dvc = project
    committed = yaml.safe_load((work / "params.yaml").read_text())["lambda"]
    cached = "Stage 'train@attngan' is cached - skipping run, checking out outputs"
    generators = {}
    for n, value in enumerate([2.0, committed, 2.0, committed]):
        out = _run(dvc + ["exp", "run", "train@attngan", "-S", f"lambda={value}"], work, env)
        if n >= 2:  # both values have run before (the committed one possibly in an earlier test)
            assert cached in out and "epoch 1:" not in out, out
        elif value == 2.0:
            assert "epoch 2:" in out and cached not in out, out  # trained
        generator = (work / "models/attngan/generator.pt").read_bytes()
        assert generators.setdefault(value, generator) == generator, f"lambda={value}: another generator"
    assert generators[2.0] != generators[committed]
    assert not (work / "resume").exists()


@pytest.mark.slow
def test_queued_lambda_sweep_runs_two_at_a_time(project):
    """`dvc exp run --queue` of a small `lambda` sweep, then `dvc queue start -j 2`: both experiments
    finish and carry their own params and their own trained generator."""
    import time

    work, env, dvc = project
    for lam in (1.0, 10.0):
        _run(dvc + ["exp", "run", "--queue", "train@attngan", "-S", f"lambda={lam}", "-n", f"lam{int(lam)}"], work,
             env)
    _run(dvc + ["queue", "start", "-j", "2"], work, env)
    deadline = time.time() + 600
    while time.time() < deadline:
        status = _run(dvc + ["queue", "status"], work, env)
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(3)
    assert "Failed" not in status, status + _run(dvc + ["queue", "logs", "lam1"], work, env)
    _run(dvc + ["queue", "stop"], work, env)
    rows = json.loads(_run(dvc + ["exp", "show", "--json"], work, env))
    found = {}
    for rev in rows:
        for exp in rev.get("experiments") or []:
            for run in exp.get("revs", []):
                data = run.get("data") or {}
                name = run.get("name") or data.get("name")
                lam = data.get("params", {}).get("params.yaml", {}).get("data", {}).get("lambda")
                generator = (data.get("outs") or {}).get("models/attngan/generator.pt", {}).get("hash")
                if name in ("lam1", "lam10"):
                    found[name] = (lam, generator)
    assert sorted(found) == ["lam1", "lam10"], found
    assert (found["lam1"][0], found["lam10"][0]) == (1.0, 10.0)
    assert found["lam1"][1] and found["lam10"][1] and found["lam1"][1] != found["lam10"][1], found


@pytest.mark.slow
def test_train_stage_on_two_processes(project):
    """`runtime.gpus: 2`: the stage re-launches itself as a 2-process torchrun (gloo here), training what
    one process trains, up to floating-point summation order."""
    work, env, dvc = project
    original = (work / "params.yaml").read_text()
    params = yaml.safe_load(original)
    params["train"]["precision"] = "fp32"  # bf16's rounding would hide what this compares
    scratch, keep = work / "resume/train@attngan", dict(env, T2IGAN_KEEP_RESUME="1")
    try:
        (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        _run(dvc + ["repro", "train@attngan"], work, keep)
        one = checksummed.load(scratch / "checkpoint.pt")
        params["runtime"]["gpus"] = 2
        (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        # the finished one-process run would be reused (the process count is not a setting): train anew
        shutil.rmtree(scratch)
        out = _run(dvc + FORCE + ["train@attngan"], work, keep)
        assert "runtime.gpus = 2: torchrun --standalone --nproc_per_node=2 stages/train.py attngan" in out
        assert "2 processes: weights compared identical after 74 steps so far" in out  # 2 epochs of 37 steps
        assert json.loads((work / "reports/attngan/train.json").read_text())["processes"] == 2
        two = checksummed.load(scratch / "checkpoint.pt")
        assert two["processes"] == 2 and len(two["history"]) == 2
        # Summation order differs, and a GAN amplifies such differences step by step (measured on 48
        # images: 1e-7 relative in the epoch losses for 30 steps, 5e-5 by step 48; weights 1e-3 apart
        # after 48 steps); so compare the first epoch's losses, not the weights after two.
        first = {k: v for k, v in one["history"][0].items() if k[:2] in ("d_", "g_")}
        for k, v in first.items():
            assert two["history"][0][k] == pytest.approx(v, rel=1e-3), k
    finally:
        (work / "params.yaml").write_text(original)
