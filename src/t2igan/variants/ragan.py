"""RaGAN (the thesis of seed 001): AttnGAN conditioned on a reference patch as well as the caption.

The patch (``crop_refs``) goes through the frozen DAMSM image encoder, as the thesis's reference
encoder: global feature r_bar (F_0's input) and local features r (F_ref's regions); see
``models/ragan.py``.  Being the pretrained judge, loaded whole at every start, the encoder cannot
be re-initialised on resume (the thesis's loss spikes at every restart).  Generator loss:
AttnGAN's + ``lambda2`` * L_sim (``models/ragan.py``) between the reference and the final image,
both through the same encoder.

Options (params.yaml ``variants.<name>``): ``version`` 0 (AttnGAN's discriminators) or 1 (also
a reference-conditioned logit in D and in G's adversarial loss); ``lambda2``; ``ref_blocks``
(false: no F_ref, the ablation); ``reference_species`` (any, the thesis's choice in its section 4.4: a
caption's patch may come from another species; same: from the caption's own species).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn as nn

from t2igan.errors import DataFormatError
from t2igan.models import ragan
from t2igan.models.attngan import Discriminator, init_weights
from t2igan.variants.attngan import AttnGAN
from t2igan.variants.base import Batch, Fake


class References:
    """The patches of a ``crop_refs`` directory (``t2igan.data.refs`` writes them) and one of its
    assignments (``species``): RaGAN's input ``reference`` (``RaGAN.row_inputs``)."""

    def __init__(self, out_dir: str | Path, species: str, n_captions: int | None = None):
        out_dir = Path(out_dir)  # ``species`` is checked by the Options (crop_refs writes "same" and "any")
        if not (out_dir / "refs.npz").is_file() or not (out_dir / "patches.npy").is_file():
            raise DataFormatError(str(out_dir), "no reference patches here; run `dvc repro crop_refs`")
        with np.load(out_dir / "refs.npz") as z:
            key = f"assignment_{species}"
            if key not in z:
                raise DataFormatError(str(out_dir / "refs.npz"), f"no {key}: written by an older crop_refs; "
                                      "run `dvc repro crop_refs`")
            self.assignment = z[key]
        self.patches = np.load(out_dir / "patches.npy", mmap_mode="r")
        self.files = sorted(p for p in out_dir.iterdir() if p.is_file())  # what a training run's digest covers
        if n_captions is not None and len(self.assignment) != n_captions:
            raise DataFormatError(str(out_dir / "refs.npz"), f"{key} covers {len(self.assignment)} captions, the "
                                  f"prepared data has {n_captions}; run `dvc repro crop_refs`")

    @property
    def size(self) -> int:
        return int(self.patches.shape[1])

    def for_rows(self, rows: np.ndarray) -> np.ndarray:
        """The patches of caption ``rows``: uint8 [N, p, p, 3] (a writable copy)."""
        return np.asarray(self.patches[self.assignment[np.asarray(rows)]])


class RaGAN(AttnGAN):
    @dataclass(frozen=True)
    class Options:
        version: int = field(default=0, metadata={"min": 0, "max": 1})   # 1: reference-conditioned D terms
        lambda2: float = field(default=1.0, metadata={"min": 0.0})       # weight of L_sim (thesis: 1)
        ref_blocks: bool = True                                          # false: no F_ref blocks (ablation)
        reference_species: Literal["same", "any"] = "any"                # the patches' species (thesis: any)

    inputs = ("reference",)

    def row_inputs(self, data_dirs, n_captions: int) -> dict[str, References]:
        """Each caption's patch (stage crop_refs): of any species, or of its own (``reference_species``)."""
        return {"reference": References(data_dirs["crop_refs"], self.o.reference_species, n_captions=n_captions)}

    def input_similarity(self, input_regions: torch.Tensor, image_regions: torch.Tensor) -> torch.Tensor:
        return ragan.reference_similarity(input_regions, image_regions)

    def build(self) -> tuple[nn.Module, nn.ModuleList]:
        s = self.s
        G = ragan.Generator(gf_dim=s.gf_dim, z_dim=s.z_dim, c_dim=s.c_dim, branches=len(s.sizes), r_num=s.r_num,
                            base_size=s.sizes[0], ref_blocks=self.o.ref_blocks)
        D = ragan.RefDiscriminator if self.o.version == 1 else Discriminator
        Ds = nn.ModuleList(D(size, df_dim=s.df_dim) for size in s.sizes)
        return init_weights(G), init_weights(Ds)

    def encode_reference(self, reference: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Patches [B, 3, p, p] in [-1, 1] -> (local features [B, 256, h, w], global [B, 256])."""
        if reference is None:
            raise ValueError(f"{self.s.variant} takes a reference patch with every caption; the batch has none")
        with torch.no_grad():  # a fixed encoder: nothing to learn from the reference side
            return self.damsm.image(reference)

    def generate(self, G, batch: Batch, z: torch.Tensor, *, noise: bool = True, eps=None) -> Fake:
        regions, code = self.encode_reference(batch.inputs.get("reference"))
        images, attentions, ref_attentions, mu, logvar = G(z, batch.sentence, batch.words, batch.pad_mask, regions,
                                                           code, noise=noise, eps=eps)
        return Fake(images, attentions, input_attentions=ref_attentions,
                    extra={"mu": mu, "logvar": logvar, "ref_regions": regions, "ref_code": code})

    def discriminator_reference(self, fake: Fake) -> torch.Tensor | None:
        return fake.extra["ref_code"] if self.o.version == 1 else None

    def more_g_terms(self, batch: Batch, fake: Fake, regions: torch.Tensor) -> dict[str, tuple[float, torch.Tensor]]:
        return {"sim": (self.o.lambda2, ragan.similarity_loss(fake.extra["ref_regions"], regions))}
