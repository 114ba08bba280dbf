"""DAMSM word and sentence losses (AttnGAN section 3.2), vectorised over the batch.

Notation of the paper: e = word features (D x T) of a caption, v = region features (D x N)
of an image, gamma1 sharpens the attention over regions, gamma2 the pooling over words,
gamma3 scales the B x B relevance matrix into logits.  Entries (i, j), i != j, whose items
share a class are masked out, because such a caption may describe the other image too.

All B x B (caption, image) pairs are computed at once: the original looped over captions
in Python.  ``tests/test_damsm_losses.py`` checks this against a loop over the formulas.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-8  # as torch.nn.functional.cosine_similarity


def word_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """Bool [B, T]: True at real words."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def attend(words: torch.Tensor, regions: torch.Tensor, lengths: torch.Tensor, gamma1: float
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Region context of every word of every caption, against every image.

    words [B, D, T], regions [B, D, N] (N = H * W).  Returns the context
    c [Bc, Bi, D, T] and the attention over regions a [Bc, Bi, T, N].
    Softmax over words first (padded words excluded), then gamma1 times that, softmax over
    regions, as in AttnGAN's ``func_attention``.
    """
    s = torch.einsum("idt,jdn->ijtn", words, regions)
    pad = ~word_mask(lengths, words.shape[2])[:, None, :, None]  # [Bc, 1, T, 1]
    over_words = torch.softmax(s.masked_fill(pad, float("-inf")), dim=2)
    attn = torch.softmax(gamma1 * over_words, dim=3)
    context = torch.einsum("jdn,ijtn->ijdt", regions, attn)
    return context, attn


def word_relevance(words: torch.Tensor, regions: torch.Tensor, lengths: torch.Tensor, gamma1: float,
                   gamma2: float) -> torch.Tensor:
    """R(Q_i, D_j) = log sum_t exp(gamma2 * cos(c_t, e_t)) over real words; [Bc, Bi].

    The context c_t = V a_t (V the regions, a_t the attention over them) is never formed:
    c_t . e_t = a_t . (V^T e_t), which is the attention weights times the scores already
    computed, and |c_t|^2 = a_t^T (V^T V) a_t with the N x N Gram matrix of each image.
    That is exactly the same number at a fraction of the memory and time.
    """
    scores = torch.einsum("idt,jdn->ijtn", words, regions)
    pad = ~word_mask(lengths, words.shape[2])[:, None, :, None]
    attn = torch.softmax(gamma1 * torch.softmax(scores.masked_fill(pad, float("-inf")), dim=2), dim=3)
    dot = (attn * scores).sum(dim=3)                                        # c_t . e_t   [Bc, Bi, T]
    gram = torch.einsum("jdn,jdm->jnm", regions, regions)
    context_sq = (torch.einsum("ijtn,jnm->ijtm", attn, gram) * attn).sum(dim=3)
    norms = context_sq.clamp(min=EPS * EPS).sqrt() * words.norm(dim=1)[:, None]
    cos = dot / norms.clamp(min=EPS)
    return torch.logsumexp((gamma2 * cos).masked_fill(pad[..., 0], float("-inf")), dim=2)


def sentence_relevance(image_code: torch.Tensor, sentence_code: torch.Tensor) -> torch.Tensor:
    """cos(global image code j, sentence code i); [Bc, Bi]."""
    dot = sentence_code @ image_code.T
    norms = sentence_code.norm(dim=1)[:, None] * image_code.norm(dim=1)[None, :]
    return dot / norms.clamp(min=EPS)


def class_mask(class_ids: torch.Tensor | None) -> torch.Tensor | None:
    """Bool [B, B]: True where i != j share a class (masked out of the logits).

    A row that would lose every negative (all items of one class) keeps its negatives:
    with nothing to contrast the row's loss would be exactly zero, and a batch of one
    species would teach nothing.
    """
    if class_ids is None:
        return None
    same = class_ids[:, None] == class_ids[None, :]
    same.fill_diagonal_(False)
    all_masked = same.sum(dim=1) == len(class_ids) - 1
    return same & ~all_masked[:, None]


def contrastive(relevance: torch.Tensor, gamma3: float, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy against the diagonal both ways: (image given caption, caption given image)."""
    logits = gamma3 * relevance
    if mask is not None:
        logits = logits.masked_fill(mask, float("-inf"))
    target = torch.arange(len(logits), device=logits.device)
    return F.cross_entropy(logits.T, target), F.cross_entropy(logits, target)


def damsm_loss(words: torch.Tensor, sentence: torch.Tensor, regions: torch.Tensor, image_code: torch.Tensor,
               lengths: torch.Tensor, class_ids: torch.Tensor | None, *, gamma1: float = 4.0,
               gamma2: float = 5.0, gamma3: float = 10.0) -> dict[str, torch.Tensor]:
    """The four DAMSM terms.  regions may be [B, D, H, W]; returns w0, w1, s0, s1 and their sum."""
    regions = regions.flatten(2)
    mask = class_mask(class_ids)
    w0, w1 = contrastive(word_relevance(words, regions, lengths, gamma1, gamma2), gamma3, mask)
    s0, s1 = contrastive(sentence_relevance(image_code, sentence), gamma3, mask)
    return {"w0": w0, "w1": w1, "s0": s0, "s1": s1, "total": w0 + w1 + s0 + s1}
