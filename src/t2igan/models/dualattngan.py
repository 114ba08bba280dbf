"""DualAttnGAN's generator (Cai et al. 2019), networks only; its discriminators are AttnGAN's.

What differs from AttnGAN (``models/attngan.py``, whose notation this follows):
- F_0 uses ReLU where AttnGAN gates with GLU.
- In F_1, F_2 the word attention + concatenation becomes a Dual Attention Module:
  TAM (textual attention) = AttnGAN's word context;
  VAM (visual attention) = SAM(CAM(h)), CAM a CBAM channel attention (global average and
  max pooling through one shared FC-ReLU-FC MLP, sigmoid gate) and SAM a SAGAN self-attention;
  AEM (attention embedding) = cat(h + TAM(h), h + VAM(h)).
- The residual blocks are inverted residual blocks (MobileNetV2: 1x1 expand, 3x3 depthwise,
  1x1 linear projection), and spectral normalisation wraps every conv and linear layer of G
  and of every D.

``full=False`` builds a reduced network: AttnGAN's ResBlocks and no spectral normalisation, the
paper's dual attention kept.  It is not the network seed 000 ran.  That report (its section 6.2)
kept ResBlocks too, but its fork replaced CAM's pooling and MLP with stride-2 convolutions that
cut the channels to an eighth (for memory), and its SAM differs from SAGAN's; neither is
reproduced here, so the seed's DualAttnGAN numbers are not expected from either setting.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm

from t2igan.config import log2_exact
from t2igan.models import attngan
from t2igan.models.attngan import ResBlock, UpConv3x3, WordAttention, up_block

EXPANSION = 6  # inverted residual expansion: not published; MobileNetV2's value


class ChannelAttention(nn.Module):
    """CAM(h) = sigmoid(MLP(AvgPool(h)) + MLP(MaxPool(h))) * h, pooling over all positions."""

    def __init__(self, channels: int):
        super().__init__()
        hidden = max(1, channels // (16 if channels >= 128 else 8))  # CBAM's 16; 8 for narrow layers
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels))

    def gate(self, h: torch.Tensor) -> torch.Tensor:
        """[B, C, H, W] -> the per-channel weights [B, C] in (0, 1)."""
        return torch.sigmoid(self.mlp(h.mean(dim=(2, 3))) + self.mlp(h.amax(dim=(2, 3))))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h * self.gate(h)[:, :, None, None]


class SelfAttention(nn.Module):
    """SAGAN self-attention: y = gamma * o + x, o_j = sum_i softmax_i(q_j . k_i) v_i, gamma starts at 0.

    Queries and keys are 1x1 convs to C/8 channels, values to C.  The softmax is unscaled, as in
    SAGAN.  ``scaled_dot_product_attention`` computes it without forming the N x N matrix where
    the backend allows (flash / memory-efficient kernels on GPUs), so 128 x 128 maps (16,384
    positions, about 1 GiB per sample as a plain fp32 matrix) fit.
    """

    def __init__(self, channels: int):
        super().__init__()
        inner = max(1, channels // 8)
        self.query = nn.Conv2d(channels, inner, 1)
        self.key = nn.Conv2d(channels, inner, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def attend(self, x: torch.Tensor) -> torch.Tensor:
        """o, the attended values [B, C, H, W] (before the gamma-weighted residual)."""
        B, C, H, W = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)[:, None]   # [B, 1, N, C/8]
        k = self.key(x).flatten(2).transpose(1, 2)[:, None]
        v = self.value(x).flatten(2).transpose(1, 2)[:, None]   # [B, 1, N, C]
        # Queries and keys zero-padded to C channels: the same dot products (the padding adds exact
        # zeros); equal head sizes and a contiguous last dim let the CPU take its flash kernel (3.4x
        # faster than the N x N matrix at 32 x 32 positions, forward and backward, on the 2-core EPYC).
        pad = (0, C - q.shape[-1])
        o = F.scaled_dot_product_attention(F.pad(q, pad), F.pad(k, pad), v.contiguous(), scale=1.0)
        return o[:, 0].transpose(1, 2).reshape(B, C, H, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.gamma * self.attend(x)


class DualAttention(nn.Module):
    """The Dual Attention Module: h [B, gf, H, W] -> AEM [B, 2 gf, H, W], word attention [B, T, H, W]."""

    def __init__(self, gf_dim: int, embed_dim: int = 256):
        super().__init__()
        self.textual = WordAttention(gf_dim, embed_dim)
        self.channel = ChannelAttention(gf_dim)
        self.spatial = SelfAttention(gf_dim)

    def forward(self, h, words, pad_mask):
        context, attn = self.textual(h, words, pad_mask)
        visual = self.spatial(self.channel(h))
        return torch.cat([h + context, h + visual], dim=1), attn


class InvertedResidual(nn.Module):
    """x + BN(1x1 project(ReLU6(BN(3x3 depthwise(ReLU6(BN(1x1 expand(x))))))))."""

    def __init__(self, c: int, expansion: int = EXPANSION):
        super().__init__()
        wide = c * expansion
        self.body = nn.Sequential(
            nn.Conv2d(c, wide, 1, bias=False), nn.BatchNorm2d(wide), nn.ReLU6(inplace=True),
            nn.Conv2d(wide, wide, 3, 1, 1, groups=wide, bias=False), nn.BatchNorm2d(wide), nn.ReLU6(inplace=True),
            nn.Conv2d(wide, c, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def relu_up_block(cin: int, cout: int) -> nn.Sequential:
    """AttnGAN's up-block with ReLU in place of the GLU gate: x2 nearest, 3x3 conv, BN, ReLU."""
    return nn.Sequential(UpConv3x3(cin, cout), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class InitStage(nn.Module):
    """F_0 with ReLU: cat(c, z) -> 4 x 4 x (gf * 2^n) -> n ReLU up-blocks -> base x base x gf."""

    def __init__(self, gf_dim: int, z_dim: int, c_dim: int, base_size: int):
        super().__init__()
        n = log2_exact(base_size, "base_size", 8) - 2
        self.c0 = gf_dim * 2 ** n
        self.fc = nn.Sequential(nn.Linear(c_dim + z_dim, self.c0 * 4 * 4, bias=False),
                                nn.BatchNorm1d(self.c0 * 4 * 4), nn.ReLU(inplace=True))
        self.ups = nn.Sequential(*(relu_up_block(self.c0 >> i, self.c0 >> (i + 1)) for i in range(n)))

    def forward(self, c: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.ups(self.fc(torch.cat([c, z], dim=1)).view(-1, self.c0, 4, 4))


class NextStage(nn.Module):
    """F_i, i >= 1: dual attention, residual blocks on the 2 gf-channel embedding, x2 up-block."""

    def __init__(self, gf_dim: int, embed_dim: int, r_num: int, full: bool):
        super().__init__()
        self.attention = DualAttention(gf_dim, embed_dim)
        block = InvertedResidual if full else ResBlock
        self.res = nn.Sequential(*(block(2 * gf_dim) for _ in range(r_num)))
        self.up = up_block(2 * gf_dim, gf_dim)

    def forward(self, h, words, pad_mask):
        embedding, attn = self.attention(h, words, pad_mask)
        return self.up(self.res(embedding)), attn


class Generator(attngan.Generator):
    """DualAttnGAN's generator: AttnGAN's, with DualAttnGAN's F_0 and F_i."""

    def __init__(self, gf_dim: int = 32, z_dim: int = 100, c_dim: int = 100, embed_dim: int = 256,
                 branches: int = 3, r_num: int = 2, base_size: int = 64, full: bool = True):
        self.full = full  # a plain attribute, read by next_stage while the parent builds the stages
        super().__init__(gf_dim, z_dim, c_dim, embed_dim, branches, r_num, base_size)

    def init_stage(self, gf_dim: int, z_dim: int, c_dim: int, base_size: int) -> nn.Module:
        return InitStage(gf_dim, z_dim, c_dim, base_size)

    def next_stage(self, gf_dim: int, embed_dim: int, r_num: int) -> nn.Module:
        return NextStage(gf_dim, embed_dim, r_num, self.full)


def spectral_normalise(module: nn.Module) -> nn.Module:
    """Spectral normalisation on every conv and linear weight of ``module`` (in place); returns it.

    Call after the weights are initialised: the parametrisation keeps the initial weight as its
    ``original`` and divides by its largest singular value (one power iteration per training forward).
    """
    for m in list(module.modules()):
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            spectral_norm(m)
    return module
