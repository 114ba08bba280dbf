"""RaGAN: the similarity loss against a loop over regions, the reference stages' shapes, the
ablation switch, the v1 discriminator terms, and an all-black reference."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from t2igan.losses import attngan as adv
from t2igan.models import ragan
from t2igan.models.attngan import init_weights


def _loop_similarity(r: torch.Tensor, f: torch.Tensor) -> list[float]:
    """mean_i max_j cos(r_i, f_j), region by region, in plain Python loops."""
    out = []
    for b in range(r.shape[0]):
        ri, fj = r[b].flatten(1).T, f[b].flatten(1).T       # [N, D], [M, D]
        best = []
        for i in range(len(ri)):
            cos = [float(ri[i] @ fj[j]) / max(float(ri[i].norm() * fj[j].norm()), 1e-12) for j in range(len(fj))]
            best.append(max(cos))
        out.append(sum(best) / len(best))
    return out


def test_similarity_equals_a_loop_over_regions():
    g = torch.Generator().manual_seed(0)
    r, f = torch.randn(3, 8, 4, 4, generator=g), torch.randn(3, 8, 5, 5, generator=g)
    expect = _loop_similarity(r, f)
    got = ragan.reference_similarity(r, f)
    assert got.tolist() == pytest.approx(expect, abs=1e-5)
    assert float(ragan.similarity_loss(r, f)) == pytest.approx(1 - sum(expect) / 3, abs=1e-5)
    # the best match is found: an image that contains the reference's regions scores 1
    f2 = f.clone().flatten(2)
    f2[:, :, :16] = r.flatten(2) * 3.0                     # a scaled copy: cosine 1
    assert ragan.reference_similarity(r, f2).tolist() == pytest.approx([1.0] * 3, abs=1e-5)
    with pytest.raises(ValueError, match="differ in batch or feature size"):
        ragan.reference_similarity(r, f[:2])


def test_zero_reference_regions_give_zero_not_nan():
    r = torch.zeros(2, 8, 3, 3)
    r[0, :, 0, 0] = 1.0                                     # sample 0: one live region out of nine
    f = torch.ones(2, 8, 2, 2, requires_grad=True)
    sim = ragan.reference_similarity(r, f)
    assert torch.isfinite(sim).all()
    assert sim.tolist() == pytest.approx([1 / 9, 0.0])     # cos(ones, ones) = 1 for the live region only
    ragan.similarity_loss(r, f).backward()
    assert torch.isfinite(f.grad).all()


def _inputs(B=2, T=5, regions=4, z_dim=10):
    g = torch.Generator().manual_seed(1)
    words = torch.randn(B, 256, T, generator=g)
    mask = torch.zeros(B, T, dtype=torch.bool)
    mask[0, 3:] = True
    return (torch.randn(B, z_dim, generator=g), torch.randn(B, 256, generator=g), words, mask,
            torch.randn(B, 256, regions, regions, generator=g), torch.randn(B, 256, generator=g))


@pytest.mark.parametrize("ref_blocks", [True, False])
def test_generator_shapes_and_the_f_ref_ablation(ref_blocks):
    torch.manual_seed(0)
    G = init_weights(ragan.Generator(gf_dim=4, z_dim=10, c_dim=6, branches=3, base_size=16, ref_blocks=ref_blocks))
    z, sentence, words, mask, regions, code = _inputs()
    images, attn, ref_attn, mu, logvar = G(z, sentence, words, mask, regions, code)
    assert [x.shape for x in images] == [(2, 3, 16, 16), (2, 3, 32, 32), (2, 3, 64, 64)]
    assert [a.shape for a in attn] == [(2, 5, 16, 16), (2, 5, 32, 32)]
    assert mu.shape == logvar.shape == (2, 6)
    # F_0 reads cat(c, z, r_bar): c_dim + z_dim + 256 inputs
    assert G.f0.fc[0].in_features == 6 + 10 + 256
    if ref_blocks:
        assert [a.shape for a in ref_attn] == [(2, 16, 16, 16), (2, 16, 32, 32)]
        torch.testing.assert_close(ref_attn[0].sum(dim=1), torch.ones(2, 16, 16))  # softmax over regions
        assert G.stages[0].res[0].body[0].in_channels == 3 * 4                    # cat(h, words, reference)
    else:
        assert ref_attn == [] and all(stage.reference is None for stage in G.stages)
        assert G.stages[0].res[0].body[0].in_channels == 2 * 4
    # the reference matters: other regions (F_ref) or another code (F_0) change the image
    G.eval()
    base = G(z, sentence, words, mask, regions, code, noise=False)[0][-1]
    other_code = G(z, sentence, words, mask, regions, -code, noise=False)[0][-1]
    other_regions = G(z, sentence, words, mask, regions.flip(0), code, noise=False)[0][-1]
    assert not torch.allclose(base, other_code)
    assert torch.allclose(base, other_regions) != ref_blocks


def test_black_reference_through_the_encoder_and_generator():
    """An all-black patch ([-1] everywhere) gives finite features, images and loss."""
    from t2igan.models.damsm import ImageEncoder

    torch.manual_seed(0)
    encoder = ImageEncoder("cnn", cnn_width=4, cnn_input=32).eval()
    G = init_weights(ragan.Generator(gf_dim=4, z_dim=10, c_dim=6, branches=2, base_size=16)).eval()
    black = torch.full((2, 3, 50, 50), -1.0)
    with torch.no_grad():
        regions, code = encoder(black)
        z, sentence, words, mask, _, _ = _inputs()
        images = G(z, sentence, words, mask, regions, code)[0]
        image_regions, _ = encoder(images[-1])
    assert regions.shape == (2, 256, 4, 4) and all(torch.isfinite(x).all() for x in images)
    assert torch.isfinite(ragan.similarity_loss(regions, image_regions))


def test_v1_discriminator_terms_by_hand():
    """D loss with a reference: AttnGAN's (real group / 2, fake group with the mismatched pairs / 3) plus the
    thesis's two reference terms, -1/2 E[log D(x, r_bar)] - 1/2 E[log(1 - D(G(z), r_bar))] (section 3.2.4)."""
    torch.manual_seed(0)
    D = init_weights(ragan.RefDiscriminator(32, df_dim=4)).eval()
    g = torch.Generator().manual_seed(2)
    real, fake = torch.randn(3, 3, 32, 32, generator=g), torch.randn(3, 3, 32, 32, generator=g)
    s, r = torch.randn(3, 256, generator=g), torch.randn(3, 256, generator=g)

    def bce(logits, target):
        return float(-(target * F.logsigmoid(logits) + (1 - target) * F.logsigmoid(-logits)).mean())

    with torch.no_grad():
        fr, ff = D(real), D(fake)
        attngan_only = ((bce(D.uncond(fr), 1) + bce(D.cond(fr, s), 1)) / 2
                        + (bce(D.uncond(ff), 0) + bce(D.cond(ff, s), 0) + bce(D.cond(fr[:-1], s[1:]), 0)) / 3)
        # the thesis's terms, from the probabilities: -1/2 mean log D(x, r) - 1/2 mean log(1 - D(G(z), r))
        d_real, d_fake = torch.sigmoid(D.ref(fr, r)), torch.sigmoid(D.ref(ff, r))
        thesis = float(-0.5 * torch.log(d_real).mean() - 0.5 * torch.log(1 - d_fake).mean())
        assert float(adv.discriminator_loss(D, real, fake, s, r)) == pytest.approx(attngan_only + thesis, rel=1e-5)
        assert float(adv.discriminator_loss(D, real, fake, s)) == pytest.approx(attngan_only, rel=1e-5)
        g_expect = bce(D.uncond(ff), 1) + bce(D.cond(ff, s), 1) + bce(D.ref(ff, r), 1)
        assert float(adv.generator_adversarial(D, fake, s, r)) == pytest.approx(g_expect, rel=1e-5)


def test_variant_options_pick_discriminators_and_weight_the_similarity():
    from t2igan.variants.ragan import RaGAN

    def settings(**options):
        return SimpleNamespace(gf_dim=4, df_dim=4, z_dim=10, c_dim=6, r_num=1, sizes=[16, 32], variant="r",
                               options=options)

    v0 = RaGAN(settings(), damsm=None)
    assert (v0.o.version, v0.o.lambda2, v0.o.ref_blocks, v0.o.reference_species) == (0, 1.0, True, "any")
    _, Ds = v0.build()
    assert not any(hasattr(D, "ref") for D in Ds)
    v1 = RaGAN(settings(version=1, lambda2=5.0), damsm=None)
    _, Ds = v1.build()
    assert all(isinstance(D, ragan.RefDiscriminator) for D in Ds)
    from t2igan.variants.base import Fake

    fake = Fake(images=[], extra={"ref_code": torch.ones(2, 256), "ref_regions": torch.ones(2, 256, 2, 2)})
    assert v0.discriminator_reference(fake) is None and v1.discriminator_reference(fake) is not None
    weight, loss = v1.more_g_terms(None, fake, torch.ones(2, 256, 3, 3))["sim"]
    assert weight == 5.0 and math.isclose(float(loss), 0.0, abs_tol=1e-6)   # identical directions: 1 - 1
    with pytest.raises(ValueError, match="takes a reference patch with every caption"):
        v1.encode_reference(None)
