"""DF-GAN (Tao et al., CVPR 2022): a one-stage generator fused with the sentence code by DFBlocks, a
one-way discriminator, the hinge loss with a mismatched-text term and the matching-aware gradient
penalty; no DAMSM loss term, no conditioning augmentation (networks: ``models/dfgan.py``).

The losses (below, in this module: a family is its two files, all that a DVC foreach stage can list
per entry).  Discriminator (one D step):
    L_D = E[max(0, 1 - D(x, s))] + 1/2 E[max(0, 1 + D(G(z, s), s))] + 1/2 E[max(0, 1 + D(x, s'))]
          + k E[(||grad_x D(x, s)|| ++ ||grad_s D(x, s)||)^p]
with x a real image, s its sentence code, s' another caption's (the batch rolled by one), and the
gradient taken of the real, matching logits with respect to the image and the sentence code jointly
(one L2 norm over both), k = 2, p = 6.  Generator: L_G = -E[D(G(z, s), s)].

The frozen DAMSM text encoder gives the sentence code, as in DF-GAN.  The networks' width nf is the
scale's ``gf_dim`` for G and D alike (DF-GAN uses one nf; 32 at 256 px, the paper scale's gf_dim).

Options (params.yaml ``variants.<name>``), defaults from the public code's CUB settings:
``lr_g`` 1e-4 and ``lr_d`` 4e-4 with Adam betas (``beta1``, ``beta2``) = (0.0, 0.9), in place of
`train`'s AttnGAN values; ``ema`` false (DF-GAN trains and samples its G itself, so the "EMA" the
pipeline scores is a copy of G; true: train.ema_decay and warm-up, as the other variants);
``gp_k`` 2 and ``gp_p`` 6 (MA-GP); ``truncation``: null (generated sets draw plain normal noise),
or t > 0 to draw it from a normal truncated to [-t, t] (DF-GAN's released evaluation: 0.88).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from t2igan.models import dfgan
from t2igan.models.damsm import DIM
from t2igan.variants.base import Batch, Fake, Optimisation, Variant


class DFGAN(Variant):
    @dataclass(frozen=True)
    class Options:
        lr_g: float = field(default=1e-4, metadata={"min": 0})
        lr_d: float = field(default=4e-4, metadata={"min": 0})
        beta1: float = field(default=0.0, metadata={"min": 0, "max": 1})
        beta2: float = field(default=0.9, metadata={"min": 0, "max": 1})
        ema: bool = False
        gp_k: float = field(default=2.0, metadata={"min": 0})
        gp_p: float = field(default=6.0, metadata={"min": 1})
        truncation: float | None = field(default=None, metadata={"min": 0.01})

    def build(self) -> tuple[nn.Module, nn.ModuleList]:
        s = self.s
        G = dfgan.Generator(s.gf_dim, s.z_dim, DIM, s.image_size)
        return G, nn.ModuleList([dfgan.Discriminator(s.gf_dim, DIM, s.image_size)])

    def optimisation(self) -> Optimisation:
        o = self.o
        return Optimisation(o.lr_g, o.lr_d, (o.beta1, o.beta2), self.s.ema_decay if o.ema else 0.0)

    def sampling_noise(self, z: torch.Tensor) -> torch.Tensor:
        t = self.o.truncation
        return z if t is None else truncate(z, t)

    def sampling_protocol(self) -> str:
        t = self.o.truncation
        return super().sampling_protocol() + ("" if t is None else f", truncated to [-{t}, {t}] (option truncation)")

    def generate(self, G, batch: Batch, z: torch.Tensor, *, noise: bool = True, eps=None) -> Fake:
        return Fake([G(z, batch.sentence)])

    def d_loss(self, Ds, batch: Batch, fake: Fake) -> dict[str, torch.Tensor]:
        D = Ds[0]
        # MA-GP differentiates the real, matching logits with respect to the image and the sentence code
        real = batch.real[-1].detach().requires_grad_()
        sentence = batch.sentence.detach().requires_grad_()
        features = D.features(real)
        logits_real = D.logits(features, sentence)
        real_term = hinge_real(logits_real)
        mismatched_term = hinge_fake(D.logits(mismatched(features), sentence))
        fake_term = hinge_fake(D(fake.images[-1], sentence))
        gp = ma_gp(logits_real, real, sentence, self.o.gp_k, self.o.gp_p)
        total = real_term + (fake_term + mismatched_term) / 2 + gp
        return {"real": real_term, "fake": fake_term, "mismatched": mismatched_term, "ma_gp": gp, "total": total}

    def g_loss(self, Ds, batch: Batch, fake: Fake) -> dict[str, torch.Tensor]:
        adversarial = -Ds[0](fake.images[-1], batch.sentence).float().mean()
        return {"adv": adversarial, "total": adversarial}


def truncate(z: torch.Tensor, t: float) -> torch.Tensor:
    """Standard normal draws ``z`` mapped to a normal truncated to [-t, t] through the CDF (quantile
    u = Phi(z) placed in [Phi(-t), Phi(t)]): the same distribution as DF-GAN's truncated sampling, and still
    a function of the same draws, so a set stays a function of (seed, row)."""
    lo, hi = torch.special.ndtr(torch.tensor([-t, t], dtype=torch.float64))
    u = lo + (hi - lo) * torch.special.ndtr(z.double())
    return torch.special.ndtri(u).clamp(-t, t).to(z.dtype)


# ------------------------------------------------------------------ losses
def hinge_real(logits: torch.Tensor) -> torch.Tensor:
    """mean(max(0, 1 - logits)): real, matching pairs are pushed above +1."""
    return F.relu(1.0 - logits).mean()


def hinge_fake(logits: torch.Tensor) -> torch.Tensor:
    """mean(max(0, 1 + logits)): generated images and mismatched captions are pushed below -1."""
    return F.relu(1.0 + logits).mean()


def ma_gp(logits: torch.Tensor, images: torch.Tensor, sentence: torch.Tensor, k: float = 2.0,
          p: float = 6.0) -> torch.Tensor:
    """k * mean over the batch of ||(d logits / d images, d logits / d sentence)||_2 ^ p, the graph kept
    so that the penalty trains D.  ``images`` and ``sentence`` must require grad and be what made ``logits``."""
    grad_images, grad_sentence = torch.autograd.grad(logits.sum(), (images, sentence), create_graph=True)
    grads = torch.cat([grad_images.flatten(1), grad_sentence.flatten(1)], dim=1).float()
    # ||g||^p as (||g||^2)^(p/2): the same value, and no infinite derivative of the root at g = 0
    return k * grads.square().sum(dim=1).pow(p / 2).mean()


def mismatched(x: torch.Tensor) -> torch.Tensor:
    """The batch rolled by one: item i paired with item i + 1's (the last with the first)."""
    return torch.cat([x[1:], x[:1]])
