"""The vectorised DAMSM losses against a direct loop over the paper's formulas."""
from __future__ import annotations

import math

import torch

from t2igan.losses import damsm

G1, G2, G3 = 4.0, 5.0, 10.0


def loop_reference(words, sentence, regions, image_code, lengths, class_ids):
    """One caption and one image at a time, with plain loops and explicit formulas."""
    B = words.shape[0]
    R = torch.zeros(B, B, dtype=torch.float64)  # [caption, image]
    S = torch.zeros(B, B, dtype=torch.float64)
    for i in range(B):
        e = words[i, :, : lengths[i]].double()                  # D x T_i, real words only
        for j in range(B):
            v = regions[j].flatten(1).double()                  # D x N
            s = e.T @ v                                          # T_i x N
            s = torch.softmax(s, dim=0)                          # over words, per region
            a = torch.softmax(G1 * s, dim=1)                     # over regions, per word
            c = v @ a.T                                          # D x T_i
            total = 0.0
            for t in range(int(lengths[i])):
                cos = float(c[:, t] @ e[:, t] / max(c[:, t].norm() * e[:, t].norm(), 1e-8))
                total += math.exp(G2 * cos)
            R[i, j] = math.log(total)
            S[i, j] = float(sentence[i].double() @ image_code[j].double()
                            / (sentence[i].double().norm() * image_code[j].double().norm()))
    out = {}
    for name, rel in (("w", R), ("s", S)):
        logits = G3 * rel
        for i in range(B):
            for j in range(B):
                others_same = sum(1 for k in range(B) if k != i and class_ids[k] == class_ids[i])
                if i != j and class_ids[i] == class_ids[j] and others_same < B - 1:
                    logits[i, j] = float("-inf")
        # loss 0: per image, which caption; loss 1: per caption, which image
        l0 = -sum(torch.log_softmax(logits[:, j], 0)[j] for j in range(B)) / B
        l1 = -sum(torch.log_softmax(logits[i, :], 0)[i] for i in range(B)) / B
        out[name + "0"], out[name + "1"] = float(l0), float(l1)
    return out


def _batch(B=6, D=8, T=7, H=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    words = torch.randn(B, D, T, generator=g)
    lengths = torch.tensor([7, 3, 5, 1, 7, 2][:B])
    words = words * damsm.word_mask(lengths, T)[:, None, :]  # padded positions hold zeros, like an LSTM's
    return (words, torch.randn(B, D, generator=g), torch.randn(B, D, H, H, generator=g),
            torch.randn(B, D, generator=g), lengths)


def test_matches_loop_with_padding_and_repeated_classes():
    words, sentence, regions, image_code, lengths = _batch()
    class_ids = torch.tensor([1, 2, 1, 3, 2, 4])
    got = damsm.damsm_loss(words, sentence, regions, image_code, lengths, class_ids)
    want = loop_reference(words, sentence, regions, image_code, lengths, class_ids.tolist())
    for k in ("w0", "w1", "s0", "s1"):
        assert abs(float(got[k]) - want[k]) < 1e-4, (k, float(got[k]), want[k])
    assert torch.isclose(got["total"], got["w0"] + got["w1"] + got["s0"] + got["s1"])


def test_padding_content_is_ignored():
    words, sentence, regions, image_code, lengths = _batch(seed=1)
    noisy = words.clone()
    noisy[1, :, 3:] = 100.0  # garbage beyond caption 1's three words
    ids = torch.arange(6)
    a = damsm.damsm_loss(words, sentence, regions, image_code, lengths, ids)
    b = damsm.damsm_loss(noisy, sentence, regions, image_code, lengths, ids)
    assert torch.allclose(a["total"], b["total"])


def test_one_class_batch_keeps_its_negatives():
    words, sentence, regions, image_code, lengths = _batch(seed=2)
    same = torch.zeros(6, dtype=torch.long)
    assert not damsm.class_mask(same).any()
    got = damsm.damsm_loss(words, sentence, regions, image_code, lengths, same)
    want = loop_reference(words, sentence, regions, image_code, lengths, [0] * 6)
    assert float(got["total"]) > 0.1
    for k in ("w0", "w1", "s0", "s1"):
        assert abs(float(got[k]) - want[k]) < 1e-4
    # equal to no masking at all
    unmasked = damsm.damsm_loss(words, sentence, regions, image_code, lengths, None)
    assert torch.allclose(got["total"], unmasked["total"])


def test_mask_removes_only_same_class_offdiagonal():
    m = damsm.class_mask(torch.tensor([5, 5, 7, 8]))
    assert m.tolist() == [[False, True, False, False], [True, False, False, False],
                          [False, False, False, False], [False, False, False, False]]


def test_gradients_flow_to_all_inputs():
    words, sentence, regions, image_code, lengths = (t.requires_grad_() if t.is_floating_point() else t
                                                     for t in _batch(seed=3))
    damsm.damsm_loss(words, sentence, regions, image_code, lengths, torch.arange(6))["total"].backward()
    for t in (words, sentence, regions, image_code):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0
