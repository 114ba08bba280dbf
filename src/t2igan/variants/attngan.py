"""AttnGAN (Xu et al. 2018): multi-stage generator with word attention, one D per branch,
generator loss = adversarial + lambda * DAMSM(final image) + KL of the conditioning."""
from __future__ import annotations

import torch
import torch.nn as nn

from t2igan import distributed
from t2igan.losses import attngan as adv
from t2igan.losses.damsm import damsm_loss
from t2igan.models.attngan import Discriminator, Generator, init_weights, kl_loss
from t2igan.variants.base import Batch, Fake, Variant


class AttnGAN(Variant):
    def build(self) -> tuple[nn.Module, nn.ModuleList]:
        s = self.s
        G = Generator(gf_dim=s.gf_dim, z_dim=s.z_dim, c_dim=s.c_dim, branches=len(s.sizes), r_num=s.r_num,
                      base_size=s.sizes[0])
        Ds = nn.ModuleList(Discriminator(size, df_dim=s.df_dim) for size in s.sizes)
        return init_weights(G), init_weights(Ds)

    def generate(self, G, batch: Batch, z: torch.Tensor, *, noise: bool = True, eps=None) -> Fake:
        images, attentions, mu, logvar = G(z, batch.sentence, batch.words, batch.pad_mask, noise=noise, eps=eps)
        return Fake(images, attentions, {"mu": mu, "logvar": logvar})

    # hooks for variants that add a condition (RaGAN): none here
    def discriminator_reference(self, fake: Fake) -> torch.Tensor | None:
        """A code the discriminators also judge (tiled like the sentence), or None."""
        return None

    def more_g_terms(self, batch: Batch, fake: Fake, regions: torch.Tensor) -> dict[str, tuple[float, torch.Tensor]]:
        """Further generator loss terms, name -> (weight, loss); ``regions``: the DAMSM image
        encoder's local features of the final images."""
        return {}

    def d_loss(self, Ds, batch: Batch, fake: Fake) -> dict[str, torch.Tensor]:
        reference = self.discriminator_reference(fake)
        terms = {f"d{real.shape[-1]}": adv.discriminator_loss(D, real, x, batch.sentence, reference)
                 for D, real, x in zip(Ds, batch.real, fake.images)}
        return {**terms, "total": sum(terms.values())}

    def g_loss(self, Ds, batch: Batch, fake: Fake) -> dict[str, torch.Tensor]:
        reference = self.discriminator_reference(fake)
        adversarial = sum(adv.generator_adversarial(D, x, batch.sentence, reference)
                          for D, x in zip(Ds, fake.images))
        regions, code = self.damsm.image(fake.images[-1])
        w, s = self.damsm_terms(batch, regions, code)
        kl = kl_loss(fake.extra["mu"], fake.extra["logvar"])
        total = adversarial + self.s.lam * (w + s) + kl
        more = self.more_g_terms(batch, fake, regions)
        for weight, loss in more.values():
            total = total + weight * loss
        return {"adv": adversarial, "damsm_w": w, "damsm_s": s, "kl": kl,
                **{name: loss for name, (_, loss) in more.items()}, "total": total}

    def damsm_terms(self, batch: Batch, regions: torch.Tensor, code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """DAMSM word and sentence losses of generated images (the frozen judge's ``regions`` and
        ``code`` of them) against their captions."""
        g = self.s
        # Over the global batch when data-parallel: every rank's captions are negatives, as in one
        # process (each rank computes the whole loss; see t2igan.distributed).
        words, sentence, regions, code, lengths, class_ids = (distributed.gather(x) for x in (
            batch.words, batch.sentence, regions, code, batch.lengths, batch.class_ids))
        losses = damsm_loss(words, sentence, regions, code, lengths, class_ids,
                            gamma1=g.gamma1, gamma2=g.gamma2, gamma3=g.gamma3)
        return losses["w0"] + losses["w1"], losses["s0"] + losses["s1"]
