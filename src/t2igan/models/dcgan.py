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

Below them, the networks seed 004 trained (PyTorch-GAN's listings in its report): an upsample + conv
generator, a discriminator with dropout, and the MLP generator and critic of its WGAN and WGAN-GP.
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


# --------------------------------------------------------------------------- seed 004's networks
# Seed 004 trained PyTorch-GAN's implementations (its report prints them, figures 4.1-4.2, 5.2-5.3):
# not the DCGAN paper's networks.  Built here from those listings; ``network: pytorch_gan`` selects them.
# Their BatchNorm layers take 0.8 as the second positional argument, which is BatchNorm's eps (not its
# momentum): kept, since it is what ran.  Their init (``weights_init_normal``) touches convs and 2-d
# BatchNorm only; Linear and 1-d BatchNorm layers keep PyTorch's defaults (``init_pytorch_gan``).
SEED_BN_EPS = 0.8


def init_pytorch_gan(module: nn.Module) -> nn.Module:
    """Seed 004's init: conv weights N(0, 0.02) (biases kept), 2-d BN weights N(1, 0.02) and biases 0;
    every other layer as PyTorch built it.  From torch's global RNG."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module


class UpsampleGenerator(nn.Module):
    """PyTorch-GAN's DCGAN generator: z -> Linear to 128 x (s/4)^2 -> BN -> [nearest 2x upsample, 3x3 conv,
    BN(eps 0.8), LeakyReLU 0.2] to 128 then 64 channels -> 3x3 conv to RGB, tanh."""

    def __init__(self, image_size: int = 64, z_dim: int = 100):
        super().__init__()
        if image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4 for this generator, got {image_size}")
        self.z_dim, self.image_size, self.init_size = z_dim, image_size, image_size // 4
        self.fc = nn.Linear(z_dim, 128 * self.init_size ** 2)
        self.net = nn.Sequential(
            nn.BatchNorm2d(128),
            nn.Upsample(scale_factor=2), nn.Conv2d(128, 128, 3, 1, 1), nn.BatchNorm2d(128, SEED_BN_EPS),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Upsample(scale_factor=2), nn.Conv2d(128, 64, 3, 1, 1), nn.BatchNorm2d(64, SEED_BN_EPS),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(64, 3, 3, 1, 1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z [B, z_dim] -> images [B, 3, s, s] in [-1, 1]."""
        return self.net(self.fc(z).view(len(z), 128, self.init_size, self.init_size))


class DropoutDiscriminator(nn.Module):
    """PyTorch-GAN's DCGAN discriminator: four [3x3 stride-2 conv, LeakyReLU 0.2, Dropout2d 0.25, BN(eps 0.8)
    but on the first] blocks of 16, 32, 64, 128 channels -> Linear to one logit.  The listing ends in a
    sigmoid for BCELoss; this returns the logit and the family uses BCE with logits, the same loss."""

    def __init__(self, image_size: int = 64):
        super().__init__()
        if image_size % 16:
            raise ValueError(f"image_size must be a multiple of 16 for this discriminator, got {image_size}")
        self.image_size = image_size
        layers: list[nn.Module] = []
        for i, (cin, cout) in enumerate(((3, 16), (16, 32), (32, 64), (64, 128))):
            layers += [nn.Conv2d(cin, cout, 3, 2, 1), nn.LeakyReLU(0.2, inplace=True), nn.Dropout2d(0.25)]
            if i > 0:
                layers.append(nn.BatchNorm2d(cout, SEED_BN_EPS))
        self.net = nn.Sequential(*layers)
        self.head = nn.Linear(128 * (image_size // 16) ** 2, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images [B, 3, s, s] -> one raw logit per image [B]."""
        return self.head(self.net(images).flatten(1)).view(-1)


class MlpGenerator(nn.Module):
    """PyTorch-GAN's WGAN / WGAN-GP generator: z -> Linear 128 (LeakyReLU 0.2) -> 256 -> 512 -> 1024 (each
    Linear, BatchNorm1d(eps 0.8), LeakyReLU 0.2) -> Linear to 3 s^2 pixels, tanh."""

    def __init__(self, image_size: int = 64, z_dim: int = 100):
        super().__init__()
        self.z_dim, self.image_size = z_dim, image_size
        layers: list[nn.Module] = [nn.Linear(z_dim, 128), nn.LeakyReLU(0.2, inplace=True)]
        for cin, cout in ((128, 256), (256, 512), (512, 1024)):
            layers += [nn.Linear(cin, cout), nn.BatchNorm1d(cout, SEED_BN_EPS), nn.LeakyReLU(0.2, inplace=True)]
        layers += [nn.Linear(1024, 3 * image_size ** 2), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(len(z), 3, self.image_size, self.image_size)


class MlpCritic(nn.Module):
    """PyTorch-GAN's WGAN / WGAN-GP critic: the flattened image -> Linear 512, LeakyReLU 0.2 -> 256,
    LeakyReLU 0.2 -> one raw score."""

    def __init__(self, image_size: int = 64):
        super().__init__()
        self.image_size = image_size
        self.net = nn.Sequential(nn.Linear(3 * image_size ** 2, 512), nn.LeakyReLU(0.2, inplace=True),
                                 nn.Linear(512, 256), nn.LeakyReLU(0.2, inplace=True), nn.Linear(256, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images.flatten(1)).view(-1)
