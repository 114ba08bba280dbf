"""DualAttnGAN networks: the dual attention module against hand computations, shapes, spectral norm."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from t2igan.models import dualattngan as dual
from t2igan.models.attngan import ResBlock, init_weights

D = 256


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _inputs(B=2, T=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.arange(T)[None, :] >= torch.tensor([T] + [2] * (B - 1))[:, None]
    return torch.randn(B, 100, generator=g), torch.randn(B, D, generator=g), torch.randn(B, D, T, generator=g), mask


def test_channel_attention_by_hand():
    cam = dual.ChannelAttention(2)                      # 2 channels: hidden width max(1, 2 // 8) = 1
    with torch.no_grad():
        cam.mlp[0].weight.copy_(torch.tensor([[1.0, -1.0]]))
        cam.mlp[0].bias.zero_()
        cam.mlp[2].weight.copy_(torch.tensor([[2.0], [0.5]]))
        cam.mlp[2].bias.copy_(torch.tensor([0.0, -1.0]))
    h = torch.tensor([[[[1.0, 3.0]], [[0.0, -2.0]]]])  # [1, 2, 1, 2]
    # avg pool = (2, -1): hidden relu(2 + 1) = 3 -> 3 * (2, 0.5) + (0, -1) = (6, 0.5)
    # max pool = (3, 0):  hidden relu(3 - 0) = 3 -> (6, 0.5); the gate is sigmoid of the sum
    gate = torch.sigmoid(torch.tensor([12.0, 1.0]))
    torch.testing.assert_close(cam.gate(h), gate[None])
    torch.testing.assert_close(cam(h), h * gate[None, :, None, None])


def test_channel_attention_mlp_width_follows_cbam():
    assert dual.ChannelAttention(256).mlp[0].out_features == 16   # reduction 16
    assert dual.ChannelAttention(64).mlp[0].out_features == 8     # narrow layers: 8


def test_self_attention_equals_the_plain_formula():
    torch.manual_seed(0)
    sa = dual.SelfAttention(16)
    x = torch.randn(2, 16, 5, 3)
    q = sa.query(x).flatten(2)                           # [B, 2, N]
    k = sa.key(x).flatten(2)
    v = sa.value(x).flatten(2)                           # [B, 16, N]
    beta = torch.softmax(torch.einsum("bcj,bci->bji", q, k), dim=-1)  # [B, N (queries), N (keys)], unscaled
    o = torch.einsum("bci,bji->bcj", v, beta).reshape(2, 16, 5, 3)
    torch.testing.assert_close(sa.attend(x), o, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(sa(x), x)                # gamma starts at 0: the identity
    with torch.no_grad():
        sa.gamma.fill_(0.7)
    torch.testing.assert_close(sa(x), x + 0.7 * o, atol=1e-5, rtol=1e-5)


def test_self_attention_runs_at_128_px():
    sa = dual.SelfAttention(8)                           # 16,384 positions; a plain fp32 matrix is 1 GiB
    with torch.no_grad():
        sa.gamma.fill_(1.0)
        y = sa(torch.randn(1, 8, 128, 128))
    assert y.shape == (1, 8, 128, 128) and torch.isfinite(y).all()


def test_dual_attention_embedding():
    torch.manual_seed(0)
    dam = dual.DualAttention(8)
    h = torch.randn(2, 8, 4, 4)
    _, _, words, mask = _inputs()
    aem, attn = dam(h, words, mask)
    context, attn_ref = dam.textual(h, words, mask)
    torch.testing.assert_close(aem, torch.cat([h + context, h + dam.spatial(dam.channel(h))], dim=1))
    torch.testing.assert_close(attn, attn_ref)
    assert aem.shape == (2, 16, 4, 4) and attn.shape == (2, 5, 4, 4)


def test_inverted_residual():
    torch.manual_seed(0)
    block = dual.InvertedResidual(8).eval()
    x = torch.randn(2, 8, 6, 6)
    assert block(x).shape == x.shape
    depthwise = block.body[3]
    assert depthwise.groups == 48 and depthwise.weight.shape == (48, 1, 3, 3)   # expansion 6
    with torch.no_grad():
        block.body[-1].weight.zero_()                    # last BN scale 0: the block is the identity
    torch.testing.assert_close(block(x), x)


@pytest.mark.parametrize("full", [True, False])
@pytest.mark.parametrize("branches,base", [(1, 32), (2, 32), (3, 16)])
def test_generator_shapes(full, branches, base):
    G = dual.Generator(gf_dim=4, branches=branches, base_size=base, full=full)
    z, sentence, words, mask = _inputs()
    images, attentions, mu, logvar = G(z, sentence, words, mask)
    sizes = [base * 2 ** i for i in range(branches)]
    assert [tuple(x.shape) for x in images] == [(2, 3, s, s) for s in sizes]
    assert [tuple(a.shape) for a in attentions] == [(2, 5, s, s) for s in sizes[:-1]]
    assert mu.shape == logvar.shape == (2, 100) and all(x.abs().max() <= 1 for x in images)
    blocks = [m for m in G.modules() if isinstance(m, (dual.InvertedResidual, ResBlock))]
    assert len(blocks) == 2 * (branches - 1)
    assert all(isinstance(b, dual.InvertedResidual if full else ResBlock) for b in blocks)
    assert not any(isinstance(m, nn.GLU) for m in G.f0.modules())
    assert any(isinstance(m, nn.ReLU) for m in G.f0.modules())   # F_0 with ReLU, not GLU


def test_spectral_norm_on_every_layer_of_the_full_variant_only():
    from types import SimpleNamespace

    from t2igan.variants.dualattngan import DualAttnGAN

    for full in (False, True):
        s = SimpleNamespace(gf_dim=4, df_dim=4, z_dim=100, c_dim=100, r_num=1, sizes=[32, 64],
                            options={"full": full})
        torch.manual_seed(0)
        G, Ds = DualAttnGAN(s, damsm=None).build()
        layers = [m for net in (G, Ds) for m in net.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))]
        assert layers and all(hasattr(m, "parametrizations") == full for m in layers)
    torch.manual_seed(0)
    G, _ = DualAttnGAN(s, damsm=None).build()  # s: the last one, full = True
    G.train()
    z, sentence, words, mask = _inputs(B=4)
    for _ in range(30):                                  # power iterations run in training forwards
        G(z, sentence, words, mask)
    fc = G.f0.fc[0]
    assert float(torch.linalg.matrix_norm(fc.weight.detach(), ord=2)) == pytest.approx(1.0, abs=0.05)


def test_same_seed_same_output():
    def run():
        torch.manual_seed(3)
        G = init_weights(dual.Generator(gf_dim=4, branches=2, base_size=16))
        return G(*_inputs(), noise=False)[0][-1]
    torch.testing.assert_close(run(), run())
