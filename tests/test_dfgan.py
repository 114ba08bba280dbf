"""DF-GAN (issue 23): networks, hinge and MA-GP against hand computations, its optimiser, truncation,
training through the shared engine, and an exact resume after a SIGKILL."""
from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import settings
import torch
from conftest import assert_same

from t2igan.generate import generate
from t2igan.models import dfgan
from t2igan.train import checkpoint, checksummed, gan
from t2igan.variants import dfgan as losses
from t2igan.variants.dfgan import truncate

ROOT = Path(__file__).resolve().parents[1]


def _count(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _affine(cond: int, c: int) -> int:
    return 2 * (cond * c + c + c * c + c)  # gamma and beta: Linear(cond, c), Linear(c, c)


def _up(cond: int, a: int, b: int) -> int:
    return (2 * _affine(cond, a) + 9 * a * b + b + 2 * _affine(cond, b) + 9 * b * b + b
            + (a * b + b if a != b else 0))


def _down(a: int, b: int) -> int:
    return 16 * a * b + 9 * b * b + (a * b + b if a != b else 0) + 1  # no conv bias; the shortcut's; gamma


def test_paper_networks_have_the_hand_counted_parameters():
    """256 px, nf 32, z 100, sentence 256 (the public code's CUB setting): widths 8 nf at 4 x 4 down to nf."""
    G = dfgan.Generator(32, 100, 256, 256)
    D = dfgan.Discriminator(32, 256, 256)
    cond = 100 + 256
    g_widths = [256, 256, 256, 256, 128, 64, 32]
    expected_g = 100 * 4096 + 4096 + sum(_up(cond, a, b) for a, b in zip(g_widths, g_widths[1:])) + 32 * 3 * 9 + 3
    d_widths = g_widths[::-1]
    expected_d = 3 * 32 * 9 + 32 + sum(_down(a, b) for a, b in zip(d_widths, d_widths[1:])) + 512 * 64 * 9 + 64 * 16
    assert _count(G) == expected_g and len(G.blocks) == 6
    assert _count(D) == expected_d and len(D.blocks) == 6
    z, s = torch.randn(2, 100), torch.randn(2, 256)
    with torch.no_grad():
        x = G(z, s)
        assert x.shape == (2, 3, 256, 256) and x.abs().max() <= 1
        assert D.features(x).shape == (2, 256, 4, 4) and D(x, s).shape == (2,)


def test_sides_and_an_untrained_affine_passes_its_input_through():
    for side, blocks in ((8, 1), (64, 4)):
        assert len(dfgan.Generator(4, 8, 16, side).blocks) == blocks == len(dfgan.Discriminator(4, 16, side).blocks)
    with pytest.raises(ValueError, match="power-of-two image side of at least 8, not 48"):
        dfgan.widths(4, 48)
    affine = dfgan.Affine(10, 5)
    x = torch.randn(3, 5, 4, 4)
    assert torch.equal(affine(x, torch.randn(3, 10)), x)  # gamma = 1, beta = 0 until trained


def test_hinge_terms_are_their_formulas():
    logits = torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0])
    # mean(max(0, 1 - x)) = (3 + 1.5 + 1 + 0.5 + 0) / 5; mean(max(0, 1 + x)) = (0 + 0.5 + 1 + 1.5 + 3) / 5
    assert losses.hinge_real(logits).item() == pytest.approx(6.0 / 5)
    assert losses.hinge_fake(logits).item() == pytest.approx(6.0 / 5)
    assert losses.hinge_real(torch.tensor([1.5, 3.0])).item() == 0.0
    assert torch.equal(losses.mismatched(torch.arange(4)), torch.tensor([1, 2, 3, 0]))


def test_ma_gp_matches_a_hand_computation():
    """logit_i = sum_j a_j x_ij^2 + b . s_i: d/dx_ij = 2 a_j x_ij, d/ds_i = b; penalty = 2 mean(||g_i||^6)."""
    x = torch.tensor([[1.0, -2.0], [0.5, 0.0]], requires_grad=True)
    s = torch.tensor([[3.0], [-1.0]], requires_grad=True)
    a = torch.tensor([1.0, 0.5], requires_grad=True)
    b = torch.tensor([2.0])
    logits = (a * x ** 2).sum(1) + s @ b
    gp = losses.ma_gp(logits, x, s)
    # item 0: (2*1*1, 2*0.5*-2, 2) = (2, -2, 2), ||.||^2 = 12; item 1: (1, 0, 2), ||.||^2 = 5
    assert gp.item() == pytest.approx(2 * (12 ** 3 + 5 ** 3) / 2)
    assert losses.ma_gp(logits, x, s, k=1.0, p=2.0).item() == pytest.approx((12 + 5) / 2)
    gp.backward()  # the penalty trains what made the logits (create_graph)
    assert a.grad is not None and a.grad.abs().sum() > 0


def test_the_variant_uses_its_own_adam_no_ema_and_the_d_loss_formula(tiny):
    prepared, damsm_dir, _ = tiny
    damsm = gan.FrozenDamsm.load(damsm_dir, torch.device("cpu"))
    s = settings.gan(variant="dfgan", model="dfgan")
    trainer = gan.Trainer.create(s, damsm, torch.device("cpu"))
    for phase, lr in ((trainer.g, 1e-4), (trainer.d, 4e-4)):
        group = phase.optimizer.param_groups[0]
        assert group["lr"] == lr and group["betas"] == (0.0, 0.9)
    assert trainer.ema.decay == 0.0  # DF-GAN samples its G itself: the saved "EMA" is G
    from torch.utils.data import DataLoader

    from t2igan.data.dataset import TextImageDataset, collate

    data = TextImageDataset(prepared, "train", image_size=32, branches=2, max_words=18, seed=0)
    batch = gan.make_batch(next(iter(DataLoader(data, batch_size=4, collate_fn=collate))), damsm, s.sizes,
                           torch.device("cpu"))
    terms = trainer.step(batch, 0)
    assert {"d_real", "d_fake", "d_mismatched", "d_ma_gp", "d_total", "g_adv", "g_total"} <= set(terms)
    d = {k: float(terms[f"d_{k}"]) for k in ("real", "fake", "mismatched", "ma_gp", "total")}
    assert d["total"] == pytest.approx(d["real"] + (d["fake"] + d["mismatched"]) / 2 + d["ma_gp"], rel=1e-6)
    for a, b in zip(trainer.G.parameters(), trainer.G_ema.parameters()):
        assert torch.equal(a, b)


def test_truncated_noise_is_a_truncated_normal_of_the_same_draws():
    z = torch.from_numpy(np.random.default_rng(0).standard_normal((200_000, 1), dtype=np.float32))
    t = truncate(z, 0.88)
    assert t.abs().max() <= 0.88 and t.dtype == z.dtype
    order = torch.argsort(z.flatten())
    assert bool((t.flatten()[order].diff() >= 0).all())  # monotone in the draw: a set stays a function of it
    phi = math.exp(-0.88 ** 2 / 2) / math.sqrt(2 * math.pi)
    mass = math.erf(0.88 / math.sqrt(2))
    var = 1 - 2 * 0.88 * phi / mass  # the variance of N(0, 1) truncated to [-0.88, 0.88]
    assert float(t.mean()) == pytest.approx(0.0, abs=3e-3) and float(t.var()) == pytest.approx(var, rel=1e-2)


def test_truncation_changes_only_the_generated_sets_noise(tiny):
    prepared, damsm_dir, tmp = tiny
    s = settings.gan(variant="dfgan", model="dfgan", epochs=1)
    gan.train(prepared, damsm_dir, tmp / "run", s, progress=False)
    damsm = gan.FrozenDamsm.load(damsm_dir, torch.device("cpu"))
    variant, G, _ = gan.load_generator(tmp / "run" / "generator.pt", damsm, torch.device("cpu"))
    rows = np.arange(30, 36)
    plain = generate(variant, G, damsm, prepared, rows, max_words=18, seed=3, batch_size=4)
    assert plain.shape == (6, 32, 32, 3) and plain.std() > 0
    assert np.array_equal(plain, generate(variant, G, damsm, prepared, rows, max_words=18, seed=3, batch_size=3))
    assert variant.sampling_protocol() == "z ~ N(0, I), drawn per caption row from (seed, row)"
    variant.o = dataclasses.replace(variant.o, truncation=0.5)
    truncated = generate(variant, G, damsm, prepared, rows, max_words=18, seed=3, batch_size=4)
    assert truncated.shape == plain.shape and not np.array_equal(truncated, plain)
    assert variant.sampling_protocol().endswith("truncated to [-0.5, 0.5] (option truncation)")


KILLED_RUN = """
import sys, dataclasses
sys.path.insert(0, {tests!r})
import settings
from t2igan.data.preprocess import Prepared
from t2igan.train import gan
s = settings.gan(variant="dfgan", model="dfgan", epochs=2)
gan.train(Prepared({prep!r}), {damsm!r}, {out!r}, s, progress=False)
"""


def test_dfgan_killed_mid_epoch_resumes_bit_identical(tiny):
    """SIGKILL in epoch 2 (T2IGAN_KILL_AT_STEP); the resumed run ends with the same checkpoint, optimiser
    state and history as one never stopped."""
    prepared, damsm_dir, tmp = tiny
    s = settings.gan(variant="dfgan", model="dfgan", epochs=2)
    gan.train(prepared, damsm_dir, tmp / "straight", s, progress=False)
    script = KILLED_RUN.format(tests=str(ROOT / "tests"), prep=str(tmp / "prep"), damsm=str(damsm_dir),
                               out=str(tmp / "killed"))
    steps = len(prepared.split_indices("train")) // s.batch_size
    env = dict(os.environ, T2IGAN_KILL_AT_STEP=str(steps + 1))  # the second step of epoch 2
    killed = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr
    assert len(checksummed.load(tmp / "killed" / "checkpoint.pt")["history"]) == 1
    gan.train(prepared, damsm_dir, tmp / "killed", s, progress=False)
    a, b = checksummed.load(tmp / "straight" / "checkpoint.pt"), checksummed.load(tmp / "killed" / "checkpoint.pt")
    for key in ("G", "Ds", "G_ema", "opt_g", "opt_d"):
        assert_same(a[key], b[key], key)
    assert [h["d_total"] for h in a["history"]] == [h["d_total"] for h in b["history"]]
    assert all(torch.equal(x, y) for x, y in zip(checkpoint.load(tmp / "straight" / "generator.pt")["state"].values(),
                                                  checkpoint.load(tmp / "killed" / "generator.pt")["state"].values()))
