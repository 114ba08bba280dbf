"""AttnGAN's generator and discriminators (Xu et al. 2018, section 3.1), networks only.

Paper notation, used in names below:
- e: word features [B, D, T] from the DAMSM text encoder (D = 256); e_bar: sentence feature [B, D].
- F^ca: conditioning augmentation, e_bar -> c = mu + sigma * eps (StackGAN's trick).
- F_0: (c, z) -> h_0, the hidden image features at the base resolution (64 px in the paper).
- F_i^attn: word attention.  e' = U e projects the words into the image feature space; for each
  pixel j, beta_{j,i} = softmax_i(h_j^T e'_i) and the word-context c_j = sum_i beta_{j,i} e'_i.
- F_i (i >= 1): h_i = F_i(h_{i-1}, F_i^attn(e, h_{i-1})), twice the resolution of h_{i-1}.
- G_i: the image head, x_i = tanh(conv3x3(h_i)).
- D_i: one discriminator per resolution; a trunk down to 4 x 4 x 8*df, then an unconditional
  logit and a conditional one (the sentence code tiled over the 4 x 4 grid).

Sizes are parameters so the same code runs at 64 px on a CPU and at 256 px on a GPU: the
generator's base resolution ``base_size`` (64 in the paper) and each discriminator's ``size``
can be any power of two; branch i produces ``base_size * 2**i`` pixels.

The discriminators return raw logits (no sigmoid): the losses use BCE-with-logits, which equals
the original's sigmoid + BCE and is numerically safer.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from t2igan.config import log2_exact


def count_params(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def init_weights(module: nn.Module) -> nn.Module:
    """The original's init: orthogonal (gain 1) conv / linear weights, BN weight ~ N(1, 0.02).

    Linear biases start at 0 and BN biases at 0, as in the original; the few conv biases (the
    discriminators' logit convs) keep PyTorch's default, as the original left them.  Draws from
    torch's global RNG, so ``torch.manual_seed`` reproduces it.  Returns ``module``.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            nn.init.orthogonal_(m.weight, gain=1.0)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module


# ---------------------------------------------------------------- building blocks

class GLU(nn.Module):
    """Gated linear unit over channels: first half * sigmoid(second half)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] % 2:
            raise ValueError(f"GLU needs an even number of channels, got {x.shape[1]}")
        a, gate = x.chunk(2, dim=1)
        return a * torch.sigmoid(gate)


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` (groups 1) that runs the widest layers as one matrix product on the CPU.

    oneDNN re-lays-out a convolution's weight on every call; for the paper discriminators' widest
    layers (33 M weights in D256's 1024 -> 2048 conv) at small batches that copy dominates, and
    unfolding the input then one GEMM is 1.5-1.9x faster, forward and backward (measured on the
    2-core EPYC, batch 4 and 20).  The same sums in another order: fp32 differences about 1e-7.
    """

    GEMM_MIN_WEIGHTS = 2 ** 23

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or self.weight.numel() < self.GEMM_MIN_WEIGHTS or self.groups != 1:
            return super().forward(x)
        (k, _), (st, _), (pad, _) = self.kernel_size, self.stride, self.padding
        h = (x.shape[2] + 2 * pad - k) // st + 1
        cols = F.unfold(x, k, dilation=self.dilation, padding=pad, stride=st)   # [B, cin * k * k, h * w]
        y = self.weight.flatten(1) @ cols                                       # [B, cout, h * w]
        if self.bias is not None:
            y = y + self.bias[:, None]
        return y.view(len(x), self.out_channels, h, -1)


def conv3x3(cin: int, cout: int) -> nn.Conv2d:
    return Conv2d(cin, cout, 3, 1, 1, bias=False)  # BN follows (or tanh head): no bias


class UpConv3x3(nn.Conv2d):
    """x2 nearest upsampling followed by a 3x3 conv (padding 1, no bias), in one operation.

    The same function as ``nn.Upsample(scale_factor=2)`` then ``conv3x3``, with the same weight
    [out, in, 3, 3], computed with 16 multiply-adds per output pixel and input channel instead of
    36: each output pixel's 3 x 3 window over the upsampled image covers only 2 x 2 input pixels,
    so the taps that land on the same input pixel are summed first.  Along each axis the 3 taps
    (w0, w1, w2) become the 4 taps (w2, w1 + w2, w0 + w1, w0) of a stride-2 transposed conv with
    padding 1.  Exact in real arithmetic; in fp32 the pre-summed taps round differently (relative
    differences about 1e-7).  Below ``MIN_SIDE`` input pixels the transposed conv is slower on
    the CPU than upsampling and convolving, so small inputs take that path.
    """

    MIN_SIDE = 8

    def __init__(self, cin: int, cout: int):
        super().__init__(cin, cout, 3, 1, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) < self.MIN_SIDE:
            return super().forward(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        return F.conv_transpose2d(x, self.transposed_kernel(self.weight), stride=2, padding=1)

    @staticmethod
    def transposed_kernel(w: torch.Tensor) -> torch.Tensor:
        """[out, in, 3, 3] conv weight -> the [in, out, 4, 4] stride-2 transposed-conv weight."""
        def taps(w: torch.Tensor, dim: int) -> torch.Tensor:
            w0, w1, w2 = w.unbind(dim)
            return torch.stack([w2, w1 + w2, w0 + w1, w0], dim)

        return taps(taps(w, 2), 3).transpose(0, 1)


def up_block(cin: int, cout: int) -> nn.Sequential:
    """x2 nearest upsampling, then a GLU-gated 3x3 conv: [B, cin, H, W] -> [B, cout, 2H, 2W]."""
    return nn.Sequential(UpConv3x3(cin, 2 * cout), nn.BatchNorm2d(2 * cout), GLU())


class ResBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(conv3x3(c, 2 * c), nn.BatchNorm2d(2 * c), GLU(),
                                  conv3x3(c, c), nn.BatchNorm2d(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


# ---------------------------------------------------------------- generator parts

def kl_loss(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) as the original computes it: a mean over batch and dims."""
    return -0.5 * torch.mean(1 + logvar - mu.pow(2) - logvar.exp())


class CondAugment(nn.Module):
    """F^ca: sentence e_bar -> (c, mu, logvar), c = mu + eps * exp(logvar / 2)."""

    def __init__(self, embed_dim: int = 256, c_dim: int = 100):
        super().__init__()
        self.fc = nn.Linear(embed_dim, 4 * c_dim)  # GLU halves it to 2 * c_dim = (mu, logvar)
        self.glu = GLU()

    def forward(self, sentence: torch.Tensor, noise: bool = True, eps: torch.Tensor | None = None):
        """``eps`` [B, c_dim]: given noise (generation, so a set does not depend on its batching);
        None draws it from torch's global RNG (training: seeding reproduces it)."""
        mu, logvar = self.glu(self.fc(sentence)).chunk(2, dim=1)
        if not noise:
            return mu, mu, logvar
        std = torch.exp(0.5 * logvar)
        if eps is None:
            eps = torch.randn_like(std)
        return mu + eps.to(std.dtype) * std, mu, logvar


class WordAttention(nn.Module):
    """F^attn: word-context features for every pixel of h.

    Padded words are masked before the softmax over words, per (sample, pixel): the mask of
    sample b is broadcast over b's own pixels.  The original repeated the [B, T] mask in the
    wrong order for its [B * pixels, T] score matrix, so most pixels used another sample's
    mask (AttnGAN issue #93); broadcasting cannot mix samples up.

    A sample whose words are *all* masked (impossible for real captions, whose length is >= 1)
    gets zero attention and a zero context instead of NaN: it simply attends to nothing.
    """

    def __init__(self, idf: int, cdf: int = 256):
        super().__init__()
        self.project = nn.Conv1d(cdf, idf, 1, bias=False)  # U: e -> e', a 1x1 conv over words

    def forward(self, h: torch.Tensor, words: torch.Tensor, pad_mask: torch.Tensor | None = None):
        """h [B, idf, H, W], words [B, cdf, T], pad_mask [B, T] bool (True = padding)
        -> context [B, idf, H, W], attention [B, T, H, W]."""
        B, idf, H, W = h.shape
        e = self.project(words)                                        # e' [B, idf, T]
        scores = torch.einsum("bcn,bct->bnt", h.flatten(2), e)        # [B, H*W, T]
        if pad_mask is not None:
            if pad_mask.shape != (B, words.shape[2]) or pad_mask.dtype != torch.bool:
                raise ValueError(f"pad_mask must be bool [B, T] = [{B}, {words.shape[2]}], "
                                 f"got {pad_mask.dtype} {list(pad_mask.shape)}")
            mask = pad_mask[:, None, :]                                 # [B, 1, T]: same for every pixel
            # a finite fill keeps an all-padding row finite (uniform), then zeroed just below
            scores = scores.masked_fill(mask, torch.finfo(scores.dtype).min)
            attn = torch.softmax(scores, dim=-1).masked_fill(mask, 0.0)
        else:
            attn = torch.softmax(scores, dim=-1)
        context = torch.einsum("bct,bnt->bcn", e, attn).reshape(B, idf, H, W)
        return context, attn.transpose(1, 2).reshape(B, -1, H, W)


class InitStage(nn.Module):
    """F_0: cat(c, z) -> 4 x 4 x (gf * 2^n) -> n up-blocks halving channels -> base x base x gf.

    n = log2(base_size / 4); at base 64, n = 4 and the 4 x 4 map has 16 * gf channels (512).
    """

    def __init__(self, gf_dim: int, z_dim: int, c_dim: int, base_size: int):
        super().__init__()
        n = log2_exact(base_size, "base_size", 8) - 2
        self.c0 = gf_dim * 2 ** n
        self.fc = nn.Sequential(nn.Linear(c_dim + z_dim, self.c0 * 4 * 4 * 2, bias=False),
                                nn.BatchNorm1d(self.c0 * 4 * 4 * 2), GLU())
        self.ups = nn.Sequential(*(up_block(self.c0 >> i, self.c0 >> (i + 1)) for i in range(n)))

    def forward(self, c: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(torch.cat([c, z], dim=1)).view(-1, self.c0, 4, 4)
        return self.ups(h)


class NextStage(nn.Module):
    """F_i, i >= 1: attend words from h, cat(h, context), residual blocks, x2 up-block."""

    def __init__(self, gf_dim: int, embed_dim: int, r_num: int):
        super().__init__()
        self.attention = WordAttention(gf_dim, embed_dim)
        self.res = nn.Sequential(*(ResBlock(2 * gf_dim) for _ in range(r_num)))
        self.up = up_block(2 * gf_dim, gf_dim)

    def forward(self, h, words, pad_mask):
        context, attn = self.attention(h, words, pad_mask)
        return self.up(self.res(torch.cat([h, context], dim=1))), attn


class Generator(nn.Module):
    """AttnGAN's multi-stage generator: ``branches`` images of base_size * 2^i pixels."""

    def __init__(self, gf_dim: int = 32, z_dim: int = 100, c_dim: int = 100, embed_dim: int = 256,
                 branches: int = 3, r_num: int = 2, base_size: int = 64):
        super().__init__()
        if branches < 1:
            raise ValueError(f"branches must be >= 1, got {branches}")
        self.z_dim = z_dim
        self.image_sizes = [base_size * 2 ** i for i in range(branches)]
        self.ca = CondAugment(embed_dim, c_dim)
        self.f0 = self.init_stage(gf_dim, z_dim, c_dim, base_size)
        self.stages = nn.ModuleList(self.next_stage(gf_dim, embed_dim, r_num) for _ in range(branches - 1))
        self.to_rgb = nn.ModuleList(nn.Sequential(conv3x3(gf_dim, 3), nn.Tanh()) for _ in range(branches))

    # a variant with other F_0 / F_i (DualAttnGAN) overrides these two and keeps the rest
    def init_stage(self, gf_dim: int, z_dim: int, c_dim: int, base_size: int) -> nn.Module:
        return InitStage(gf_dim, z_dim, c_dim, base_size)

    def next_stage(self, gf_dim: int, embed_dim: int, r_num: int) -> nn.Module:
        return NextStage(gf_dim, embed_dim, r_num)

    def forward(self, z: torch.Tensor, sentence: torch.Tensor, words: torch.Tensor | None,
                pad_mask: torch.Tensor | None = None, *, noise: bool = True, eps: torch.Tensor | None = None):
        """z [B, z_dim], sentence [B, D], words [B, D, T], pad_mask [B, T] bool (True = padding).

        Returns (images: list of [B, 3, s, s] per branch, attentions: list of [B, T, h, w] for
        branches 1.., mu, logvar).  ``noise=False`` uses c = mu (no conditioning noise); ``eps``
        is the conditioning noise when given (see CondAugment).
        """
        if self.stages and words is None:
            raise ValueError(f"{len(self.stages) + 1} branches need word features for the attention")
        c, mu, logvar = self.ca(sentence, noise=noise, eps=eps)
        h = self.f0(c, z)
        images, attentions = [self.to_rgb[0](h)], []
        for stage, head in zip(self.stages, self.to_rgb[1:]):
            h, attn = stage(h, words, pad_mask)
            images.append(head(h))
            attentions.append(attn)
        return images, attentions, mu, logvar


# ---------------------------------------------------------------- discriminators

def down_block(cin: int, cout: int, bn: bool = True) -> nn.Sequential:
    """4x4 stride-2 conv (halves H, W), BN (not on the image-facing conv), LeakyReLU 0.2."""
    layers: list[nn.Module] = [Conv2d(cin, cout, 4, 2, 1, bias=False)]
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


def block3x3(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(conv3x3(cin, cout), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, inplace=True))


class UncondLogits(nn.Module):
    """4 x 4 x 8df features -> one logit per image: a 4x4 stride-4 conv (with bias, as the original)."""

    def __init__(self, df_dim: int):
        super().__init__()
        self.out = nn.Conv2d(8 * df_dim, 1, 4, 4)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.out(features).view(-1)


def _taps_inside(n: int, like: torch.Tensor) -> torch.Tensor:
    """[n, 3]: 1 where a 3-tap (padding 1) filter's tap k at output position i reads input i + k - 1
    inside 0..n-1, else 0."""
    pos = torch.arange(n, device=like.device)[:, None] + torch.arange(-1, 2, device=like.device)
    return ((pos >= 0) & (pos < n)).to(like.dtype)


class CondLogits(nn.Module):
    """Features + sentence code tiled 4 x 4 -> 3x3 joint conv -> 4x4 stride-4 conv -> one logit.

    The joint conv reads [features; tiled code].  The code is the same at every position, so its
    share of the conv at an output position is the sum of W_code[:, :, tap] @ code over the taps
    that land inside the map (the others read zero padding): one product per tap and image
    instead of one per tap and position.  The features' share, conv(features, W_features), does
    not depend on the code, so ``pairs`` computes it once for several codes (AttnGAN's matched and
    mismatched pairs read the same real features).  The same sums as the concatenated conv, added
    in another order.
    """

    def __init__(self, df_dim: int, embed_dim: int = 256):
        super().__init__()
        self.joint = block3x3(8 * df_dim + embed_dim, 8 * df_dim)
        self.out = nn.Conv2d(8 * df_dim, 1, 4, 4)

    def forward(self, features: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
        return self.pairs(features, [sentence])[0]

    def pairs(self, features: torch.Tensor, codes: list[torch.Tensor]) -> list[torch.Tensor]:
        """For each code batch [m, E] of ``codes``, the logits [m] of ``features[:m]`` with it.

        The joint conv's weight is read once (under spectral normalisation: one power iteration)."""
        conv, norm, act = self.joint
        c = features.shape[1]
        # split once (a slice per use would build a full-size gradient in the backward pass each time)
        w_image, w_code = conv.weight.split([c, conv.in_channels - c], dim=1)
        image = F.conv2d(features, w_image, padding=1)                          # [B, O, H, W]
        w_code = w_code.permute(0, 2, 3, 1).flatten(0, 2)  # [O * 3 * 3, E]: a view of NHWC weights (bf16)
        inside_h, inside_w = (_taps_inside(n, image) for n in features.shape[2:])
        out = []
        for code in codes:
            per_tap = F.linear(code, w_code).view(len(code), -1, 3, 3)          # [m, O, 3, 3]
            coded = torch.einsum("bokl,ik,jl->boij", per_tap, inside_h, inside_w)
            out.append(self.out(act(norm(image[:len(code)] + coded))).view(-1))
        return out


class Discriminator(nn.Module):
    """D for ``size`` x ``size`` images: a trunk of log2(size / 4) stride-2 convs down to 4 x 4 x 8df.

    size 64 (the paper's D64): 3 -> df -> 2df -> 4df -> 8df.
    size 64 * 2^k (D128: k = 1, D256: k = 2): k more down-blocks 8df -> 16df -> ... -> 8df * 2^k,
    then k 3x3 blocks halving channels back to 8df, as the original's D_NET128 / D_NET256.
    size 16 or 32: the 64-px trunk without its first 2 or 1 down-blocks (the image-facing conv
    goes straight to 2df or 4df).

    ``features = D(images)``; ``D.uncond(features)`` and ``D.cond(features, sentence)`` -> [B].
    """

    def __init__(self, size: int, df_dim: int = 64, embed_dim: int = 256):
        super().__init__()
        n = log2_exact(size, "discriminator size", 16) - 2  # stride-2 convs from size to 4
        self.size = size
        base = min(n, 4)                                      # the 64-px trunk's (up to) 4 convs
        chans = [3] + [8 * df_dim >> (base - 1 - i) for i in range(base)]
        layers = [down_block(chans[i], chans[i + 1], bn=i > 0) for i in range(base)]
        k = n - base
        layers += [down_block(8 * df_dim << j, 8 * df_dim << (j + 1)) for j in range(k)]
        layers += [block3x3(8 * df_dim << j, 8 * df_dim << (j - 1)) for j in range(k, 0, -1)]
        self.trunk = nn.Sequential(*layers)
        self.uncond = UncondLogits(df_dim)
        self.cond = CondLogits(df_dim, embed_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-2:] != (self.size, self.size):
            raise ValueError(f"this discriminator takes {self.size} x {self.size} images, "
                             f"got {tuple(images.shape[-2:])}")
        return self.trunk(images)
