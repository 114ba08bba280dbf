"""DRAW (seed 002) as a baseline: the recurrent VAE of ``models/draw.py`` on the bird crops.

Loss per image (``weighting: sum``, the DRAW paper's): reconstruction (``loss``: BCE on the canvas
logits, or squared error, summed over pixels) + the KL of every step to N(0, I), summed over steps.
``weighting: seed`` is seed 002's Keras code: the reconstruction averaged over pixels and the summed
KL divided by the number of steps, which weighs the KL s * s * 3 / T times more (1.5e3 at 64 px RGB
and T = 8) and so shapes how many latents stay inactive.  Adam, gradient norm clipped.
Pixels are in [0, 1] inside the model, [-1, 1] outside it like every other family.
``attention`` false: read [x, x_hat] and a Linear write; true: ``read_n`` x ``read_n`` glimpses
and ``write_n`` x ``write_n`` patches through Gaussian filterbanks.
``condition``: none; species (a one-hot of the class, as the seed did with MNIST digits); or
sentence (the frozen DAMSM's sentence code of a caption: text-to-image, so R-precision applies),
concatenated to the encoder's and the decoder's inputs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn as nn

from t2igan.baselines.base import Baseline, RealBatch
from t2igan.data.dataset import to_branches
from t2igan.generate import to_uint8
from t2igan.models import draw
from t2igan.report.grids import image_grid
from t2igan.train import updates


class DRAWBaseline(Baseline):
    @dataclass(frozen=True)
    class Options:
        attention: bool = False
        read_n: int = field(default=12, metadata={"min": 2})
        write_n: int = field(default=12, metadata={"min": 2})
        steps: int = field(default=8, metadata={"min": 1})
        z_dim: int = field(default=16, metadata={"min": 1})    # per step
        enc_dim: int = field(default=256, metadata={"min": 1})
        dec_dim: int = field(default=256, metadata={"min": 1})
        loss: Literal["bce", "mse"] = "bce"
        condition: Literal["none", "species", "sentence"] = "none"
        weighting: Literal["sum", "seed"] = "sum"   # the DRAW paper's loss, or seed 002's (see the module)
        lr: float = field(default=1e-3, metadata={"min": 0.0})
        beta1: float = field(default=0.5, metadata={"min": 0.0, "max": 1.0})
        beta2: float = field(default=0.999, metadata={"min": 0.0, "max": 1.0})
        grad_clip: float = field(default=10.0, metadata={"min": 0.0})   # gradient-norm clip; 0: none
        batch_size: int = field(default=64, metadata={"min": 2})

    @property
    def condition(self) -> str:
        return self.o.condition

    def build(self) -> nn.ModuleDict:
        o = self.o
        n = (o.read_n, o.write_n) if o.attention else (None, None)
        return nn.ModuleDict({"draw": draw.DRAW(self.s.image_size, steps=o.steps, z_dim=o.z_dim, enc_dim=o.enc_dim,
                                                dec_dim=o.dec_dim, read_n=n[0], write_n=n[1],
                                                cond_dim=self.cond_dim)})

    def phases(self, nets: nn.ModuleDict) -> list[updates.Phase]:
        o = self.o
        return [updates.Phase("draw", torch.optim.Adam(nets["draw"].parameters(), lr=o.lr, betas=(o.beta1, o.beta2)),
                              clip=o.grad_clip if o.grad_clip > 0 else None)]

    def losses(self, net: nn.Module, x: torch.Tensor, cond: torch.Tensor | None, eps=None) -> dict[str, torch.Tensor]:
        """Loss terms on images ``x`` in [0, 1] (``loss_terms``, whose sum is "total", the one minimised);
        also the per-step KL, mu and logvar for statistics."""
        logits, mu, logvar, _ = net(x, cond, eps)
        kl = draw.kl_per_step(mu, logvar)
        rec = draw.reconstruction_loss(logits, x, self.o.loss)
        if self.o.weighting == "seed":  # seed 002's Keras: K.mean over the pixels, the summed KL / timesteps
            terms = {"reconstruction_per_pixel": rec / x[0].numel(), "kl_over_steps": kl.sum() / self.o.steps}
        else:
            terms = {"reconstruction": rec, "kl": kl.sum()}
        first, second = terms.values()
        return {"total": first + second, **terms, "kl_steps": kl, "mu": mu, "logvar": logvar, "logits": logits}

    @property
    def loss_terms(self) -> tuple[str, str]:
        """The two logged terms: in nats per image (``weighting: sum``), or weighted as seed 002 did."""
        return ("reconstruction_per_pixel", "kl_over_steps") if self.o.weighting == "seed" else ("reconstruction", "kl")

    def step(self, nets: nn.ModuleDict, phases: list[updates.Phase], batch: RealBatch,
             step: int) -> dict[str, torch.Tensor]:
        with self.autocast(batch.images.device):  # the canvas, latents and losses stay float32
            terms = self.losses(nets["draw"], (batch.images + 1) / 2, batch.cond)
        phases[0].update(terms["total"])
        return {k: terms[k].detach() for k in ("total", *self.loss_terms)}

    def noise(self, n: int, rng: np.random.Generator) -> torch.Tensor:
        return torch.from_numpy(rng.standard_normal((n, self.o.steps, self.o.z_dim), dtype=np.float32))

    def sample(self, nets: nn.ModuleDict, noise: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return nets["draw"].sample(noise.transpose(0, 1), cond) * 2 - 1

    @torch.no_grad()
    def canvases(self, nets: nn.ModuleDict, images: torch.Tensor, cond: torch.Tensor | None,
                 seed: int) -> torch.Tensor:
        """The canvas after each step for ``images`` [B, 3, s, s] in [-1, 1]: [B, T, 3, s, s] in [-1, 1]."""
        x = (images + 1) / 2
        eps = torch.randn(self.o.steps, len(x), self.o.z_dim, generator=torch.Generator().manual_seed(seed))
        _, _, _, canvases = nets["draw"](x, cond, eps.to(x.device), keep_canvases=True)
        return canvases.transpose(0, 1) * 2 - 1

    reads_test_images = True

    @torch.no_grad()
    def test_figures(self, nets: nn.ModuleDict, real: np.ndarray, cond: torch.Tensor | None, *,
                     seed: int) -> dict[str, np.ndarray]:
        """canvas.png: rows are test images; columns the image, then the canvas after each step."""
        device = next(nets.parameters()).device
        x = to_branches(torch.from_numpy(real).permute(0, 3, 1, 2).to(device), [real.shape[1]])[0]
        x = self.to_own_side(x)
        canvases = self.canvases(nets, x, None if cond is None else cond.to(device), seed)  # [B, T, 3, s, s]
        steps = canvases.shape[1]
        shown = to_uint8(x)  # the image as the network read it
        grid = np.concatenate([shown[:, None], to_uint8(canvases.flatten(0, 1)).reshape(len(real), steps,
                                                                                        *shown.shape[1:])], axis=1)
        return {"canvas.png": image_grid(grid, column_labels=["image"] + [f"step {t + 1}" for t in range(steps)])}

    def test_scores(self, nets: nn.ModuleDict, real: np.ndarray, cond: torch.Tensor | None, *, seed: int) -> dict:
        return {"draw": self.statistics(nets, real, cond, seed=seed)}

    @torch.no_grad()
    def statistics(self, nets: nn.ModuleDict, images: np.ndarray, cond: torch.Tensor | None, *, seed: int,
                   batch_size: int = 250, inactive_threshold: float = 0.9) -> dict:
        """DRAW's own metrics on uint8 images [N, s, s, 3] (the test set): mean reconstruction error
        per image (BCE and squared error, summed over pixels, of the canvas after the last step), KL
        per step and in total, and per step the variance law and the inactive latent variables."""
        net = nets["draw"]
        device = next(net.parameters()).device
        gen = torch.Generator().manual_seed(seed)
        sums = {"bce": 0.0, "mse": 0.0}
        kl, mus, logvars = 0.0, [], []
        for i in range(0, len(images), batch_size):
            x = torch.from_numpy(np.array(images[i:i + batch_size])).permute(0, 3, 1, 2).float().div(255).to(device)
            x = self.to_own_side(x)  # the error is per image at the network's side
            c = None if cond is None else cond[i:i + batch_size].to(device)
            eps = torch.randn(self.o.steps, len(x), self.o.z_dim, generator=gen).to(device)
            logits, mu, logvar, _ = net(x, c, eps)
            sums["bce"] += float(draw.reconstruction_loss(logits, x, "bce")) * len(x)
            sums["mse"] += float(draw.reconstruction_loss(logits, x, "mse")) * len(x)
            kl = kl + draw.kl_per_step(mu, logvar) * len(x)
            mus.append(mu.cpu())
            logvars.append(logvar.cpu())
        n = len(images)
        latent = draw.latent_statistics(torch.cat(mus, dim=1), torch.cat(logvars, dim=1), inactive_threshold)
        kl_steps = (kl / n).tolist()
        return {"reconstruction_bce": sums["bce"] / n, "reconstruction_mse": sums["mse"] / n,
                "kl_total": float(sum(kl_steps)), "kl_per_step": kl_steps,
                "inactive_latents": int(sum(latent["inactive"])), "inactive_per_step": latent["inactive"],
                "variance_law_per_step": latent["variance_law"], "latents": self.o.steps * self.o.z_dim,
                "images": n}
