"""AttnGAN's adversarial losses for one branch (Xu et al. 2018, eq. 3-4), on raw logits.

Each discriminator has an unconditional logit U(x) ("is x a real bird?") and a conditional
one C(x, s) ("is x a real bird matching sentence s?").  BCE-with-logits equals the
original's sigmoid + BCE.  The discriminator also learns to reject real images paired
with the wrong sentence: real image k with the sentence of item k + 1 (the original's
mismatched pairs, one fewer than the batch).  Across data-parallel processes the pairs run
over the global batch: a rank's last image takes the next rank's first sentence.

``reference`` (RaGAN v1): the reference code r_bar, judged by a third logit ``D.ref(x, r_bar)``
exactly as the sentence is by ``D.cond``: real -> 1, fake -> 0 for D, fake -> 1 for G.  As the
thesis writes it (section 3.2.4), D's two reference terms are added to AttnGAN's, each weighted
1/2, so AttnGAN's own terms keep their weights whether or not there is a reference.
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
    plus [BCE(R(real,r),1) + BCE(R(fake,r),0)] / 2 when ``reference`` is given (the thesis's eq. in 3.2.4)."""
    real_f, fake_f = D(real), D(fake)
    nxt = _next_sentences(sentence)
    matched, mismatched = D.cond.pairs(real_f, [sentence, nxt])  # one features' share of the joint conv
    real_terms = [_bce(D.uncond(real_f), 1.0), _bce(matched, 1.0)]
    fake_terms = [_bce(D.uncond(fake_f), 0.0), _bce(D.cond(fake_f, sentence), 0.0),
                  _mismatched(mismatched, len(sentence))]
    loss = sum(real_terms) / len(real_terms) + sum(fake_terms) / len(fake_terms)
    if reference is not None:
        loss = loss + (_bce(D.ref(real_f, reference), 1.0) + _bce(D.ref(fake_f, reference), 0.0)) / 2
    return loss


def _next_sentences(sentence: torch.Tensor) -> torch.Tensor:
    """s_{k+1} for each real image k of this rank that has a next item in the global batch: the
    rank's own next sentences, then the next rank's first (B - 1 of them on the last rank)."""
    world = distributed.current()
    if world.size == 1:
        return sentence[1:]
    start = world.rank * len(sentence) + 1
    return distributed.gather(sentence)[start:start + len(sentence)]


def _mismatched(logits: torch.Tensor, b: int) -> torch.Tensor:
    """BCE(C(real_k, s_{k+1}), 0), the mean over the global batch's B - 1 pairs.  A rank returns
    its share scaled so that the mean over ranks (gradient averaging) is that global mean."""
    world = distributed.current()
    if world.size == 1:
        return _bce(logits, 0.0)
    total = F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits), reduction="sum")
    return total * world.size / (world.size * b - 1)


def generator_adversarial(D, fake: torch.Tensor, sentence: torch.Tensor,
                          reference: torch.Tensor | None = None) -> torch.Tensor:
    """BCE(U(fake), 1) + BCE(C(fake, s), 1) (+ BCE(R(fake, r), 1)): G wants its images taken for
    real, matching birds (and matching the reference)."""
    f = D(fake)
    loss = _bce(D.uncond(f), 1.0) + _bce(D.cond(f, sentence), 1.0)
    if reference is not None:
        loss = loss + _bce(D.ref(f, reference), 1.0)
    return loss
