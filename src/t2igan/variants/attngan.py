"""AttnGAN (Xu et al. 2018): multi-stage generator with word attention, one D per branch,
generator loss = adversarial + lambda * DAMSM(final image) + KL of the conditioning."""
from __future__ import annotations

import torch
import torch.nn as nn

from t2igan.losses import attngan as adv
from t2igan.losses.damsm import damsm_loss
from t2igan.models.attngan import Discriminator, Generator, init_weights, kl_loss
from t2igan.variants.base import Batch, Fake, Variant


class AttnGAN(Variant):
    name = "attngan"

    def build(self) -> tuple[nn.Module, nn.ModuleList]:
        s = self.s
        G = Generator(gf_dim=s.gf_dim, z_dim=s.z_dim, c_dim=s.c_dim, branches=len(s.sizes), r_num=s.r_num,
                      base_size=s.sizes[0])
        Ds = nn.ModuleList(Discriminator(size, df_dim=s.df_dim) for size in s.sizes)
        return init_weights(G), init_weights(Ds)

    def generate(self, G, batch: Batch, z: torch.Tensor, *, noise: bool = True, eps=None) -> Fake:
        images, attentions, mu, logvar = G(z, batch.sentence, batch.words, batch.pad_mask, noise=noise, eps=eps)
        return Fake(images, attentions, {"mu": mu, "logvar": logvar})

    def d_loss(self, Ds, batch: Batch, fake: Fake) -> dict[str, torch.Tensor]:
        terms = {f"d{real.shape[-1]}": adv.discriminator_loss(D, real, x, batch.sentence)
                 for D, real, x in zip(Ds, batch.real, fake.images)}
        return {**terms, "total": sum(terms.values())}

    def g_loss(self, Ds, batch: Batch, fake: Fake) -> dict[str, torch.Tensor]:
        adversarial = sum(adv.generator_adversarial(D, x, batch.sentence) for D, x in zip(Ds, fake.images))
        w, s = self.damsm_terms(batch, fake.images[-1])
        kl = kl_loss(fake.extra["mu"], fake.extra["logvar"])
        return {"adv": adversarial, "damsm_w": w, "damsm_s": s, "kl": kl,
                "total": adversarial + self.s.lam * (w + s) + kl}

    def damsm_terms(self, batch: Batch, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """DAMSM word and sentence losses of generated images against their captions (frozen judge)."""
        regions, code = self.damsm.image(image)
        g = self.s
        losses = damsm_loss(batch.words, batch.sentence, regions, code, batch.lengths, batch.class_ids,
                            gamma1=g.gamma1, gamma2=g.gamma2, gamma3=g.gamma3)
        return losses["w0"] + losses["w1"], losses["s0"] + losses["s1"]
