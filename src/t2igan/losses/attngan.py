"""AttnGAN's adversarial losses for one branch (Xu et al. 2018, eq. 3-4), on raw logits.

Each discriminator has an unconditional logit U(x) ("is x a real bird?") and a conditional
one C(x, s) ("is x a real bird matching sentence s?").  BCE-with-logits equals the
original's sigmoid + BCE.  The discriminator also learns to reject real images paired
with the wrong sentence: real image k with the sentence of item k + 1 (the original's
mismatched pairs, one fewer than the batch).  Across data-parallel processes the pairs run
over the global batch: a rank's last image takes the next rank's first sentence.

``reference`` (RaGAN v1): the reference code r_bar, judged by a third logit ``D.ref(x, r_bar)``
exactly as the sentence is by ``D.cond``: real -> 1, fake -> 0 for D, fake -> 1 for G.  Every
group of terms is averaged, so AttnGAN's loss is unchanged when there is no reference.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from t2igan import distributed


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def discriminator_loss(D, real: torch.Tensor, fake: torch.Tensor, sentence: torch.Tensor,
                       reference: torch.Tensor | None = None) -> torch.Tensor:
    """[BCE(U(real),1) + BCE(C(real,s),1)] / 2 + [BCE(U(fake),0) + BCE(C(fake,s),0) + BCE(C(real, s'),0)] / 3,
    with BCE(R(real,r),1) and BCE(R(fake,r),0) in the two groups when ``reference`` is given."""
    real_f, fake_f = D(real), D(fake)
    real_terms = [_bce(D.uncond(real_f), 1.0), _bce(D.cond(real_f, sentence), 1.0)]
    fake_terms = [_bce(D.uncond(fake_f), 0.0), _bce(D.cond(fake_f, sentence), 0.0),
                  _mismatched(D, real_f, sentence)]
    if reference is not None:
        real_terms.append(_bce(D.ref(real_f, reference), 1.0))
        fake_terms.append(_bce(D.ref(fake_f, reference), 0.0))
    return sum(real_terms) / len(real_terms) + sum(fake_terms) / len(fake_terms)


def _mismatched(D, real_f: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
    """BCE(C(real_k, s_{k+1}), 0), the mean over the global batch's B - 1 pairs.  A rank returns
    its share scaled so that the mean over ranks (gradient averaging) is that global mean."""
    world = distributed.current()
    if world.size == 1:
        return _bce(D.cond(real_f[:-1], sentence[1:]), 0.0)
    b = len(sentence)
    start = world.rank * b + 1
    nxt = distributed.gather(sentence)[start:start + b]  # b sentences; b - 1 on the last rank
    logits = D.cond(real_f[:len(nxt)], nxt)
    total = F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits), reduction="sum")
    per_pair = logits.numel() // len(nxt)
    return total * world.size / ((world.size * b - 1) * per_pair)


def generator_adversarial(D, fake: torch.Tensor, sentence: torch.Tensor,
                          reference: torch.Tensor | None = None) -> torch.Tensor:
    """BCE(U(fake), 1) + BCE(C(fake, s), 1) (+ BCE(R(fake, r), 1)): G wants its images taken for
    real, matching birds (and matching the reference)."""
    f = D(fake)
    loss = _bce(D.uncond(f), 1.0) + _bce(D.cond(f, sentence), 1.0)
    if reference is not None:
        loss = loss + _bce(D.ref(f, reference), 1.0)
    return loss
