"""What a GAN variant gives the shared training loop (``t2igan.train.gan``), and what it gets.

The loop owns everything that is the same for every variant: data, devices, optimisers,
EMA, checkpoints, logging, sampling.  A variant owns its networks, its losses and its options:

- ``Options``: a frozen dataclass of the family's own settings (params.yaml
  ``variants.<name>``, validated by t2igan.config and given to the variant as ``self.o``);
- ``needs_reference``: True when every batch must carry a reference patch (RaGAN);

- ``build()``: the generator and the discriminators, initialised;
- ``generate(G, batch, z, eps=None)``: fake images (and whatever the losses need from that pass);
- ``d_loss(Ds, batch, fake)`` and ``g_loss(Ds, batch, fake)``: dicts of named loss terms,
  each a scalar tensor, with the one to minimise under "total".  The other terms are
  logged separately (per branch, adversarial, DAMSM, KL...), so name them for the plots.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
import torch.nn as nn


@dataclass
class Batch:
    """One training batch as the networks see it (on the training device)."""

    real: list[torch.Tensor]      # [B, 3, s, s] in [-1, 1] per branch, smallest first
    words: torch.Tensor           # [B, 256, T] word features of the frozen DAMSM text encoder
    sentence: torch.Tensor        # [B, 256] sentence features
    pad_mask: torch.Tensor        # [B, T] bool, True at padding
    lengths: torch.Tensor         # [B]
    class_ids: torch.Tensor       # [B]
    reference: torch.Tensor | None = None  # [B, 3, p, p] in [-1, 1]: the reference patch (RaGAN), else None


@dataclass
class Fake:
    images: list[torch.Tensor]                              # per branch, smallest first
    attentions: list[torch.Tensor] = field(default_factory=list)  # [B, T, h, w] per attention branch
    extra: dict[str, torch.Tensor] = field(default_factory=dict)  # e.g. mu, logvar
    reference_attentions: list[torch.Tensor] = field(default_factory=list)  # [B, regions, h, w] (RaGAN)

    def detached(self) -> Fake:
        """The same images without a path back into G (for the discriminator step)."""
        return replace(self, images=[x.detach() for x in self.images],
                       attentions=[a.detach() for a in self.attentions],
                       reference_attentions=[a.detach() for a in self.reference_attentions],
                       extra={k: v.detach() for k, v in self.extra.items()})


class Variant:
    """Base class of a GAN variant; see the module docstring.  ``settings`` is train.gan.GanSettings."""

    @dataclass(frozen=True)
    class Options:
        """No options of its own."""

    needs_reference = False

    def __init__(self, settings, damsm):
        self.s = settings
        self.o = self.Options(**settings.options)
        self.damsm = damsm          # train.gan.FrozenDamsm: encoders in eval mode, no gradients

    def build(self) -> tuple[nn.Module, nn.ModuleList]:
        raise NotImplementedError

    def generate(self, G: nn.Module, batch: Batch, z: torch.Tensor, *, noise: bool = True,
                 eps: torch.Tensor | None = None) -> Fake:
        """``eps`` [B, c_dim]: the conditioning-augmentation noise when given (generated sets draw
        it per caption); None draws it from the global RNG.  ``noise=False``: no such noise."""
        raise NotImplementedError

    def d_loss(self, Ds: nn.ModuleList, batch: Batch, fake: Fake) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def g_loss(self, Ds: nn.ModuleList, batch: Batch, fake: Fake) -> dict[str, torch.Tensor]:
        raise NotImplementedError
