"""DRAW: filterbanks, the KL, the latent statistics, attention's read/write, conditioning."""
from __future__ import annotations

import pytest
import torch

from t2igan.models import draw


def test_filterbank_rows_sum_to_one_and_peak_at_their_centres():
    g = torch.Generator().manual_seed(0)
    B, A, N = 4, 12, 5
    centre = torch.rand(B, generator=g) * A + 1
    delta = torch.rand(B, generator=g) * 2 + 0.2
    sigma2 = torch.rand(B, generator=g) + 0.1
    fb = draw.filterbank(centre, delta, sigma2, A, N)
    assert fb.shape == (B, N, A)
    torch.testing.assert_close(fb.sum(dim=-1), torch.ones(B, N))
    # the filter centres mu_i = g + (i - N/2 - 1/2) delta, i = 1..N: a sharp filter peaks at round(mu_i)
    sharp = draw.filterbank(torch.tensor([6.5]), torch.tensor([1.0]), torch.tensor([0.01]), A, N)
    assert (sharp[0].argmax(dim=-1) + 1).tolist() == [4, 5, 6, 7, 8]   # mu = 4.5..8.5 -> ties go low


def test_kl_per_step_matches_the_closed_form():
    g = torch.Generator().manual_seed(1)
    mu, logvar = torch.randn(3, 5, 7, generator=g), torch.randn(3, 5, 7, generator=g)
    expect = torch.distributions.kl_divergence(torch.distributions.Normal(mu, (0.5 * logvar).exp()),
                                               torch.distributions.Normal(0.0, 1.0)).sum(-1).mean(-1)
    torch.testing.assert_close(draw.kl_per_step(mu, logvar), expect)
    assert draw.kl_per_step(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4)).tolist() == [0.0, 0.0]


def test_latent_statistics_by_hand():
    mu = torch.tensor([[[1.0, 0.0], [-1.0, 0.0]]])                    # one step, two images, two dims
    logvar = torch.log(torch.tensor([[[0.5, 1.0], [0.5, 0.96]]]))
    stats = draw.latent_statistics(mu, logvar)
    # dim 0: var of means 1 + mean variance 0.5 = 1.5; dim 1: 0 + 0.98 -> law (1.5 + 0.98) / 2
    assert stats["variance_law"] == pytest.approx([1.24])
    assert stats["inactive"] == [1]                                    # dim 1's mean variance 0.98 > 0.9


def test_an_identity_glimpse_reads_the_image():
    """Centred grid, stride 1, N = A and a tiny variance: F is the identity, the glimpse is x."""
    torch.manual_seed(0)
    model = draw.DRAW(8, channels=3, steps=2, z_dim=4, enc_dim=16, dec_dim=16, read_n=8, write_n=8)
    with torch.no_grad():
        model.read_params.weight.zero_()
        # g~ = 0 (centre), log sigma^2 = log 1e-3, log delta~ = 0 (stride 1), log gamma = 0
        model.read_params.bias.copy_(torch.tensor([0.0, 0.0, -6.9, 0.0, 0.0]))
    x, x_hat = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    r = model.read(x, x_hat, torch.zeros(2, 16))
    torch.testing.assert_close(r, torch.cat([x.flatten(1), x_hat.flatten(1)], dim=1), atol=1e-4, rtol=0)


@pytest.mark.parametrize("attention", [False, True])
def test_shapes_loss_and_sampling(attention):
    torch.manual_seed(0)
    n = {"read_n": 3, "write_n": 4} if attention else {}
    model = draw.DRAW(16, steps=5, z_dim=6, enc_dim=32, dec_dim=32, **n)
    x = torch.rand(2, 3, 16, 16)
    logits, mu, logvar, canvases = model(x, keep_canvases=True)
    assert logits.shape == x.shape and mu.shape == logvar.shape == (5, 2, 6) and canvases.shape == (5, 2, 3, 16, 16)
    loss = draw.reconstruction_loss(logits, x) + draw.kl_per_step(mu, logvar).sum()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    images = model.sample(torch.randn(5, 4, 6))
    assert images.shape == (4, 3, 16, 16) and 0 <= float(images.min()) and float(images.max()) <= 1
    mse = draw.reconstruction_loss(logits.detach(), x, "mse")
    assert float(mse) == pytest.approx(float((torch.sigmoid(logits.detach()) - x).pow(2).sum() / 2))
    with pytest.raises(ValueError, match="must be 'bce' or 'mse'"):
        draw.reconstruction_loss(logits, x, "l1")


def test_the_condition_changes_the_output():
    torch.manual_seed(0)
    model = draw.DRAW(8, steps=3, z_dim=4, enc_dim=16, dec_dim=16, cond_dim=5)
    z = torch.randn(3, 2, 4)
    a = model.sample(z, torch.eye(5)[[0, 1]])
    b = model.sample(z, torch.eye(5)[[2, 3]])
    assert not torch.allclose(a, b)
    torch.testing.assert_close(model.sample(z, torch.eye(5)[[0, 1]]), a)     # same condition, same image
    with pytest.raises(ValueError, match=r"this DRAW is conditional: give cond \[2, 5\], got None"):
        model.sample(z)


@pytest.mark.parametrize("cond_dim", [0, 6])
def test_the_hoisted_plain_read_is_the_textbook_step_in_float64(cond_dim):
    """Without attention the encoder's image product is computed once per image (models/draw.py);
    the result, its gradients and the latents equal the textbook step, nn.LSTMCell on
    [x, x - sigmoid(c), h_dec, cond], to float64 rounding."""
    torch.manual_seed(0)
    model = draw.DRAW(8, steps=3, z_dim=4, enc_dim=10, dec_dim=9, cond_dim=cond_dim).double()
    x = torch.rand(5, 3, 8, 8, dtype=torch.float64)
    cond = torch.randn(5, cond_dim, dtype=torch.float64) if cond_dim else None
    eps = torch.randn(3, 5, 4, dtype=torch.float64)

    def run():
        model.zero_grad()
        logits, mu, logvar, canvases = model(x, cond, eps=eps, keep_canvases=True)
        (draw.reconstruction_loss(logits, x) + draw.kl_per_step(mu, logvar).sum()).backward()
        return [logits, mu, logvar, canvases] + [p.grad.clone() for p in model.parameters()]

    hoisted = run()
    model._hoist_image = lambda image: None  # the textbook path: read() and nn.LSTMCell every step
    textbook = run()
    assert len(hoisted) == len(textbook) == 4 + len(list(model.parameters()))
    for a, b in zip(hoisted, textbook):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert textbook[3].shape == (3, 5, 3, 8, 8) and textbook[0].abs().max() > 0
