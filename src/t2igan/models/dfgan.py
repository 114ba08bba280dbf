"""DF-GAN's networks (Tao et al., CVPR 2022, "DF-GAN: A Simple and Effective Baseline for
Text-to-Image Synthesis"), written from the paper and the settings of its public code.

- **Generator**, one stage: the noise z goes through a linear layer to 4 x 4 x (8 nf), then one
  ``UpBlock`` per doubling up to the image side.  An UpBlock upsamples (nearest), and adds a learned
  1 x 1 shortcut (where the width changes) to a residual path of two ``DFBlock`` + 3 x 3 conv pairs.
  A DFBlock is the deep text-image fusion: two ``Affine`` layers, each followed by LeakyReLU(0.2),
  where an Affine scales and shifts every channel by what two small MLPs predict from the condition.
  The condition is [z, sentence code] (the public code's; the paper's figure draws the sentence code
  only: docs/deviations.md).  Last LeakyReLU, a 3 x 3 conv to RGB and tanh.
- **Discriminator**, one-way: a 3 x 3 conv, then one ``DownBlock`` per halving down to 4 x 4 (a
  4 x 4 stride-2 conv and a 3 x 3 conv, each with LeakyReLU, no bias, added as ``gamma * residual``
  with a learned ``gamma`` that starts at 0, to the 2 x 2 average-pooled input, 1 x 1 conv where the
  width changes).  The sentence code is tiled over the 4 x 4 features and concatenated; a 3 x 3 conv
  to 2 ndf, LeakyReLU and a 4 x 4 conv give one logit per image.

Widths follow the public code: block widths are nf x min(2^k, 8), from 8 nf at 4 x 4 down to nf at
the image side in G, and up again in D.  At 256 px with nf = 32: G has six UpBlocks, D six
DownBlocks.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def widths(nf: int, image_size: int) -> list[int]:
    """Feature widths from the image side down to 4 x 4: nf x min(2^k, 8) for k = 0 .. log2(side) - 2."""
    if image_size < 8 or image_size & (image_size - 1):
        raise ValueError(f"DF-GAN needs a power-of-two image side of at least 8, not {image_size}")
    return [nf * min(2 ** k, 8) for k in range(int(math.log2(image_size)) - 1)]


class Affine(nn.Module):
    """x * gamma(c) + beta(c), channel-wise; each of gamma and beta is Linear -> ReLU -> Linear.  The last
    layers start at gamma = 1, beta = 0 (zero weights), so an untrained Affine passes x through."""

    def __init__(self, cond_dim: int, channels: int):
        super().__init__()
        self.gamma = nn.Sequential(nn.Linear(cond_dim, channels), nn.ReLU(), nn.Linear(channels, channels))
        self.beta = nn.Sequential(nn.Linear(cond_dim, channels), nn.ReLU(), nn.Linear(channels, channels))
        nn.init.zeros_(self.gamma[2].weight)
        nn.init.ones_(self.gamma[2].bias)
        nn.init.zeros_(self.beta[2].weight)
        nn.init.zeros_(self.beta[2].bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return x * self.gamma(cond)[:, :, None, None] + self.beta(cond)[:, :, None, None]


class DFBlock(nn.Module):
    """Two text-conditioned affine transformations, each followed by LeakyReLU(0.2)."""

    def __init__(self, cond_dim: int, channels: int):
        super().__init__()
        self.affine0 = Affine(cond_dim, channels)
        self.affine1 = Affine(cond_dim, channels)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.affine0(x, cond), 0.2)
        return F.leaky_relu(self.affine1(x, cond), 0.2)


class UpBlock(nn.Module):
    def __init__(self, cond_dim: int, c_in: int, c_out: int):
        super().__init__()
        self.fuse0 = DFBlock(cond_dim, c_in)
        self.conv0 = nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.fuse1 = DFBlock(cond_dim, c_out)
        self.conv1 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        h = self.conv0(self.fuse0(x, cond))
        h = self.conv1(self.fuse1(h, cond))
        return self.shortcut(x) + h


class Generator(nn.Module):
    def __init__(self, nf: int, z_dim: int, sentence_dim: int, image_size: int):
        super().__init__()
        w = widths(nf, image_size)[::-1]  # 8 nf at 4 x 4 ... nf at the image side
        self.nf, self.z_dim = nf, z_dim
        self.fc = nn.Linear(z_dim, w[0] * 4 * 4)
        self.blocks = nn.ModuleList(UpBlock(z_dim + sentence_dim, a, b) for a, b in zip(w[:-1], w[1:]))
        self.to_rgb = nn.Conv2d(w[-1], 3, 3, 1, 1)

    def forward(self, z: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
        x = self.fc(z).view(len(z), -1, 4, 4)
        cond = torch.cat([z, sentence], dim=1)
        for block in self.blocks:
            x = block(x, cond)
        return torch.tanh(self.to_rgb(F.leaky_relu(x, 0.2)))


class DownBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.residual = nn.Sequential(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
                                      nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.LeakyReLU(0.2))
        self.shortcut = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.shortcut(x), 2) + self.gamma * self.residual(x)


class Discriminator(nn.Module):
    """``features(x)``: the 4 x 4 x 8 ndf image features; ``logits(features, sentence)``: one per image;
    ``forward`` is both."""

    def __init__(self, ndf: int, sentence_dim: int, image_size: int):
        super().__init__()
        w = widths(ndf, image_size)  # ndf at the image side ... 8 ndf at 4 x 4
        self.sentence_dim = sentence_dim
        self.conv_img = nn.Conv2d(3, w[0], 3, 1, 1)
        self.blocks = nn.Sequential(*(DownBlock(a, b) for a, b in zip(w[:-1], w[1:])))
        self.joint = nn.Sequential(nn.Conv2d(w[-1] + sentence_dim, 2 * ndf, 3, 1, 1, bias=False), nn.LeakyReLU(0.2),
                                   nn.Conv2d(2 * ndf, 1, 4, 1, 0, bias=False))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.conv_img(x))

    def logits(self, features: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
        tiled = sentence[:, :, None, None].expand(-1, -1, *features.shape[-2:])
        return self.joint(torch.cat([features, tiled.to(features.dtype)], dim=1)).flatten()

    def forward(self, x: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
        return self.logits(self.features(x), sentence)
