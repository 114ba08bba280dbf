"""What a GAN variant gives the shared training loop (``t2igan.train.gan``), and what it gets.

The loop owns everything that is the same for every variant: data, devices, optimisers,
EMA, checkpoints, logging, sampling.  A variant owns its networks, its losses and its options:

- ``Options``: a frozen dataclass of the family's own settings (params.yaml
  ``variants.<name>``, validated by t2igan.config and given to the variant as ``self.o``);
- ``inputs``: the names of the inputs a caption brings besides its text (RaGAN: ``reference``, a patch
  of a bird), ``()`` for none; ``row_inputs`` reads them from the data stages' folders, and
  ``input_similarity`` (if the family has one) says how well an image shows its input.  Every
  input is an RGB image per caption row; the training loop, generation and scoring pass them
  through by name (``Batch.inputs``) without knowing what they are;

- ``build()``: the generator and the discriminators, initialised;
- ``optimisation()``: Adam's learning rates and betas and the EMA decay (params.yaml's `train`,
  unless the family's paper sets its own: DF-GAN); ``sampling_noise(z)``: the noise generated
  sets use, from standard normal draws (z itself, unless the family truncates it);
- ``generate(G, batch, z, eps=None)``: fake images (and whatever the losses need from that pass);
- ``d_loss(Ds, batch, fake)`` and ``g_loss(Ds, batch, fake)``: dicts of named loss terms,
  each a scalar tensor, with the one to minimise under "total".  The other terms are
  logged separately (per branch, adversarial, DAMSM, KL...), so name them for the plots.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn as nn


class RowInput(Protocol):
    """Where a family's input comes from: an RGB image per caption row, and the files it is read from
    (their digests decide whether a training run may resume)."""

    files: list[Path]

    def for_rows(self, rows: np.ndarray) -> np.ndarray:
        """uint8 [N, p, p, 3], the input of each caption row (a writable copy)."""
        ...


@dataclass
class Batch:
    """One training batch as the networks see it (on the training device)."""

    real: list[torch.Tensor]      # [B, 3, s, s] in [-1, 1] per branch, smallest first
    words: torch.Tensor           # [B, 256, T] word features of the frozen DAMSM text encoder
    sentence: torch.Tensor        # [B, 256] sentence features
    pad_mask: torch.Tensor        # [B, T] bool, True at padding
    lengths: torch.Tensor         # [B]
    class_ids: torch.Tensor       # [B]
    inputs: dict[str, torch.Tensor] = field(default_factory=dict)  # the family's inputs: [B, 3, p, p] in [-1, 1]


@dataclass(frozen=True)
class Optimisation:
    """How a variant's networks are updated: Adam for G and for the discriminators, and the decay of
    the EMA of G that is saved and scored (0: the EMA is a copy of G)."""

    lr_g: float
    lr_d: float
    betas: tuple[float, float]
    ema_decay: float


@dataclass
class Fake:
    images: list[torch.Tensor]                              # per branch, smallest first
    attentions: list[torch.Tensor] = field(default_factory=list)  # [B, T, h, w] per attention branch
    extra: dict[str, torch.Tensor] = field(default_factory=dict)  # e.g. mu, logvar
    # per stage, attention over an input's regions [B, regions, h, w] (RaGAN's F_ref)
    input_attentions: list[torch.Tensor] = field(default_factory=list)

    def detached(self) -> Fake:
        """The same images without a path back into G (for the discriminator step)."""
        return replace(self, images=[x.detach() for x in self.images],
                       attentions=[a.detach() for a in self.attentions],
                       input_attentions=[a.detach() for a in self.input_attentions],
                       extra={k: v.detach() for k, v in self.extra.items()})


class Variant:
    """Base class of a GAN variant; see the module docstring.  ``settings`` is train.gan.GanSettings."""

    @dataclass(frozen=True)
    class Options:
        """No options of its own."""

    inputs: tuple[str, ...] = ()

    def row_inputs(self, data_dirs: Mapping[str, str | Path], n_captions: int) -> dict[str, RowInput]:
        """Per name in ``inputs``, where each caption row's input comes from: ``data_dirs`` maps the data
        stages (``config.Params.data_dirs``) to their folders; ``n_captions`` is the prepared data's."""
        return {}

    def input_similarity(self, input_regions: torch.Tensor, image_regions: torch.Tensor) -> torch.Tensor:
        """How well each image shows its input, both seen as a DAMSM image encoder's regions
        ([B, D, h, w] each) -> [B]; scored for every family with inputs."""
        raise NotImplementedError(f"{type(self).__name__} takes no input to compare an image with")

    def __init__(self, settings, damsm):
        self.s = settings
        self.o = self.Options(**settings.options)
        self.damsm = damsm          # train.gan.FrozenDamsm: encoders in eval mode, no gradients

    def build(self) -> tuple[nn.Module, nn.ModuleList]:
        raise NotImplementedError

    def optimisation(self) -> Optimisation:
        s = self.s
        return Optimisation(s.lr_g, s.lr_d, (s.beta1, s.beta2), s.ema_decay)

    def sampling_noise(self, z: torch.Tensor) -> torch.Tensor:
        """The noise of a generated set from its standard normal draws ``z`` [N, z_dim]."""
        return z

    def sampling_protocol(self) -> str:
        """How ``sampling_noise`` draws, for the scores' protocol."""
        return "z ~ N(0, I), drawn per caption row from (seed, row)"

    def generate(self, G: nn.Module, batch: Batch, z: torch.Tensor, *, noise: bool = True,
                 eps: torch.Tensor | None = None) -> Fake:
        """``eps`` [B, c_dim]: the conditioning-augmentation noise when given (generated sets draw
        it per caption); None draws it from the global RNG.  ``noise=False``: no such noise."""
        raise NotImplementedError

    def d_loss(self, Ds: nn.ModuleList, batch: Batch, fake: Fake) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def g_loss(self, Ds: nn.ModuleList, batch: Batch, fake: Fake) -> dict[str, torch.Tensor]:
        raise NotImplementedError
