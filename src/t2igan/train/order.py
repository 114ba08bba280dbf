"""The data order of one training epoch, the same rule in every trainer (GAN, baseline, DAMSM, evaluator)."""
from __future__ import annotations

import torch


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of everything random in ``epoch``: it depends on nothing drawn before, so a run resumed
    after any epoch draws what the uninterrupted run drew."""
    return seed * 100_003 + epoch


def epoch_order(n_items: int, seed: int, epoch: int, batch_size: int, steps: int | None = None) -> list[int]:
    """The items of ``epoch`` in the order they are drawn: a permutation seeded by ``epoch_seed``.  With
    ``steps`` (the scale's steps_per_epoch), only its first ``steps`` full batches: the smoke preset runs
    the paper's networks for a step or two without shrinking their batches."""
    order = torch.randperm(n_items, generator=torch.Generator().manual_seed(epoch_seed(seed, epoch))).tolist()
    return order if steps is None else order[:steps * batch_size]
