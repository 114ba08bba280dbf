"""The unconditional baselines' networks and Wasserstein losses (issue 7, first part)."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from t2igan.baselines import dcgan as wgan  # the Wasserstein losses live with their family
from t2igan.models import dcgan


@pytest.mark.parametrize("size", [16, 32, 64])
def test_dcgan_shapes(size):
    torch.manual_seed(0)
    G = dcgan.init_dcgan(dcgan.Generator(size, z_dim=8, gf_dim=4))
    D = dcgan.init_dcgan(dcgan.Discriminator(size, df_dim=4))
    x = G(torch.randn(3, 8))
    assert x.shape == (3, 3, size, size) and x.abs().max() <= 1
    assert D(x).shape == (3,)
    with pytest.raises(ValueError, match=f"takes {size} x {size} images"):
        D(torch.zeros(1, 3, size * 2, size * 2))


def test_dcgan_64_is_the_papers_network():
    G, D = dcgan.Generator(64), dcgan.Discriminator(64)
    convt = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(m.in_channels, m.out_channels) for m in convt] == [(100, 512), (512, 256), (256, 128), (128, 64), (64, 3)]
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert [(m.in_channels, m.out_channels) for m in convs] == [(3, 64), (64, 128), (128, 256), (256, 512), (512, 1)]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in D.modules()) == 3       # not on the first conv
    assert not any(isinstance(m, nn.BatchNorm2d) for m in dcgan.Discriminator(64, batch_norm=False).modules())


def test_init_is_n_0_002():
    torch.manual_seed(0)
    G = dcgan.init_dcgan(dcgan.Generator(64))
    w = G.net[3].weight.detach()                             # 512 x 256 x 4 x 4 samples
    assert abs(float(w.mean())) < 1e-3 and float(w.std()) == pytest.approx(0.02, rel=0.02)


def test_gradient_penalty_of_a_linear_critic_by_hand():
    """f(x) = <w, x>: the gradient is w everywhere, so the penalty is (||w|| - 1)^2."""
    w = torch.tensor([3.0, 4.0]).view(1, 2, 1, 1)             # ||w|| = 5

    def critic(x):
        return (x * w).sum(dim=(1, 2, 3))

    real, fake = torch.randn(4, 2, 1, 1), torch.randn(4, 2, 1, 1)
    assert wgan.gradient_penalty(critic, real, fake).detach().item() == pytest.approx(16.0)


def test_gradient_penalty_of_a_quadratic_critic_by_hand():
    """f(x) = ||x||^2 / 2: grad = x_hat = eps * real + (1 - eps) * fake, at the given eps."""
    def critic(x):
        return 0.5 * x.pow(2).sum(dim=(1, 2, 3))

    real = torch.tensor([[1.0, 0.0], [0.0, 2.0]]).view(2, 2, 1, 1)
    fake = torch.tensor([[0.0, 0.0], [0.0, -2.0]]).view(2, 2, 1, 1)
    eps = torch.tensor([0.5, 0.25])
    # x_hat = (0.5, 0) -> norm 0.5; (0, 0.25 * 2 - 0.75 * 2) = (0, -1) -> norm 1
    expect = ((0.5 - 1) ** 2 + (1 - 1) ** 2) / 2
    assert wgan.gradient_penalty(critic, real, fake, eps).detach().item() == pytest.approx(expect)


def test_gradient_penalty_trains_the_critic():
    torch.manual_seed(0)
    D = dcgan.init_dcgan(dcgan.Discriminator(16, df_dim=4, batch_norm=False))
    gp = wgan.gradient_penalty(D, torch.randn(3, 3, 16, 16), torch.randn(3, 3, 16, 16))
    gp.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in D.parameters())


def test_wasserstein_losses_and_clipping():
    def critic(x):
        return x.flatten(1).sum(dim=1)

    real, fake = torch.ones(2, 1, 2, 2), torch.zeros(2, 1, 2, 2)
    assert float(wgan.critic_loss(critic, real, fake)) == -4.0   # E f(fake) - E f(real)
    assert float(wgan.generator_loss(critic, real)) == -4.0
    D = dcgan.Discriminator(16, df_dim=4)
    with torch.no_grad():
        for p in D.parameters():
            p.normal_(0, 1)
    wgan.clip_weights(D, 0.01)
    assert all(p.detach().abs().max().item() <= 0.01 for p in D.parameters())
