"""DCGAN, WGAN and WGAN-GP (seed 004): one family, the DCGAN networks (``models/dcgan.py``) with
three losses, each with its paper's optimiser and critic schedule (params.yaml ``baselines``):

- ``bce`` (DCGAN): D minimises BCE(D(x), 1) + BCE(D(G(z)), 0); G the non-saturating BCE(D(G(z)), 1);
  Adam 2e-4, betas (0.5, 0.999), one D step per G step.
- ``wgan``: the critic's E[f(fake)] - E[f(real)], every critic weight clipped to [-clip, clip] after
  each critic step; G minimises -E[f(fake)]; RMSprop 5e-5; ``n_critic`` = 5 critic steps per G step.
- ``wgan_gp``: the same losses, no clipping, plus ``gp_lambda`` x the gradient penalty, a critic
  without BatchNorm; Adam 1e-4, betas (0, 0.9) (the paper; its code used 0.5), n_critic 5.

``network``: ``dcgan`` (default), the DCGAN paper's networks (``models/dcgan.py``; at 64 px and width 64
G 3,576,704 and D 2,765,568 parameters); ``pytorch_gan``, the networks seed 004 actually trained
(PyTorch-GAN's: an upsample + conv generator and a dropout discriminator for ``bce``, MLP generator and
critic for ``wgan`` / ``wgan_gp``).  Seed 004's WGAN also used RMSprop at 2e-4 (``lr: 0.0002``).

Each critic step takes a fresh real batch and fresh z; G steps after every ``n_critic``-th.
(The official WGAN code also ran 100 critic steps for the first 25 G steps and every 500th;
the paper's Algorithm 1 does not, nor does this.)
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from t2igan.baselines.base import Baseline, RealBatch
from t2igan.models import dcgan
from t2igan.train import updates


# --------------------------------------------------------------------------- losses
# The Wasserstein losses of the baselines (seed 004).
#
# WGAN (Arjovsky et al. 2017): the critic maximises E[f(real)] - E[f(fake)], so minimises
# E[f(fake)] - E[f(real)]; the generator minimises -E[f(fake)].  f is kept (roughly) Lipschitz by
# clipping every critic weight to [-c, c] after each critic step (``clip_weights``).
# WGAN-GP (Gulrajani et al. 2017): instead a penalty lam * E[(||grad_x f(x_hat)||_2 - 1)^2] on
# x_hat = eps * real + (1 - eps) * fake, eps ~ U[0, 1] per sample.
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


# --------------------------------------------------------------------------- the family
class DCGAN(Baseline):
    @dataclass(frozen=True)
    class Options:
        loss: Literal["bce", "wgan", "wgan_gp"] = "bce"
        optimizer: Literal["adam", "rmsprop"] = "adam"
        lr: float = field(default=2e-4, metadata={"min": 0.0})
        beta1: float = field(default=0.5, metadata={"min": 0.0, "max": 1.0})
        beta2: float = field(default=0.999, metadata={"min": 0.0, "max": 1.0})
        n_critic: int = field(default=1, metadata={"min": 1})          # critic steps per G step
        clip: float = field(default=0.01, metadata={"min": 0.0})      # wgan only
        gp_lambda: float = field(default=10.0, metadata={"min": 0.0})  # wgan_gp only
        batch_size: int = field(default=64, metadata={"min": 2})
        z_dim: int = field(default=100, metadata={"min": 1})
        network: Literal["dcgan", "pytorch_gan"] = "dcgan"  # the DCGAN paper's | seed 004's (see above)

    def build(self) -> nn.ModuleDict:
        s, o = self.s, self.o
        if o.network == "pytorch_gan":  # the scale's width does not apply: these listings fix theirs
            if o.loss == "bce":
                G, D = dcgan.UpsampleGenerator(s.image_size, o.z_dim), dcgan.DropoutDiscriminator(s.image_size)
            else:
                G, D = dcgan.MlpGenerator(s.image_size, o.z_dim), dcgan.MlpCritic(s.image_size)
            return nn.ModuleDict({"G": dcgan.init_pytorch_gan(G), "D": dcgan.init_pytorch_gan(D)})
        G = dcgan.init_dcgan(dcgan.Generator(s.image_size, o.z_dim, s.width))
        D = dcgan.init_dcgan(dcgan.Discriminator(s.image_size, s.width, batch_norm=o.loss != "wgan_gp"))
        return nn.ModuleDict({"G": G, "D": D})

    def phases(self, nets: nn.ModuleDict) -> list[updates.Phase]:
        o = self.o

        def make(params):
            if o.optimizer == "rmsprop":
                return torch.optim.RMSprop(params, lr=o.lr)
            return torch.optim.Adam(params, lr=o.lr, betas=(o.beta1, o.beta2))

        after = (lambda: clip_weights(nets["D"], o.clip)) if o.loss == "wgan" else None
        # the critic every step; G after every n_critic-th (its loss goes through the critic, not into it)
        return [updates.Phase("d", make(nets["D"].parameters()), after=after),
                updates.Phase("g", make(nets["G"].parameters()), interval=o.n_critic, frozen=[nets["D"]])]

    channels_last = True

    def step(self, nets: nn.ModuleDict, phases: list[updates.Phase], batch: RealBatch,
             step: int) -> dict[str, torch.Tensor]:
        G, D, o = nets["G"], nets["D"], self.o
        real = batch.images
        forward = self.autocast(real.device)  # entered once per forward pass
        g_due = phases[1].due(step)
        with torch.set_grad_enabled(g_due), forward:  # a critic-only step needs no graph back into G
            fake = G(torch.randn(len(real), o.z_dim, device=real.device))

        def loss(phase: updates.Phase) -> dict[str, torch.Tensor]:
            if phase.name == "g":
                with forward:
                    if o.loss == "bce":
                        f = D(fake)
                        return {"total": F.binary_cross_entropy_with_logits(f, torch.ones_like(f))}
                    return {"total": generator_loss(D, fake)}
            with forward:
                if o.loss == "bce":
                    r, f = D(real), D(fake.detach())
                    return {"total": F.binary_cross_entropy_with_logits(r, torch.ones_like(r))
                            + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f))}
                distance = -critic_loss(D, real, fake.detach())   # the critic's estimate of W(real, fake)
            terms = {"wasserstein": distance}
            d_loss = -distance
            if o.loss == "wgan_gp":
                gp = gradient_penalty(D, real, fake, forward=forward)
                d_loss = d_loss + o.gp_lambda * gp
                terms["gp"] = gp
            return {**terms, "total": d_loss}

        return updates.run_phases(phases, step, loss)

    def noise(self, n: int, rng: np.random.Generator) -> torch.Tensor:
        return torch.from_numpy(rng.standard_normal((n, self.o.z_dim), dtype=np.float32))

    def sample(self, nets: nn.ModuleDict, noise: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return nets["G"](noise)
