"""An epoch's data order, and the scale's steps_per_epoch honoured by every trainer."""
from __future__ import annotations

import dataclasses

import pytest
import settings
import torch

from t2igan import faults
from t2igan.train import baseline, damsm, evaluator, gan
from t2igan.train.order import epoch_order, epoch_seed


def test_epoch_order_is_a_seeded_permutation_cut_to_whole_batches():
    full = epoch_order(10, seed=3, epoch=2, batch_size=4)
    assert sorted(full) == list(range(10))
    assert full == epoch_order(10, seed=3, epoch=2, batch_size=4)          # nothing drawn before matters
    assert full != epoch_order(10, seed=3, epoch=3, batch_size=4)
    expected = torch.randperm(10, generator=torch.Generator().manual_seed(3 * 100_003 + 2)).tolist()
    assert full == expected and epoch_seed(3, 2) == 300_011
    assert epoch_order(10, seed=3, epoch=2, batch_size=4, steps=1) == full[:4]
    assert epoch_order(10, seed=3, epoch=2, batch_size=4, steps=5) == full   # more steps than the epoch has


def _count(monkeypatch, module, name):
    calls = []
    original = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


# The tiny fixture trains on 9 images: 2 batches of 4 an epoch without a limit, 1 with steps_per_epoch 1.
def test_gan_training_takes_at_most_steps_per_epoch_batches(tiny, monkeypatch):
    prepared, damsm_dir, tmp = tiny
    steps = _count(monkeypatch, faults, "step")
    s = settings.gan(epochs=2, steps_per_epoch=1)
    history = gan.train(prepared, damsm_dir, tmp / "g", s, progress=False)
    assert len(steps) == 2 and len(history) == 2
    assert history[0]["images_per_s"] > 0


@pytest.mark.parametrize("limit, per_epoch", [(None, 2), (1, 1)])
def test_baseline_training_takes_at_most_steps_per_epoch_batches(tiny, monkeypatch, limit, per_epoch):
    from t2igan import families

    prepared, _, tmp = tiny
    steps = _count(monkeypatch, faults, "step")
    dcgan = families.load("baselines", "dcgan")
    options = dataclasses.asdict(dcgan.Options(loss="wgan", optimizer="rmsprop", lr=5e-5, n_critic=5, clip=0.01,
                                               batch_size=4))
    s = settings.baseline("wgan", "dcgan", options, epochs=3, steps_per_epoch=limit)
    history = baseline.train(prepared, tmp / "b", s, progress=False)
    assert len(steps) == 3 * per_epoch
    # the critic schedule counts the batches taken: with one an epoch, G's first update is at batch 5
    assert ["g_total" in h for h in history] == ([False, False, True] if limit is None else [False] * 3)


@pytest.mark.parametrize("limit, per_epoch", [(None, 2), (1, 1)])
def test_damsm_training_takes_at_most_steps_per_epoch_batches(tiny, monkeypatch, limit, per_epoch):
    prepared, _, tmp = tiny
    steps = _count(monkeypatch, faults, "step")
    s = settings.damsm(epochs=2, steps_per_epoch=limit)
    damsm.train(prepared, tmp / "d", s, progress=False)
    assert len(steps) == 2 * per_epoch


@pytest.mark.parametrize("limit, per_epoch", [(None, 2), (1, 1)])
def test_evaluator_training_takes_at_most_steps_per_epoch_batches(tiny, monkeypatch, limit, per_epoch):
    prepared, _, tmp = tiny  # one image of each species held out: 8 of 12 to train on
    losses = _count(monkeypatch, evaluator, "_loss")
    s = settings.evaluator(epochs=2, holdout=0.1, steps_per_epoch=limit)
    evaluator.train(prepared, tmp / "ev", s, progress=False)
    assert len(losses) == 2 * per_epoch
