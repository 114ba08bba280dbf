"""The Wasserstein losses of the baselines (seed 004).

WGAN (Arjovsky et al. 2017): the critic maximises E[f(real)] - E[f(fake)], so minimises
E[f(fake)] - E[f(real)]; the generator minimises -E[f(fake)].  f is kept (roughly) Lipschitz by
clipping every critic weight to [-c, c] after each critic step (``clip_weights``).
WGAN-GP (Gulrajani et al. 2017): instead a penalty lam * E[(||grad_x f(x_hat)||_2 - 1)^2] on
x_hat = eps * real + (1 - eps) * fake, eps ~ U[0, 1] per sample.
"""
from __future__ import annotations

from contextlib import nullcontext

import torch
import torch.nn as nn


# The critic's scores are averaged in float32 (.float(): a no-op unless under bf16 autocast).
def critic_loss(critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return critic(fake).float().mean() - critic(real).float().mean()


def generator_loss(critic, fake: torch.Tensor) -> torch.Tensor:
    return -critic(fake).float().mean()


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor | None = None,
                     forward=None) -> torch.Tensor:
    """E[(||grad f(x_hat)||_2 - 1)^2] (without lam); ``eps`` [B] given, or drawn from torch's RNG.

    The graph is kept (create_graph), so the penalty trains the critic's weights.  ``forward``: the
    context of the critic's pass (bf16 autocast; None: none); the gradient and its norm are taken outside it,
    in x_hat's float32."""
    if eps is None:
        eps = torch.rand(real.shape[0], device=real.device)
    e = eps.to(real.dtype).view(-1, *([1] * (real.dim() - 1)))
    x_hat = (e * real.detach() + (1 - e) * fake.detach()).requires_grad_(True)
    with forward if forward is not None else nullcontext():
        score = critic(x_hat).float().sum()
    (grad,) = torch.autograd.grad(score, x_hat, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()


@torch.no_grad()
def clip_weights(module: nn.Module, c: float) -> None:
    """Every parameter of ``module`` clamped to [-c, c] in place (WGAN's Lipschitz constraint)."""
    for p in module.parameters():
        p.clamp_(-c, c)
