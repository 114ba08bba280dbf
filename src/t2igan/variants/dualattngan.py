"""DualAttnGAN (Cai et al. 2019): AttnGAN's losses and training, with the dual-attention generator
(``models/dualattngan.py``) and spectral normalisation on G and on every D.

Option ``full: false`` is a reduced network: AttnGAN's ResBlocks, no spectral normalisation, the
paper's dual attention kept (params.yaml has it as ``dualattngan_reduced``).  It is not seed 000's
network, whose channel and spatial attention differ (``models/dualattngan.py`` says how).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from t2igan.models import dualattngan as dual
from t2igan.models.attngan import Discriminator, init_weights
from t2igan.variants.attngan import AttnGAN


class DualAttnGAN(AttnGAN):
    @dataclass(frozen=True)
    class Options:
        full: bool = True   # inverted residual blocks and spectral norm; false: ResBlocks, no spectral norm

    def build(self) -> tuple[nn.Module, nn.ModuleList]:
        s, full = self.s, self.o.full
        G = init_weights(dual.Generator(gf_dim=s.gf_dim, z_dim=s.z_dim, c_dim=s.c_dim, branches=len(s.sizes),
                                        r_num=s.r_num, base_size=s.sizes[0], full=full))
        Ds = init_weights(nn.ModuleList(Discriminator(size, df_dim=s.df_dim) for size in s.sizes))
        if full:
            dual.spectral_normalise(G)
            dual.spectral_normalise(Ds)
        return G, Ds
