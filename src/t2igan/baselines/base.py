"""What a baseline family gives its training loop (``t2igan.train.baseline``), and what it gets.

The baselines (seeds 002 and 004) are not text-to-image GANs: DCGAN, WGAN and WGAN-GP are
unconditional, DRAW is a VAE, conditional on a species or a sentence at most.  They train with
their papers' optimisers and schedules, not AttnGAN's, so they have their own loop and stages
(``*_baseline@<name>``); what they share with the text-to-image variants is the data, the
generated-set format and the scores.

A family owns its networks, optimisers and step:

- ``Options``: a frozen dataclass of its settings (params.yaml ``baselines.<name>``), ``self.o``;
- ``condition``: "none", "species" (one-hot) or "sentence" (the frozen DAMSM's sentence code);
- ``build()``: every network in an ``nn.ModuleDict``, initialised (torch's global RNG);
- ``phases(nets)``: its optimiser phases (``t2igan.train.updates.Phase``: an optimiser, its interval
  on the run's step clock, gradient clipping, what to do after each update);
- ``step(nets, phases, batch, step)``: one training step (``step`` counts batches since the start of
  the run: the phases' clock), its forward passes inside ``self.autocast(device)`` and its backward
  passes outside (``Phase.update``, ``updates.run_phases``); returns named scalar loss terms;
- ``noise(n, rng)``: the latent of ``n`` samples [n, ...] from a numpy generator;
- ``sample(nets, noise, cond)``: images [n, 3, s, s] in [-1, 1].
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from t2igan.errors import ConfigError
from t2igan.models.damsm import DIM as SENTENCE_DIM
from t2igan.train import updates

N_SPECIES = 200  # CUB's classes; the synthetic set has as many


@dataclass(frozen=True)
class BaselineSettings:
    """Everything that decides a trained baseline (its `baselines` entry and the scale).
    No field has a default: params.yaml is the one place a value is set, read through ``from_params``
    (tests build theirs the same way: tests/settings.py)."""

    name: str
    model: str
    epochs: int
    image_size: int  # the side the networks work at (the scale's baseline_image_size)
    data_size: int   # the data's side (the scale's image_size): real images come in at it, generated sets go out at it
    width: int
    max_words: int
    seed: int
    workers: int
    device: str
    precision: str  # train.precision: fp32 | bf16 (autocast around the forward passes)
    steps_per_epoch: int | None  # at most this many batches an epoch (the smoke preset); None: all
    options: dict

    @classmethod
    def from_params(cls, p, name: str, **options) -> BaselineSettings:
        """From validated params; ``options`` override the entry's (the DRAW sweep)."""
        if name not in p.baselines:
            raise ConfigError(f"baselines: no entry {name!r} in params.yaml; known: {', '.join(p.baselines) or 'none'}")
        entry = p.baselines[name]
        options = {**entry.options, **options}
        if p.scale.baseline_batch_size is not None:
            options["batch_size"] = p.scale.baseline_batch_size
        # a critic-scheduled GAN updates G once every n_critic batches: it trains n_critic times as
        # many epochs, so every GAN baseline makes the same number of generator updates
        epochs = p.scale.baseline_epochs * options.get("n_critic", 1)
        return cls(name=name, model=entry.model, epochs=epochs,
                   image_size=p.scale.baseline_image_size, data_size=p.scale.image_size,
                   width=p.scale.baseline_width, max_words=p.preprocess.max_words, seed=p.seed,
                   workers=p.runtime.loader_workers, device=p.runtime.device, precision=p.train.precision,
                   steps_per_epoch=p.scale.steps_per_epoch, options=options)


@dataclass
class RealBatch:
    images: torch.Tensor                 # [B, 3, s, s] in [-1, 1]
    cond: torch.Tensor | None = None     # [B, cond_dim], or None for an unconditional family


class Baseline:
    """Base class of a baseline family; see the module docstring."""

    @dataclass(frozen=True)
    class Options:
        """No options of its own."""

    condition = "none"
    channels_last = False  # NHWC weights where updates.channels_last says they are faster (convolutional nets)

    def __init__(self, settings: BaselineSettings):
        self.s = settings
        self.o = self.Options(**settings.options)

    def autocast(self, device: torch.device):
        """The context of the family's training forward passes (``train.precision``)."""
        return updates.autocast(device, self.s.precision)

    @property
    def cond_dim(self) -> int:
        return {"none": 0, "species": N_SPECIES, "sentence": SENTENCE_DIM}[self.condition]

    @property
    def text_conditional(self) -> bool:
        """Whether its images answer a caption: then R-precision and attribute accuracy apply."""
        return self.condition == "sentence"

    def to_own_side(self, images: torch.Tensor) -> torch.Tensor:
        """Real images [B, 3, S, S] (float) at the family's side: an antialiased bilinear resize when S is
        not ``image_size`` (the paper's baselines are 64 px networks on 256 px data), else unchanged."""
        return resize(images, self.s.image_size)

    def build(self) -> nn.ModuleDict:
        raise NotImplementedError

    def phases(self, nets: nn.ModuleDict) -> list[updates.Phase]:
        raise NotImplementedError

    def step(self, nets: nn.ModuleDict, phases: list[updates.Phase], batch: RealBatch,
             step: int) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def noise(self, n: int, rng: np.random.Generator) -> torch.Tensor:
        raise NotImplementedError

    def sample(self, nets: nn.ModuleDict, noise: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    # A family with views of its own on real images (DRAW: its canvases, its KL per step) sets this; the
    # generate and score stages then hand it test images (uint8 [B, s, s, 3]) and their conditions.
    reads_test_images = False

    def test_figures(self, nets: nn.ModuleDict, real: np.ndarray, cond: torch.Tensor | None, *,
                     seed: int) -> dict[str, np.ndarray]:
        """The family's own figures of a few test images: file name -> RGB image."""
        return {}

    def test_scores(self, nets: nn.ModuleDict, real: np.ndarray, cond: torch.Tensor | None, *, seed: int) -> dict:
        """The family's own metrics on the test set, added to its scores under the family's name."""
        return {}


def species_one_hot(class_ids: torch.Tensor) -> torch.Tensor:
    """CUB class ids [B] (1..200, as in the prepared index) -> float one-hot [B, N_SPECIES]."""
    if class_ids.numel() and (int(class_ids.min()) < 1 or int(class_ids.max()) > N_SPECIES):
        raise ValueError(f"class ids must lie in 1..{N_SPECIES}, got {int(class_ids.min())}..{int(class_ids.max())}")
    return F.one_hot(class_ids.long() - 1, N_SPECIES).float()


def resize(images: torch.Tensor, side: int) -> torch.Tensor:
    """Float images [B, C, S, S] at side ``side``: unchanged when S is ``side``, else bilinear (antialiased when
    shrinking, as the GANs' lower branches are made: ``data.dataset.to_branches``)."""
    if images.shape[-1] == side:
        return images
    return F.interpolate(images, size=(side, side), mode="bilinear", antialias=side < images.shape[-1],
                         align_corners=False)
