"""The baselines' families and loop: critic schedules, clipping, conditions, resume, generation."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import settings
import torch

from t2igan import source
from t2igan.baselines.base import BaselineSettings, RealBatch, species_one_hot
from t2igan.config import check_families, load_params
from t2igan.errors import ConfigError
from t2igan.train import baseline, checkpoint, updates

OPTIONS = {
    "dcgan": dict(model="dcgan", loss="bce", batch_size=4, z_dim=8),
    "wgan": dict(model="dcgan", loss="wgan", optimizer="rmsprop", lr=5e-5, n_critic=5, clip=0.01, batch_size=4,
                 z_dim=8),
    "wgan_gp": dict(model="dcgan", loss="wgan_gp", lr=1e-4, beta1=0.0, beta2=0.9, n_critic=5, batch_size=4, z_dim=8),
    "draw_cond": dict(model="draw", attention=True, read_n=3, write_n=4, steps=3, z_dim=4, enc_dim=16, dec_dim=16,
                      condition="sentence", batch_size=4),
    "draw_species": dict(model="draw", attention=False, steps=2, z_dim=3, enc_dim=8, dec_dim=8, condition="species",
                         batch_size=4),
}


def _settings(name: str, epochs: int = 1, image_size: int = 32) -> BaselineSettings:
    opts = dict(OPTIONS[name])
    model = opts.pop("model")
    return settings.baseline(name, model, opts, epochs=epochs, image_size=image_size)


def _family(name: str):
    family = baseline.make(_settings(name, image_size=16))
    torch.manual_seed(0)
    nets = family.build()
    return family, nets, family.phases(nets)


def test_wgan_weights_stay_clipped_after_every_critic_step_and_g_steps_every_fifth():
    family, nets, opts = _family("wgan")
    torch.manual_seed(1)
    for step in range(10):
        g_before = [p.detach().clone() for p in nets["G"].parameters()]
        batch = RealBatch(torch.rand(4, 3, 16, 16) * 2 - 1)
        terms = family.step(nets, opts, batch, step)
        assert all(float(p.detach().abs().max()) <= 0.01 for p in nets["D"].parameters()), f"step {step}"
        g_moved = any(not torch.equal(a, b) for a, b in zip(g_before, nets["G"].parameters()))
        assert g_moved == ((step + 1) % 5 == 0) == ("g_total" in terms), f"step {step}"
        assert torch.isclose(terms["d_total"], -terms["d_wasserstein"])


def test_wgan_gp_critic_has_no_batchnorm_and_adds_the_penalty():
    family, nets, opts = _family("wgan_gp")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in nets["D"].modules())
    critic, generator = opts
    assert isinstance(critic.optimizer, torch.optim.Adam) and critic.optimizer.defaults["betas"] == (0.0, 0.9)
    assert (critic.interval, generator.interval) == (1, 5)  # n_critic is the generator phase's interval
    terms = family.step(nets, opts, RealBatch(torch.rand(4, 3, 16, 16) * 2 - 1), 0)
    assert torch.isclose(terms["d_total"], -terms["d_wasserstein"] + 10.0 * terms["d_gp"])
    assert terms["d_gp"] > 0


def test_dcgan_step_updates_both_networks_with_bce():
    family, nets, opts = _family("dcgan")
    before = {k: [p.detach().clone() for p in nets[k].parameters()] for k in ("G", "D")}
    terms = family.step(nets, opts, RealBatch(torch.rand(4, 3, 16, 16) * 2 - 1), 0)
    assert set(terms) == {"d_total", "g_total"} and float(terms["d_total"]) > 0
    for k in ("G", "D"):
        assert any(not torch.equal(a, b) for a, b in zip(before[k], nets[k].parameters())), k
    assert all(p.requires_grad for p in nets["D"].parameters())


def test_species_one_hot_and_its_range_check():
    assert torch.equal(species_one_hot(torch.tensor([1, 200]))[:, [0, 199]], torch.eye(2))
    with pytest.raises(ValueError, match="1..200"):
        species_one_hot(torch.tensor([0]))


def test_a_species_condition_changes_the_draw_sample():
    family, nets, _ = _family("draw_species")
    assert family.cond_dim == 200 and not family.text_conditional
    noise = family.noise(2, np.random.default_rng(0))
    a = family.sample(nets, noise, species_one_hot(torch.tensor([1, 1])))
    b = family.sample(nets, noise, species_one_hot(torch.tensor([2, 2])))
    assert a.shape == (2, 3, 16, 16) and a.min() >= -1 and a.max() <= 1
    assert not torch.allclose(a, b)


def test_slerp_keeps_its_ends_and_the_norm_between_orthogonal_latents():
    a, b = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    path = baseline.slerp(a, b, torch.tensor([0.0, 0.5, 1.0]))
    assert torch.allclose(path[0], a) and torch.allclose(path[2], b)
    assert torch.allclose(path[1].norm(), torch.tensor(3.0))      # a straight line would give 2.12
    assert torch.allclose(baseline.slerp(a, a, torch.tensor([0.5]))[0], a)  # parallel ends


def test_wgan_resumed_at_an_epoch_boundary_ends_bit_identical(tiny):
    """9 training images, batch 4: 2 critic steps per epoch, so G's every-fifth step falls in the
    middle of epoch 3; the schedule must carry over the resume."""
    prepared, damsm_dir, tmp = tiny
    full = baseline.train(prepared, tmp / "full", _settings("wgan", epochs=4), progress=False)
    baseline.train(prepared, tmp / "part", _settings("wgan", epochs=2), progress=False)
    resumed = baseline.train(prepared, tmp / "part", _settings("wgan", epochs=4), progress=False)
    assert [h["d_total"] for h in full] == [h["d_total"] for h in resumed]
    assert "g_total" in full[2] and "g_total" not in full[1]
    a, b = (checkpoint.load(tmp / d / "checkpoint.pt") for d in ("full", "part"))
    for key in a["nets"]:
        assert torch.equal(a["nets"][key], b["nets"][key]), key


def test_sample_sheets_leave_the_saved_generator_unchanged(tiny):
    """Sheets are drawn in eval mode: BatchNorm's running statistics hold the training batches alone, so
    generator.pt is the same with and without sheets, and holds the checkpoint's networks."""
    prepared, damsm_dir, tmp = tiny
    baseline.train(prepared, tmp / "plain", _settings("dcgan", epochs=2), progress=False)
    baseline.train(prepared, tmp / "sheets", _settings("dcgan", epochs=2), samples_dir=tmp / "s", progress=False)
    assert sorted(p.name for p in (tmp / "s").iterdir()) == ["epoch_0001.png", "epoch_0002.png"]
    plain, sheets = (checkpoint.load(tmp / d / "generator.pt")["state"] for d in ("plain", "sheets"))
    last = checkpoint.load(tmp / "sheets" / "checkpoint.pt")["nets"]
    assert any("running_mean" in k for k in plain)  # DCGAN's generator has BatchNorm
    for key in plain:
        assert torch.equal(plain[key], sheets[key]) and torch.equal(sheets[key], last[key]), key


def test_changed_code_does_not_resume_a_persisted_checkpoint(tiny, monkeypatch, capsys):
    prepared, damsm_dir, tmp = tiny
    baseline.train(prepared, tmp / "run", _settings("dcgan", epochs=1), progress=False)
    monkeypatch.setattr(source, "fingerprint", lambda: "other code")
    baseline.train(prepared, tmp / "run", _settings("dcgan", epochs=2), progress=False)
    assert "made with other settings; training from scratch" in capsys.readouterr().out


def test_a_finished_run_is_written_again_without_training(tiny, capsys):
    """What DVC deletes before re-running a stage comes back from the finished checkpoint,
    byte-identical and without an epoch trained; another DAMSM judge means training anew."""
    prepared, damsm_dir, tmp = tiny
    lives = []
    kw = dict(damsm_dir=damsm_dir, samples_dir=tmp / "samples", live=lives.append, progress=False)
    first = baseline.train(prepared, tmp / "run", _settings("draw_cond", epochs=1), **kw)
    model = (tmp / "run" / "generator.pt").read_bytes()
    grid = (tmp / "samples" / "epoch_0001.png").read_bytes()
    (tmp / "run" / "generator.pt").unlink()
    (tmp / "samples" / "epoch_0001.png").unlink()
    capsys.readouterr()
    again = baseline.train(prepared, tmp / "run", _settings("draw_cond", epochs=1), **kw)
    assert "the run it holds is finished (same code, settings and inputs)" in capsys.readouterr().out
    assert again == first and lives[-1] == first
    assert (tmp / "run" / "generator.pt").read_bytes() == model
    assert (tmp / "samples" / "epoch_0001.png").read_bytes() == grid
    encoder = damsm_dir / "text_encoder.pt"
    state = checkpoint.load(encoder)
    state["state"] = {k: v + 1 if v.is_floating_point() else v for k, v in state["state"].items()}
    checkpoint.save(encoder, state)  # a retrained DAMSM: the sentence condition changed
    baseline.train(prepared, tmp / "run", _settings("draw_cond", epochs=1), **kw)
    assert "made from other data; training from scratch" in capsys.readouterr().out


def test_source_fingerprint_follows_the_code(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    first = source.fingerprint.__wrapped__(tmp_path)
    (tmp_path / "a.py").write_text("x = 2\n")
    assert source.fingerprint.__wrapped__(tmp_path) != first


def test_sentence_draw_trains_generates_deterministically_and_measures_itself(tiny):
    prepared, damsm_dir, tmp = tiny
    history = baseline.train(prepared, tmp / "draw", _settings("draw_cond"), damsm_dir=damsm_dir,
                             samples_dir=tmp / "samples", progress=False)
    assert set(history[0]) >= {"total", "reconstruction", "kl"}
    assert (tmp / "samples" / "epoch_0001.png").is_file()
    family, nets, epoch = baseline.load_model(tmp / "draw" / "generator.pt", torch.device("cpu"))
    assert epoch == 1 and family.text_conditional and family.cond_dim == 256
    damsm = baseline.load_judge(family, damsm_dir, torch.device("cpu"))
    rows = np.arange(30, 45)
    a = baseline.generate(family, nets, prepared, rows, seed=3, damsm=damsm, batch_size=4)
    b = baseline.generate(family, nets, prepared, rows, seed=3, damsm=damsm, batch_size=7)
    assert a.shape == (15, 32, 32, 3) and np.array_equal(a, b)
    other = baseline.generate(family, nets, prepared, rows[::-1].copy(), seed=3, damsm=damsm)
    assert not np.array_equal(a, other[::-1])  # the same noise, other captions: other images
    baseline.write_set(tmp / "set", family, nets, prepared, rows, seed=3, damsm=damsm, meta={"variant": "x"})
    assert np.array_equal(np.load(tmp / "set" / "images.npy"), a)
    with pytest.raises(Exception, match="DAMSM"):
        baseline.load_judge(family, None, torch.device("cpu"))

    images = (np.random.default_rng(0).random((6, 32, 32, 3)) * 255).astype(np.uint8)
    cond = baseline.row_conditions(family, prepared, rows[:6], seed=3, damsm=damsm, device=torch.device("cpu"))
    stats = family.statistics(nets, images, cond, seed=0, batch_size=4)
    assert stats["latents"] == 12 and len(stats["kl_per_step"]) == 3 and stats["images"] == 6
    assert stats["kl_total"] == pytest.approx(sum(stats["kl_per_step"]))
    assert 0 <= stats["inactive_latents"] <= 12 and stats["reconstruction_bce"] > stats["reconstruction_mse"] > 0
    # one batch with the same noise: the loss terms training minimises
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    eps = torch.randn(3, 6, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        terms = family.losses(nets["draw"], x, cond, eps)
    whole = family.statistics(nets, images, cond, seed=0, batch_size=6)
    assert whole["reconstruction_bce"] == pytest.approx(float(terms["reconstruction"]), rel=1e-5)
    assert whole["kl_total"] == pytest.approx(float(terms["kl"]), rel=1e-5)
    assert float(terms["total"]) == pytest.approx(float(terms["reconstruction"] + terms["kl"]), rel=1e-6)
    # seed 002's weighting, as its Keras code wrote it: K.mean(mean-over-pixels BCE + sum_t KL_t / T)
    seed = baseline.make(dataclasses.replace(family.s, options={**family.s.options, "weighting": "seed"}))
    with torch.no_grad():
        weighted = seed.losses(nets["draw"], x, cond, eps)
    logits, mu, logvar, _ = nets["draw"](x, cond, eps)
    bce = torch.nn.functional.binary_cross_entropy(torch.sigmoid(logits), x, reduction="none").flatten(1).mean(1)
    kl_t = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(-1)                  # [T, B]: Keras's kl_loss per step
    keras = (bce + kl_t.sum(0) / 3).mean()                                          # T = 3
    assert float(weighted["total"]) == pytest.approx(float(keras), rel=1e-4)
    assert seed.loss_terms == ("reconstruction_per_pixel", "kl_over_steps")
    assert float(weighted["kl_over_steps"]) == pytest.approx(float(terms["kl"]) / 3, rel=1e-6)
    assert float(weighted["reconstruction_per_pixel"]) == pytest.approx(float(terms["reconstruction"]) / (3 * 32 * 32),
                                                                        rel=1e-6)


def test_baselines_section_is_checked(tmp_path):
    with pytest.raises(ConfigError, match=r"baselines.w.loss: 'hinge' is not allowed"):  # validate_params's check
        check_families(load_params(overrides={"baselines.w": {"model": "dcgan", "loss": "hinge"}}))
    with pytest.raises(ConfigError, match=r"baselines.d.model: 'vae' is not a known model; use one of dcgan, draw"):
        load_params(overrides={"baselines": {"d": {"model": "vae"}}})
    with pytest.raises(ConfigError, match=r"baselines: attngan also named in variants"):
        load_params(overrides={"baselines.attngan": {"model": "dcgan"}})
    with pytest.raises(ConfigError, match=r"draw_sweep.steps\[1\]: 3 must be >= 1 and divide"):
        load_params(overrides={"draw_sweep.steps": [1, 3]})
    with pytest.raises(ConfigError, match=r"draw_sweep.base: 'dcgan' is not a `baselines` entry of model draw"):
        load_params(overrides={"draw_sweep.base": "dcgan"})
    with pytest.raises(ConfigError, match=r"draw_sweep.options.weighting: 'mean' is not allowed"):
        check_families(load_params(overrides={"draw_sweep.options": {"weighting": "mean"}}))
    with pytest.raises(ConfigError, match=r"draw_sweep.options: expected a mapping"):
        load_params(overrides={"draw_sweep.options": ["seed"]})
    swept = load_params(overrides={"draw_sweep.options": {"weighting": "seed", "grad_clip": 5.0}})
    s = BaselineSettings.from_params(swept, swept.draw_sweep.base, **swept.draw_sweep.options, steps=4, z_dim=32)
    assert (s.options["weighting"], s.options["grad_clip"], s.options["steps"]) == ("seed", 5.0, 4)
    p = load_params()
    s = BaselineSettings.from_params(p, "draw_attn", steps=4, z_dim=32)
    assert s.options["steps"] == 4 and s.options["attention"] is True and s.epochs == p.scale.baseline_epochs
    # WGAN-GP steps G every 5th batch: 5 times the epochs, the same G updates as DCGAN
    assert BaselineSettings.from_params(p, "wgan_gp").epochs == 5 * BaselineSettings.from_params(p, "dcgan").epochs


@pytest.mark.parametrize("name", ["dcgan", "wgan_gp", "draw_cond", "draw_species"])
def test_a_bf16_step_is_the_fp32_step_rounded(name):
    """train.precision bf16: the same update from the same weights and noise, within bf16 rounding
    (and not bit-identical: the autocast is really on)."""
    s = _settings(name, image_size=16)
    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(3)) * 2 - 1
    cond = {"sentence": torch.randn(4, 256), "species": species_one_hot(torch.tensor([1, 5, 9, 200]))}
    results = {}
    for precision in ("fp32", "bf16"):
        family = baseline.make(dataclasses.replace(s, precision=precision))
        torch.manual_seed(0)
        nets = family.build()
        updates.place([nets], torch.device("cpu"), precision, nhwc=family.channels_last)
        opts = family.phases(nets)
        torch.manual_seed(1)
        terms = family.step(nets, opts, RealBatch(x, cond.get(family.condition)), 4)  # a G step for the WGANs
        results[precision] = (terms, [p.detach().clone() for p in nets.parameters()])
    (t32, p32), (t16, p16) = results["fp32"], results["bf16"]
    assert t32.keys() == t16.keys()
    for k in t32:
        assert t16[k].dtype == torch.float32, k
        torch.testing.assert_close(t16[k], t32[k], rtol=0.05, atol=0.05)
    assert any(not torch.equal(a, b) for a, b in zip(p32, p16))
    for a, b in zip(p32, p16):
        torch.testing.assert_close(b, a, rtol=0.05, atol=0.01)


def test_train_precision_reaches_the_baselines(tmp_path):
    p = load_params("params.yaml", {"train.precision": "fp32"})
    assert BaselineSettings.from_params(p, "wgan_gp").precision == "fp32"
    p = load_params("params.yaml", {"train.precision": "bf16"})
    assert BaselineSettings.from_params(p, "draw").precision == "bf16"
