"""DualAttnGAN (Cai et al. 2019): AttnGAN's losses and training, with the dual-attention generator
(``models/dualattngan.py``) and spectral normalisation on G and on every D.

``full = False`` (``DualAttnGANReduced``, not yet in the registry: it needs a param of its own and
dependencies in dvc.yaml, see issue 6) is the network the seed report ran: AttnGAN's ResBlocks,
no spectral normalisation, the dual attention kept.
"""
from __future__ import annotations

import torch.nn as nn

from t2igan.models import dualattngan as dual
from t2igan.models.attngan import Discriminator, init_weights
from t2igan.variants.attngan import AttnGAN


class DualAttnGAN(AttnGAN):
    name = "dualattngan"
    full = True

    def build(self) -> tuple[nn.Module, nn.ModuleList]:
        s = self.s
        G = init_weights(dual.Generator(gf_dim=s.gf_dim, z_dim=s.z_dim, c_dim=s.c_dim, branches=len(s.sizes),
                                        r_num=s.r_num, base_size=s.sizes[0], full=self.full))
        Ds = init_weights(nn.ModuleList(Discriminator(size, df_dim=s.df_dim) for size in s.sizes))
        if self.full:
            dual.spectral_normalise(G)
            dual.spectral_normalise(Ds)
        return G, Ds


class DualAttnGANReduced(DualAttnGAN):
    name = "dualattngan_reduced"
    full = False
