"""RaGAN's networks (the thesis of seed 001): AttnGAN's generator and discriminators, conditioned
as well on a reference patch of a bird (a 50 x 50 crop around a visible part).

The reference reaches the generator twice:
- F_0 takes cat(c, z, r_bar), r_bar the reference's global feature (256);
- F_ref, in every refinement stage F_i (i >= 1): an attention block like the word attention,
  over the reference's local features r (256 x regions) instead of the words; its context
  joins h and the word context, so F_i works on cat(h, word context, reference context).
  ``ref_blocks=False`` drops F_ref (the thesis's ablation): the reference then enters via F_0 only.

Reference features are the frozen DAMSM image encoder's (t2igan.variants.ragan encodes them).
``RefDiscriminator`` (RaGAN v1) adds a third logit, the reference code judged the way
AttnGAN's conditional logit judges the sentence code.

The similarity of a reference to an image: for each reference region i, the best-matching region
j of the image by cosine, averaged over i: sim = mean_i max_j cos(r_i, f_j).  The generator's loss
is L_sim = 1 - sim (weight ``lambda2``); the score stage reports sim itself, with the evaluator's
encoder.  A region whose feature is exactly zero has cosine 0 to everything, not NaN.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from t2igan.models import attngan
from t2igan.models.attngan import CondLogits, Discriminator, InitStage, ResBlock, WordAttention, up_block


def reference_similarity(ref_regions: torch.Tensor, image_regions: torch.Tensor) -> torch.Tensor:
    """ref_regions [B, D, h, w] (or [B, D, N]), image_regions [B, D, h', w'] -> sim [B] in [-1, 1]."""
    if ref_regions.shape[:2] != image_regions.shape[:2]:
        raise ValueError(f"reference regions {list(ref_regions.shape)} and image regions "
                         f"{list(image_regions.shape)} differ in batch or feature size")
    r = F.normalize(ref_regions.flatten(2).float(), dim=1, eps=1e-8)
    f = F.normalize(image_regions.flatten(2).float(), dim=1, eps=1e-8)
    cosine = torch.einsum("bdn,bdm->bnm", r, f)       # [B, reference regions, image regions]
    return cosine.amax(dim=2).mean(dim=1)


def similarity_loss(ref_regions: torch.Tensor, image_regions: torch.Tensor) -> torch.Tensor:
    """L_sim = 1 - sim, averaged over the batch."""
    return 1.0 - reference_similarity(ref_regions, image_regions).mean()


class RefInitStage(InitStage):
    """F_0 of RaGAN: cat(c, z, r_bar) -> base x base x gf."""

    def __init__(self, gf_dim: int, z_dim: int, c_dim: int, base_size: int, ref_dim: int = 256):
        super().__init__(gf_dim, z_dim + ref_dim, c_dim, base_size)

    def forward(self, c: torch.Tensor, z: torch.Tensor, ref_code: torch.Tensor) -> torch.Tensor:
        return super().forward(c, torch.cat([z, ref_code], dim=1))


class RefNextStage(nn.Module):
    """F_i of RaGAN: word attention and (``ref_blocks``) reference attention from h, then AttnGAN's
    residual blocks and up-block on the concatenation."""

    def __init__(self, gf_dim: int, embed_dim: int, r_num: int, ref_blocks: bool = True):
        super().__init__()
        self.words = WordAttention(gf_dim, embed_dim)
        # F_ref: the same computation as the word attention, the "words" being reference regions
        self.reference = WordAttention(gf_dim, embed_dim) if ref_blocks else None
        width = (3 if ref_blocks else 2) * gf_dim
        self.res = nn.Sequential(*(ResBlock(width) for _ in range(r_num)))
        self.up = up_block(width, gf_dim)

    def forward(self, h, words, pad_mask, ref_regions):
        """ref_regions [B, D, h', w'] -> (next h, word attention [B, T, H, W],
        reference attention [B, h'*w', H, W] or None without F_ref)."""
        context, attn = self.words(h, words, pad_mask)
        parts, ref_attn = [h, context], None
        if self.reference is not None:
            ref_context, ref_attn = self.reference(h, ref_regions.flatten(2))
            parts.append(ref_context)
        return self.up(self.res(torch.cat(parts, dim=1))), attn, ref_attn


class Generator(attngan.Generator):
    """AttnGAN's generator with RaGAN's F_0 and F_i (see the module docstring)."""

    def __init__(self, *args, ref_blocks: bool = True, **kwargs):
        self.ref_blocks = ref_blocks  # read by next_stage during the parent's __init__
        super().__init__(*args, **kwargs)

    def init_stage(self, gf_dim: int, z_dim: int, c_dim: int, base_size: int) -> nn.Module:
        return RefInitStage(gf_dim, z_dim, c_dim, base_size)

    def next_stage(self, gf_dim: int, embed_dim: int, r_num: int) -> nn.Module:
        return RefNextStage(gf_dim, embed_dim, r_num, self.ref_blocks)

    def forward(self, z, sentence, words, pad_mask, ref_regions, ref_code, *, noise: bool = True, eps=None):
        """As AttnGAN's, plus the reference's regions [B, 256, h', w'] and code [B, 256].

        Returns (images, word attentions, reference attentions (empty without F_ref), mu, logvar).
        """
        c, mu, logvar = self.ca(sentence, noise=noise, eps=eps)
        h = self.f0(c, z, ref_code)
        images, attentions, ref_attentions = [self.to_rgb[0](h)], [], []
        for stage, head in zip(self.stages, self.to_rgb[1:]):
            h, attn, ref_attn = stage(h, words, pad_mask, ref_regions)
            images.append(head(h))
            attentions.append(attn)
            if ref_attn is not None:
                ref_attentions.append(ref_attn)
        return images, attentions, ref_attentions, mu, logvar


class RefDiscriminator(Discriminator):
    """RaGAN v1's D: AttnGAN's, with ``D.ref(features, r_bar)``, a conditional logit on the reference."""

    def __init__(self, size: int, df_dim: int = 64, embed_dim: int = 256):
        super().__init__(size, df_dim, embed_dim)
        self.ref = CondLogits(df_dim, embed_dim)
