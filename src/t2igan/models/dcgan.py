"""The unconditional baselines' networks (seed 004): DCGAN (Radford et al. 2016), also the body
of WGAN's critic (Arjovsky et al. 2017) and, without BatchNorm, of WGAN-GP's (Gulrajani et al. 2017).

- G: z [B, z_dim] -> a 4 x 4 transposed conv to 8 * gf channels (at 64 px) -> transposed convs
  4/2/1 halving the channels, each with BN + ReLU -> a last 4/2/1 transposed conv to RGB, tanh.
- D: 4/2/1 convs doubling the channels from df, LeakyReLU 0.2, BN on every conv but the first
  -> at 4 x 4 a 4/1/0 conv to one raw logit (no sigmoid: BCE-with-logits for DCGAN, the raw
  score for the WGAN critics).  ``batch_norm=False``: WGAN-GP's critic, where the penalty is
  per sample and BatchNorm would couple the samples of a batch.
- Weights ~ N(0, 0.02), BN weights ~ N(1, 0.02), biases 0 (the DCGAN paper).

Sizes: any power of two >= 16; 64 px gives the paper's networks exactly.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from t2igan.config import log2_exact


def init_dcgan(module: nn.Module) -> nn.Module:
    """N(0, 0.02) conv weights, N(1, 0.02) BN weights, zero biases; from torch's global RNG."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module


class Generator(nn.Module):
    def __init__(self, image_size: int = 64, z_dim: int = 100, gf_dim: int = 64):
        super().__init__()
        k = log2_exact(image_size, "image_size", 16) - 2          # doublings from 4 x 4
        self.z_dim, self.image_size = z_dim, image_size
        top = gf_dim * 2 ** (k - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim, top, 4, 1, 0, bias=False), nn.BatchNorm2d(top),
                                   nn.ReLU(inplace=True)]
        for i in range(k - 1):
            cin, cout = top >> i, top >> (i + 1)
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
        layers += [nn.ConvTranspose2d(gf_dim, 3, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z [B, z_dim] -> images [B, 3, s, s] in [-1, 1]."""
        return self.net(z[:, :, None, None])


class Discriminator(nn.Module):
    def __init__(self, image_size: int = 64, df_dim: int = 64, batch_norm: bool = True):
        super().__init__()
        k = log2_exact(image_size, "image_size", 16) - 2          # halvings down to 4 x 4
        self.image_size = image_size
        layers: list[nn.Module] = []
        cin = 3
        for i in range(k):
            cout = df_dim << i
            layers.append(nn.Conv2d(cin, cout, 4, 2, 1, bias=False))
            if batch_norm and i > 0:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            cin = cout
        layers.append(nn.Conv2d(cin, 1, 4, 1, 0, bias=False))
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images [B, 3, s, s] -> one raw score per image [B]."""
        if images.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(f"this discriminator takes {self.image_size} x {self.image_size} images, "
                             f"got {tuple(images.shape[-2:])}")
        return self.net(images).view(-1)
