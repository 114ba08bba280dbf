"""AttnGAN networks: shapes at every scale, paper-scale sizes, the word-attention mask (issue #93), init."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from t2igan.models.attngan import (
    GLU,
    CondAugment,
    Conv2d,
    Discriminator,
    Generator,
    ResBlock,
    UpConv3x3,
    WordAttention,
    count_params,
    init_weights,
    kl_loss,
    up_block,
)

D = 256  # DAMSM feature size


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These networks are tiny: on a busy 2-core machine extra threads only contend (orthogonal
    init's QR took 0.4 s instead of 3 ms with 2 threads); restore the setting afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _pad_mask(lengths: list[int], T: int) -> torch.Tensor:
    return torch.arange(T)[None, :] >= torch.tensor(lengths)[:, None]


def _inputs(B=2, T=5, z_dim=100, lengths=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = lengths or [T] + [2] * (B - 1)
    return (torch.randn(B, z_dim, generator=g), torch.randn(B, D, generator=g),
            torch.randn(B, D, T, generator=g), _pad_mask(lengths, T))


# ---------------------------------------------------------------- shapes

@pytest.mark.parametrize("branches,base", [(1, 64), (2, 64), (3, 64), (2, 32)])
def test_generator_shapes(branches, base):
    G = Generator(gf_dim=4, branches=branches, base_size=base)
    z, sentence, words, mask = _inputs()
    images, attentions, mu, logvar = G(z, sentence, words, mask)
    sizes = [base * 2 ** i for i in range(branches)]
    assert G.image_sizes == sizes
    assert [tuple(x.shape) for x in images] == [(2, 3, s, s) for s in sizes]
    assert [tuple(a.shape) for a in attentions] == [(2, 5, s, s) for s in sizes[:-1]]
    assert mu.shape == logvar.shape == (2, 100)
    assert all(x.abs().max() <= 1 for x in images)  # tanh heads


def test_one_branch_needs_no_words_but_two_do():
    G = Generator(gf_dim=4, branches=1)
    z, sentence, _, _ = _inputs()
    assert G(z, sentence, None)[0][0].shape == (2, 3, 64, 64)
    with pytest.raises(ValueError, match="need word features"):
        Generator(gf_dim=4, branches=2)(z, sentence, None)


@pytest.mark.parametrize("size", [16, 32, 64, 128, 256])
def test_discriminator_logit_shapes(size):
    Dnet = Discriminator(size, df_dim=4)
    features = Dnet(torch.randn(3, 3, size, size))
    assert features.shape == (3, 32, 4, 4)
    assert Dnet.uncond(features).shape == (3,) and Dnet.cond(features, torch.randn(3, D)).shape == (3,)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="base_size must be a power of two"):
        Generator(gf_dim=4, base_size=48)
    with pytest.raises(ValueError, match="discriminator size must be a power of two >= 16"):
        Discriminator(8)
    with pytest.raises(ValueError, match="takes 64 x 64 images"):
        Discriminator(64, df_dim=4)(torch.randn(2, 3, 128, 128))


def test_conditional_logit_reads_the_sentence_unconditional_cannot():
    Dnet = Discriminator(64, df_dim=4).eval()
    features = Dnet(torch.randn(2, 3, 64, 64))
    s1, s2 = torch.randn(2, D), torch.randn(2, D)
    assert not torch.allclose(Dnet.cond(features, s1), Dnet.cond(features, s2))
    # the unconditional head sees only the 8df feature channels: there is no input for a sentence
    assert Dnet.uncond.out.in_channels == 32 and count_params(Dnet.uncond) == 32 * 16 + 1
    assert Dnet.cond.joint[0].in_channels == 32 + D


def _concatenated_cond(head, features, sentence):
    """The textbook joint conv: the sentence tiled over the map, concatenated, one 3x3 conv."""
    tiled = sentence[:, :, None, None].expand(-1, -1, *features.shape[2:])
    conv, norm, act = head.joint
    return head.out(act(norm(F.conv2d(torch.cat([features, tiled], 1), conv.weight, padding=1)))).view(-1)


@pytest.mark.parametrize("side", [4, 5])
def test_split_joint_conv_is_the_concatenated_conv_in_float64(side):
    torch.manual_seed(0)
    head = Discriminator(64, df_dim=4).cond.double()          # training mode: BatchNorm on batch statistics
    for p in head.parameters():
        p.data.normal_()
    features = torch.randn(6, 32, side, side, dtype=torch.float64, requires_grad=True)
    sentence = torch.randn(6, D, dtype=torch.float64, requires_grad=True)
    matched, mismatched = head.pairs(features, [sentence, sentence[1:]])
    want_matched = _concatenated_cond(head, features, sentence)
    want_mismatched = _concatenated_cond(head, features[:-1], sentence[1:])
    torch.testing.assert_close(matched, want_matched, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(mismatched, want_mismatched, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(head(features, sentence), want_matched, rtol=1e-10, atol=1e-10)
    weights = torch.randn(6, dtype=torch.float64)
    inputs = [features, sentence, *head.parameters()]
    got = torch.autograd.grad((matched * weights).sum() + mismatched.sum(), inputs)
    want = torch.autograd.grad((want_matched * weights).sum() + want_mismatched.sum(), inputs)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------- paper-scale parameter counts

def test_paper_scale_parameter_counts_match_models_md():
    with torch.device("meta"):  # no memory, no init: D256 alone is 72 M parameters
        counts = {"G": count_params(Generator()), **{f"D{s}": count_params(Discriminator(s)) for s in (64, 128, 256)}}
    want = {"G": 7.1e6, "D64": 6.3e6, "D128": 19.4e6, "D256": 71.9e6}  # MODELS.md, heads included
    for k, n in want.items():
        assert abs(counts[k] - n) / n < 0.01, (k, counts[k], n)
    assert counts == {"G": 7_084_592, "D64": 6_313_730, "D128": 19_424_002, "D256": 71_858_946}


# ---------------------------------------------------------------- word attention

def _attend(att, h, words, lengths):
    return att(h, words, _pad_mask(lengths, words.shape[2]))


def test_attention_is_zero_on_padding_and_sums_to_one():
    torch.manual_seed(0)
    att = WordAttention(6, D)
    lengths = [5, 2, 3, 1]
    context, attn = _attend(att, torch.randn(4, 6, 3, 3), torch.randn(4, D, 5), lengths)
    assert context.shape == (4, 6, 3, 3) and attn.shape == (4, 5, 3, 3)
    for b, n in enumerate(lengths):
        assert (attn[b, n:] == 0).all(), b
        assert torch.allclose(attn[b, :n].sum(0), torch.ones(3, 3)), b


def test_padded_word_values_change_nothing():
    torch.manual_seed(1)
    att = WordAttention(6, D)
    h, words, lengths = torch.randn(3, 6, 4, 4), torch.randn(3, D, 5), [5, 2, 3]
    noisy = words.clone()
    noisy[1, :, 2:] = 1e3 * torch.randn(D, 3)  # garbage where sample 1 has padding
    a, b = _attend(att, h, words, lengths), _attend(att, h, noisy, lengths)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_padded_word_values_change_nothing_in_the_generator():
    torch.manual_seed(2)
    G = init_weights(Generator(gf_dim=4, branches=2, base_size=32)).eval()
    z, sentence, words, mask = _inputs(B=3, lengths=[5, 2, 3])
    noisy = words.clone()
    noisy[1, :, 2:] = 50.0
    a, b = G(z, sentence, words, mask, noise=False), G(z, sentence, noisy, mask, noise=False)
    assert all(torch.equal(x, y) for x, y in zip(a[0] + a[1], b[0] + b[1]))


def test_one_samples_length_leaves_the_others_alone():
    torch.manual_seed(3)
    att = WordAttention(6, D)
    h, words = torch.randn(3, 6, 4, 4), torch.randn(3, D, 5)
    _, a = _attend(att, h, words, [5, 2, 3])
    _, b = _attend(att, h, words, [5, 4, 3])
    assert torch.equal(a[0], b[0]) and torch.equal(a[2], b[2])
    assert not torch.allclose(a[1], b[1])


def test_the_originals_mask_order_would_fail():
    """Issue #93 rebuilt: scores flattened to [B * pixels, T], mask.repeat(pixels, 1) against them.

    Row r belongs to sample r // pixels but got mask row r % B, so padding of some sample gets
    attention: exactly what test_attention_is_zero_on_padding_and_sums_to_one rules out.
    """
    torch.manual_seed(8)
    att = WordAttention(6, D)
    B, T, lengths = 3, 5, [5, 2, 3]
    h, words, mask = torch.randn(B, 6, 2, 2), torch.randn(B, D, T), _pad_mask(lengths, T)
    scores = torch.einsum("bcn,bct->bnt", h.flatten(2), att.project(words)).reshape(B * 4, T)
    original = torch.softmax(scores.masked_fill(mask.repeat(4, 1), float("-inf")), -1).reshape(B, 4, T)
    assert (original[1, :, 2:] > 0).any()                 # sample 1 attends to its padding
    _, ours = att(h, words, mask)
    assert (ours[1, 2:] == 0).all()


def test_all_padding_sample_attends_to_nothing_without_nan():
    torch.manual_seed(4)
    att = WordAttention(6, D)
    h, words = torch.randn(2, 6, 3, 3, requires_grad=True), torch.randn(2, D, 4)
    mask = torch.tensor([[False, False, True, True], [True, True, True, True]])
    context, attn = att(h, words, mask)
    assert torch.isfinite(context).all() and torch.isfinite(attn).all()
    assert (attn[1] == 0).all() and (context[1] == 0).all()
    context.sum().backward()
    assert torch.isfinite(h.grad).all()


def test_attention_rejects_a_non_bool_mask():
    att = WordAttention(6, D)
    with pytest.raises(ValueError, match="pad_mask must be bool"):
        att(torch.randn(2, 6, 3, 3), torch.randn(2, D, 4), torch.zeros(2, 4, dtype=torch.long))


# ---------------------------------------------------------------- blocks, conditioning augmentation

def test_glu_and_blocks():
    x = torch.randn(2, 6, 3, 3)
    assert torch.allclose(GLU()(x), x[:, :3] * torch.sigmoid(x[:, 3:]))
    with pytest.raises(ValueError, match="even number of channels"):
        GLU()(torch.randn(2, 5))
    assert up_block(6, 4)(x).shape == (2, 4, 6, 6)
    block = ResBlock(6)
    assert block(x).shape == x.shape
    torch.nn.init.zeros_(block.body[-1].weight)  # last BN scale 0: the residual branch adds 0 ...
    torch.nn.init.zeros_(block.body[-1].bias)
    assert torch.equal(block(x), x)               # ... and the block is the identity


def test_kl_loss_by_hand_and_noise_free_code():
    mu = torch.tensor([[0.5, -1.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)]])
    by_hand = -0.5 * ((1 + 0 - 0.25 - 1) + (1 + math.log(2.0) - 1 - 2)) / 2
    assert abs(float(kl_loss(mu, logvar)) - by_hand) < 1e-6
    assert float(kl_loss(torch.zeros(3, 4), torch.zeros(3, 4))) == 0.0

    ca = CondAugment(D, 10)
    sentence = torch.randn(4, D)
    c, mu, logvar = ca(sentence, noise=False)
    assert c.shape == mu.shape == logvar.shape == (4, 10) and torch.equal(c, mu)
    torch.manual_seed(5)
    c1, mu1, _ = ca(sentence)
    torch.manual_seed(5)
    c2, _, _ = ca(sentence)
    assert torch.equal(c1, c2) and not torch.allclose(c1, mu1)


# ---------------------------------------------------------------- init and determinism

def test_init_weights_orthogonal_and_batchnorm():
    torch.manual_seed(6)
    G = init_weights(Generator(gf_dim=8, branches=2, base_size=32))
    for w in (G.f0.ups[0][0].weight, G.stages[0].res[0].body[0].weight, G.ca.fc.weight, G.f0.fc[0].weight):
        W = w.detach().reshape(w.shape[0], -1)
        small = W @ W.T if W.shape[0] <= W.shape[1] else W.T @ W
        assert torch.allclose(small, torch.eye(small.shape[0]), atol=1e-4), tuple(w.shape)
    assert (G.ca.fc.bias == 0).all()
    bn = [m for m in G.modules() if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))]
    weights = torch.cat([m.weight.detach() for m in bn])
    assert abs(float(weights.mean()) - 1) < 0.005 and 0.01 < float(weights.std()) < 0.03
    assert all((m.bias == 0).all() for m in bn)


def test_same_seed_same_generator_output():
    def run():
        torch.manual_seed(7)
        G = init_weights(Generator(gf_dim=4, branches=2, base_size=32))
        z, sentence, words, mask = _inputs(B=3, lengths=[5, 2, 3])
        return G(z, sentence, words, mask)  # train mode: conditioning noise drawn from the global RNG

    (ia, aa, mua, _), (ib, ab, mub, _) = run(), run()
    assert all(torch.equal(x, y) for x, y in zip(ia + aa, ib + ab)) and torch.equal(mua, mub)


# ---------------------------------------------------------------- the fused upsampling conv

@pytest.mark.parametrize("side", [4, 8, 16])
def test_up_conv_equals_upsample_then_conv(side):
    """UpConv3x3 is nearest x2 then conv3x3 (both paths: small inputs and the transposed conv),
    forward and both gradients, to fp32 rounding; and it keeps Conv2d's weight layout."""
    torch.manual_seed(8)
    up = UpConv3x3(6, 10)
    assert up.weight.shape == (10, 6, 3, 3) and up.bias is None
    x = torch.randn(3, 6, side, side, dtype=torch.float64, requires_grad=True)
    w = up.weight.detach().double().requires_grad_()
    ref = torch.nn.functional.conv2d(torch.nn.functional.interpolate(x, scale_factor=2.0, mode="nearest"), w,
                                     padding=1)
    up = up.double()
    out = up(x)
    assert out.shape == (3, 10, 2 * side, 2 * side)
    g = torch.randn_like(ref)
    gx_ref, gw_ref = torch.autograd.grad(ref, (x, w), g)
    gx, gw = torch.autograd.grad(out, (x, up.weight), g)
    for a, b in ((out, ref), (gx, gx_ref), (gw, gw_ref)):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kernel, stride, bias", [(4, 2, False), (3, 1, True)])
def test_wide_conv_gemm_path_equals_conv2d(monkeypatch, kernel, stride, bias):
    """The CPU GEMM path of the widest convs computes nn.Conv2d's function, with its gradients."""
    torch.manual_seed(9)
    conv = Conv2d(5, 7, kernel, stride, 1, bias=bias).double()
    x = torch.randn(3, 5, 8, 8, dtype=torch.float64, requires_grad=True)
    ref = torch.nn.functional.conv2d(x, conv.weight, conv.bias, stride, 1)
    grads_ref = torch.autograd.grad(ref.square().sum(), (x, conv.weight))
    monkeypatch.setattr(Conv2d, "GEMM_MIN_WEIGHTS", 1)  # every conv takes the GEMM path
    out = conv(x)
    grads = torch.autograd.grad(out.square().sum(), (x, conv.weight))
    assert out.shape == ref.shape and torch.allclose(out, ref, rtol=1e-10, atol=1e-12)
    assert all(torch.allclose(a, b, rtol=1e-10, atol=1e-12) for a, b in zip(grads, grads_ref))
