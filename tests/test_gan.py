"""The GAN engine and the AttnGAN variant: losses, one step, EMA, NaN stop, generation."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import settings
import torch
import torch.nn.functional as F

from t2igan.config import check_families, load_params
from t2igan.data.refs import crop_refs
from t2igan.errors import ConfigError
from t2igan.generate import encode_rows, generate, sample_rows, write_set
from t2igan.losses import attngan as adv
from t2igan.train import checkpoint, gan, updates


class StubCond:
    """C(x, s) = x.sum(1..) + s[:, 0]; ``pairs`` as models.attngan.CondLogits'."""

    def __call__(self, f, s):
        return f.flatten(1).sum(1) + s[:, 0]

    def pairs(self, f, codes):
        return [self(f[:len(s)], s) for s in codes]


class StubD:
    """A discriminator whose logits are given: U(x) = x.sum(1..), C(x, s) = U(x) + s[:, 0]."""

    cond = StubCond()

    def __call__(self, x):
        return x

    def uncond(self, f):
        return f.flatten(1).sum(1)


def _bce(logit, target):
    p = 1 / (1 + np.exp(-logit))
    return -(target * np.log(p) + (1 - target) * np.log(1 - p))


def test_discriminator_loss_matches_the_formula_by_hand():
    real = torch.tensor([[0.5], [-1.0], [2.0]])
    fake = torch.tensor([[-0.3], [0.2], [1.1]])
    s = torch.tensor([[0.1], [-0.4], [0.7]])
    r, f, c = real[:, 0].numpy(), fake[:, 0].numpy(), s[:, 0].numpy()
    real_part = _bce(r, 1).mean() + _bce(r + c, 1).mean()
    wrong = _bce(r[:-1] + c[1:], 0).mean()  # real image k with sentence k + 1
    fake_part = _bce(f, 0).mean() + _bce(f + c, 0).mean() + wrong
    expected = real_part / 2 + fake_part / 3
    assert adv.discriminator_loss(StubD(), real, fake, s).item() == pytest.approx(expected, rel=1e-6)
    g_expected = _bce(f, 1).mean() + _bce(f + c, 1).mean()
    assert adv.generator_adversarial(StubD(), fake, s).item() == pytest.approx(g_expected, rel=1e-6)


def test_ema_update_is_a_lerp_and_copies_buffers():
    model, ema = torch.nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    with torch.no_grad():
        model.weight.fill_(2.0)
        ema.weight.fill_(1.0)
        model.running_mean.fill_(5.0)
    updates.ema_update(ema, model, 0.9)
    assert torch.allclose(ema.weight, torch.full((3,), 1.1))
    assert torch.equal(ema.running_mean, model.running_mean)


# ---------------------------------------------------------------- a tiny end-to-end setting

def _settings(**kw) -> gan.GanSettings:
    return settings.gan(**kw)


def test_one_step_updates_g_and_d_but_never_the_judge(tiny):
    prepared, damsm_dir, _ = tiny
    s = _settings()
    damsm = gan.FrozenDamsm.load(damsm_dir, torch.device("cpu"))
    judge = {k: v.clone() for k, v in damsm.image.state_dict().items()}
    trainer = gan.Trainer.create(s, damsm, torch.device("cpu"))
    g0 = [p.detach().clone() for p in trainer.G.parameters()]
    d0 = [p.detach().clone() for p in trainer.Ds.parameters()]
    ema0 = [p.detach().clone() for p in trainer.G_ema.parameters()]
    from t2igan.data.dataset import TextImageDataset, collate

    data = TextImageDataset(prepared, "train", image_size=32, branches=2, seed=0)
    raw = collate([data[i] for i in range(4)])
    terms = trainer.step(gan.make_batch(raw, damsm, s.sizes, torch.device("cpu")), 10_000)  # decay 0.999
    assert set(terms) == {"d_d16", "d_d32", "d_total", "g_adv", "g_damsm_w", "g_damsm_s", "g_kl", "g_total"}
    assert all(torch.isfinite(v) for v in terms.values())
    total = terms["g_adv"] + s.lam * (terms["g_damsm_w"] + terms["g_damsm_s"]) + terms["g_kl"]
    assert torch.allclose(terms["g_total"], total)
    assert all(not torch.equal(a, b) for a, b in zip(g0, trainer.G.parameters()) if a.dim() > 1)
    assert any(not torch.equal(a, b) for a, b in zip(d0, trainer.Ds.parameters()))
    assert all(p.requires_grad for p in trainer.Ds.parameters())  # switched back on after the G step
    for e0, e, g in zip(ema0, trainer.G_ema.parameters(), trainer.G.parameters()):
        assert torch.allclose(e, s.ema_decay * e0 + (1 - s.ema_decay) * g, atol=1e-7)
    for k, v in damsm.image.state_dict().items():
        assert torch.equal(v, judge[k]), f"the frozen DAMSM changed: {k}"


def test_train_writes_everything_and_a_nan_keeps_the_last_good_checkpoint(tiny, monkeypatch):
    prepared, damsm_dir, tmp = tiny
    out, samples = tmp / "attngan", tmp / "samples"
    history = gan.train(prepared, damsm_dir, out, _settings(), samples_dir=samples, progress=False)
    assert [h["epoch"] for h in history] == [1] and history[0]["images_per_s"] > 0
    assert (out / "generator.pt").is_file() and (out / "snapshots" / "epoch_0001.pt").is_file()
    assert (samples / "epoch_0001.png").is_file()
    good = (out / "checkpoint.pt").read_bytes()

    from t2igan.variants.attngan import AttnGAN

    real_g_loss = AttnGAN.g_loss

    def nan_g_loss(self, Ds, batch, fake):
        terms = real_g_loss(self, Ds, batch, fake)
        return {**terms, "kl": terms["kl"] * float("nan"), "total": terms["total"] * float("nan")}

    monkeypatch.setattr(AttnGAN, "g_loss", nan_g_loss)
    with pytest.raises(gan.TrainingError, match=r"g_kl, g_total is not finite in epoch 2.*kept at"):
        gan.train(prepared, damsm_dir, out, _settings(epochs=2), progress=False)
    assert (out / "checkpoint.pt").read_bytes() == good


def test_generation_is_deterministic_and_written_whole(tiny):
    prepared, damsm_dir, tmp = tiny
    gan.train(prepared, damsm_dir, tmp / "attngan", _settings(), progress=False)
    damsm = gan.FrozenDamsm.load(damsm_dir, torch.device("cpu"))
    variant, G, epoch = gan.load_generator(tmp / "attngan" / "generator.pt", damsm, torch.device("cpu"))
    assert epoch == 1 and not G.training
    rows = np.arange(30, 45)  # image 3's and image 4's captions
    a, maps, ref_maps = generate(variant, G, damsm, prepared, rows, max_words=18, seed=3, batch_size=4,
                                 attention=True)
    assert ref_maps is None  # AttnGAN takes no reference
    b = generate(variant, G, damsm, prepared, rows, max_words=18, seed=3, batch_size=7)
    assert a.shape == (15, 32, 32, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b), "the batch size must not change the images"
    captions, lengths = encode_rows(prepared, rows, 18, 3)
    assert maps.shape == (15, 18, 16, 16)
    assert np.all(maps[0, lengths[0]:] == 0)  # padded words get no attention
    write_set(tmp / "set", variant, G, damsm, prepared, rows, max_words=18, seed=3, batch_size=4,
              meta={"variant": "attngan"}, progress=False)
    assert np.array_equal(np.load(tmp / "set" / "images.npy"), a)
    assert np.array_equal(np.load(tmp / "set" / "caption_rows.npy"), rows)
    assert sorted(p.name for p in (tmp / "set").iterdir()) == ["caption_rows.npy", "images.npy", "meta.json"]
    assert len(sample_rows(prepared, 2)) == 2


def test_variants_section_is_checked():
    with pytest.raises(ConfigError, match=r"variants.x.model: 'attnganx' is not a known model; use one of attngan"):
        load_params("params.yaml", {"variants": {"x": {"model": "attnganx"}}})
    with pytest.raises(ConfigError, match=r"variants: expected a non-empty mapping"):
        load_params("params.yaml", {"variants": []})
    with pytest.raises(ConfigError, match=r"variants.r: unknown key\(s\) lambda3; known: lambda2"):
        check_families(load_params("params.yaml", {"variants": {"r": {"model": "ragan", "lambda3": 1}}}))
    with pytest.raises(ConfigError, match=r"variants.r.version: 2 is above the maximum 1"):
        check_families(load_params("params.yaml", {"variants": {"r": {"model": "ragan", "version": 2}}}))
    with pytest.raises(ConfigError, match=r"variants.r.reference_species: 'other' is not allowed"):
        check_families(load_params("params.yaml",
                                   {"variants": {"r": {"model": "ragan", "reference_species": "other"}}}))
    with pytest.raises(ConfigError, match=r"variants.d: expected a mapping with a `model` key"):
        load_params("params.yaml", {"variants": {"d": "dualattngan"}})
    p = load_params("params.yaml", {"variants": {"r": {"model": "ragan", "lambda2": 5}}})
    assert p.variants["r"].options == {"version": 0, "lambda2": 5.0, "ref_blocks": True, "reference_species": "any"}
    s = gan.GanSettings.from_params(p, "r")
    assert (s.model, s.options["lambda2"]) == ("ragan", 5.0)
    with pytest.raises(gan.TrainingError, match=r"variants: no entry 'attngan' in params.yaml; known: r"):
        gan.GanSettings.from_params(p, "attngan")


def test_gan_settings_from_params_follow_the_scale():
    p = load_params("params.yaml", {"scale": "paper", "lambda": 50.0})
    s = gan.GanSettings.from_params(p, "attngan")
    assert (s.image_size, s.branches, s.gf_dim, s.df_dim, s.batch_size, s.lam) == (256, 3, 32, 64, 20, 50.0)
    assert s.sizes == [64, 128, 256]


def test_bce_helper_agrees_with_torch():
    x = torch.tensor([0.3, -2.0])
    assert torch.allclose(adv._bce(x, 1.0), F.binary_cross_entropy(torch.sigmoid(x), torch.ones(2)))


def test_pick_device_names_the_param_in_its_errors():
    from t2igan.errors import T2IGANError
    from t2igan.train.device import pick_device

    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(T2IGANError, match=r"--device is 'tpu'"):
        pick_device("tpu", "--device")
    if not torch.cuda.is_available():
        with pytest.raises(T2IGANError, match=r"runtime\.device is 'cuda' but no CUDA device"):
            pick_device("cuda")


def test_snapshot_epochs_and_a_missing_snapshot_named(tmp_path):
    assert gan.snapshot_epochs(3, 1) == [1, 2, 3]
    assert gan.snapshot_epochs(10, 4) == [4, 8, 10]  # the last epoch always
    assert gan.snapshot_epochs(2, 5) == [2]
    paths = [tmp_path / f"epoch_{e:04d}.pt" for e in (1, 2, 3)]
    for path in paths[::2]:
        path.write_bytes(b"x")
    gan.missing_snapshots(paths[::2], [1, 3], "kept generator", "dvc repro train@attngan")  # all there
    with pytest.raises(gan.TrainingError, match=r"epoch_0002\.pt: no kept generator for epoch 2 \(1 of 3 missing\)"
                                                 r".*epochs \[1, 2, 3\].*dvc repro train@attngan"):
        gan.missing_snapshots(paths, [1, 2, 3], "kept generator", "dvc repro train@attngan")


def test_dualattngan_trains_resumes_exactly_and_generates(tiny, capsys):
    """Spectral norm's power-iteration vectors are state too: a resumed run must end identical."""
    prepared, damsm_dir, tmp = tiny
    s = _settings(variant="dualattngan", model="dualattngan", epochs=2)
    gan.train(prepared, damsm_dir, tmp / "straight", s, progress=False)
    gan.train(prepared, damsm_dir, tmp / "resumed", dataclasses.replace(s, epochs=1), progress=False)
    capsys.readouterr()
    gan.train(prepared, damsm_dir, tmp / "resumed", s, progress=False)  # raising the epochs resumes
    assert "resuming after epoch 1" in capsys.readouterr().out
    a = checkpoint.load(tmp / "straight" / "generator.pt")["state"]
    b = checkpoint.load(tmp / "resumed" / "generator.pt")["state"]
    assert a.keys() == b.keys() and any("parametrizations" in k for k in a)
    assert all(torch.equal(a[k], b[k]) for k in a)
    damsm = gan.FrozenDamsm.load(damsm_dir, torch.device("cpu"))
    variant, G, epoch = gan.load_generator(tmp / "straight" / "generator.pt", damsm, torch.device("cpu"))
    assert variant.s.variant == "dualattngan" and epoch == 2
    images = generate(variant, G, damsm, prepared, np.arange(30, 36), max_words=18, seed=3, batch_size=4)
    assert images.shape == (6, 32, 32, 3) and images.dtype == np.uint8 and images.std() > 0


def test_ragan_v1_trains_with_references_resumes_exactly_and_generates(tiny, cub_root, capsys):
    """RaGAN takes each caption's patch from crop_refs; its reference encoder is the frozen DAMSM, so
    a resumed run (which reloads it) ends identical to a straight one (the thesis's restart bug)."""
    prepared, damsm_dir, tmp = tiny
    crop_refs(cub_root, prepared.root, tmp / "refs", patch_size=32, seed=0, progress=False)
    s = _settings(variant="ragan_v1", model="ragan", epochs=2,
                  options={"version": 1, "lambda2": 2.0, "ref_blocks": True, "reference_species": "any"})
    with pytest.raises(gan.TrainingError, match="ragan_v1 takes reference with every caption"):
        gan.train(prepared, damsm_dir, tmp / "none", s, progress=False)
    dirs = {"crop_refs": tmp / "refs"}  # the generic route: the family reads its input from its data stage
    history = gan.train(prepared, damsm_dir, tmp / "straight", s, data_dirs=dirs, progress=False)
    assert all(np.isfinite(h["g_sim"]) and 0 <= h["g_sim"] <= 2 for h in history)  # L_sim = 1 - cos in [0, 2]
    gan.train(prepared, damsm_dir, tmp / "resumed", dataclasses.replace(s, epochs=1), data_dirs=dirs, progress=False)
    capsys.readouterr()
    gan.train(prepared, damsm_dir, tmp / "resumed", s, data_dirs=dirs, progress=False)
    assert "resuming after epoch 1" in capsys.readouterr().out
    a = checkpoint.load(tmp / "straight" / "generator.pt")["state"]
    b = checkpoint.load(tmp / "resumed" / "generator.pt")["state"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    damsm = gan.FrozenDamsm.load(damsm_dir, torch.device("cpu"))
    variant, G, _ = gan.load_generator(tmp / "straight" / "generator.pt", damsm, torch.device("cpu"))
    assert variant.o.version == 1 and variant.o.reference_species == "any"
    rows = np.arange(30, 36)
    sources = gan.row_inputs(variant, dirs, prepared)
    assert list(sources) == ["reference"]
    patches = sources["reference"].for_rows(rows)
    with pytest.raises(ValueError, match=r"takes \['reference'\] per caption; got \{\} for 6 rows"):
        generate(variant, G, damsm, prepared, rows, max_words=18, seed=3)
    images, maps, ref_maps = generate(variant, G, damsm, prepared, rows, max_words=18, seed=3, batch_size=4,
                                      attention=True, inputs={"reference": patches})
    assert images.shape == (6, 32, 32, 3) and images.std() > 0
    regions = damsm.image(torch.zeros(1, 3, 32, 32))[0].flatten(2).shape[-1]
    assert ref_maps.shape == (6, regions, 16, 16)  # over the last stage's input h
    np.testing.assert_allclose(ref_maps.astype(np.float32).sum(axis=1), 1.0, atol=2e-2)  # a softmax per pixel
    # an all-black reference is a valid input, and the reference does reach the output
    black = generate(variant, G, damsm, prepared, rows, max_words=18, seed=3,
                     inputs={"reference": np.zeros_like(patches)})
    assert black.shape == images.shape and not np.array_equal(black, images)


def test_bf16_training_on_the_cpu_is_recorded_resumes_exactly_and_changes_the_numbers(tiny, capsys):
    """train.precision bf16: autocast and NHWC weights on the CPU too; a resumed run ends identical
    to a straight one, and the weights differ from fp32's (the setting is part of the result)."""
    prepared, damsm_dir, tmp = tiny
    cpu = torch.device("cpu")
    damsm = gan.FrozenDamsm.load(damsm_dir, cpu)
    for precision, bf16 in (("fp32", False), ("bf16", True)):
        trainer = gan.Trainer.create(_settings(precision=precision), damsm, cpu)
        conv = next(m for m in trainer.G.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3))
        assert (trainer.precision == "bf16") is bf16
        assert conv.weight.is_contiguous(memory_format=torch.channels_last) is bf16
    s = _settings(epochs=2, precision="bf16")
    gan.train(prepared, damsm_dir, tmp / "straight", s, progress=False)
    gan.train(prepared, damsm_dir, tmp / "resumed", dataclasses.replace(s, epochs=1), progress=False)
    capsys.readouterr()
    gan.train(prepared, damsm_dir, tmp / "resumed", s, progress=False)
    assert "resuming after epoch 1" in capsys.readouterr().out
    gan.train(prepared, damsm_dir, tmp / "fp32", dataclasses.replace(s, precision="fp32"), progress=False)
    a, b, c = (checkpoint.load(tmp / d / "generator.pt") for d in ("straight", "resumed", "fp32"))
    assert a["settings"]["precision"] == "bf16" and c["settings"]["precision"] == "fp32"
    assert all(torch.equal(a["state"][k], b["state"][k]) for k in a["state"])
    assert any(not torch.equal(a["state"][k], c["state"][k]) for k in a["state"])
    with pytest.raises(ConfigError, match="precision"):
        load_params(overrides={"train.precision": "fp16"})


def test_ema_warmup_is_tensorflows_rule():
    assert updates.ema_decay_at(0.999, 0, True) == pytest.approx(0.1)
    assert updates.ema_decay_at(0.999, 90, True) == pytest.approx(91 / 100)
    assert updates.ema_decay_at(0.999, 8980, True) < 0.999
    assert updates.ema_decay_at(0.999, 9000, True) == 0.999
    assert updates.ema_decay_at(0.999, 0, False) == 0.999


def test_the_ema_warmup_counts_updates_across_a_resume(tiny, monkeypatch):
    """Epoch 2 of a resumed run gets the decays of an uninterrupted run's epoch 2."""
    prepared, damsm_dir, tmp = tiny
    decays = []
    update = updates.Ema.update

    def recording(self, step):
        decays.append(update(self, step))
        return decays[-1]

    monkeypatch.setattr(updates.Ema, "update", recording)
    s = _settings(ema_warmup=True)
    gan.train(prepared, damsm_dir, tmp / "run", s, progress=False)
    per_epoch = len(decays)
    assert per_epoch >= 2
    gan.train(prepared, damsm_dir, tmp / "run", dataclasses.replace(s, epochs=2), progress=False)
    assert decays == [updates.ema_decay_at(0.999, t, True) for t in range(2 * per_epoch)]
    assert decays[0] == pytest.approx(0.1)


def test_a_familys_inputs_pass_through_training_generation_and_scoring_by_name(tiny, monkeypatch):
    """Generic conditioning: a toy family takes a `tint` per caption (tests/toy_family.py), a name no
    project module knows; the loop, generation and scoring hand it over all the same."""
    import toy_family

    from t2igan import families, score

    prepared, damsm_dir, tmp = tiny
    monkeypatch.setitem(families.FAMILIES["variants"], "tinted", "toy_family:Tinted")
    toy_family.SEEN.clear()
    s = _settings(variant="tinted_v", model="tinted")
    with pytest.raises(gan.TrainingError, match="tinted_v takes tint with every caption"):
        gan.train(prepared, damsm_dir, tmp / "none", s, progress=False)
    gan.train(prepared, damsm_dir, tmp / "t", s, data_dirs={"tints": tmp}, samples_dir=tmp / "grids", progress=False)
    assert toy_family.SEEN and all(shape == (4, 3, 8, 8) for shape in toy_family.SEEN[:2])  # training batches
    assert (tmp / "grids" / "epoch_0001.png").is_file()  # the sample grid got its tints too
    damsm = gan.FrozenDamsm.load(damsm_dir, torch.device("cpu"))
    variant, G, _ = gan.load_generator(tmp / "t" / "generator.pt", damsm, torch.device("cpu"))
    rows = np.arange(30, 36)
    sources = gan.row_inputs(variant, {"tints": tmp}, prepared)
    tints = sources["tint"].for_rows(rows)
    with pytest.raises(ValueError, match=r"takes \['tint'\] per caption"):
        generate(variant, G, damsm, prepared, rows, max_words=18, seed=3, inputs={"reference": tints})
    images = generate(variant, G, damsm, prepared, rows, max_words=18, seed=3, inputs={"tint": tints})
    black = generate(variant, G, damsm, prepared, rows, max_words=18, seed=3, inputs={"tint": np.zeros_like(tints)})
    assert not np.array_equal(images, black)
    judge = score.InputJudge(damsm, variant.input_similarity)
    sims = judge(images, tints)
    assert sims.shape == (6,) and torch.all(sims.abs() <= 1 + 1e-6)
    assert score.input_similarity(judge, images, tints, batch_size=4) == pytest.approx(float(sims.mean()), abs=1e-6)
