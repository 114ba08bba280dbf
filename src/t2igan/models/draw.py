"""DRAW (Gregor et al. 2015), the recurrent VAE of seed 002, for RGB images in [0, 1].

At every step t = 1..T, with canvas c (logits, starting at 0) and decoder state h_dec:
    x_hat = x - sigmoid(c_{t-1})                      the error image
    r     = read(x, x_hat, h_dec_{t-1})               [x, x_hat], or two N x N glimpses
    h_enc = LSTM_enc([r, h_dec_{t-1}, cond])
    mu, logvar = Linear(h_enc);  z = mu + exp(logvar / 2) * eps
    h_dec = LSTM_dec([z, cond])
    c_t   = c_{t-1} + write(h_dec)                    Linear, or an N x N patch placed by filterbanks
and the output is sigmoid(c_T).  Generation runs the decoder alone from z ~ N(0, I).

Attention (``read_n``/``write_n``): a Linear on h_dec gives (g~x, g~y, log sigma^2, log delta~,
log gamma); the grid centre is g = (A + 1) / 2 * (g~ + 1), the stride delta = (max(A, B) - 1) /
(N - 1) * delta~, the filter centres mu_i = g + (i - N/2 - 1/2) * delta for i = 1..N over pixel
coordinates a = 1..A, and F[i, a] = exp(-(a - mu_i)^2 / (2 sigma^2)), each row normalised to
sum 1.  read = gamma * F_Y x F_X^T (per channel), write = F_Y^T w F_X / gamma.

``cond_dim`` > 0: the conditional DRAW, the condition concatenated to both LSTMs' inputs.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def filterbank(g: torch.Tensor, delta: torch.Tensor, sigma2: torch.Tensor, size: int, n: int) -> torch.Tensor:
    """One axis's filterbank: centre g [B], stride delta [B], variance sigma2 [B] -> F [B, n, size],
    rows normalised to sum 1 over the ``size`` pixel coordinates a = 1..size."""
    i = torch.arange(1, n + 1, device=g.device, dtype=g.dtype)
    a = torch.arange(1, size + 1, device=g.device, dtype=g.dtype)
    mu = g[:, None] + (i[None, :] - n / 2 - 0.5) * delta[:, None]                    # [B, n]
    logits = -(a[None, None, :] - mu[:, :, None]).pow(2) / (2 * sigma2[:, None, None])
    return torch.softmax(logits, dim=-1)  # exp / sum exp: the normalisation, without underflow to 0/0


def kl_per_step(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) summed over the latent dims and averaged over the batch, per
    step: mu, logvar [T, B, Z] -> [T]."""
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=-1).mean(dim=-1)


def latent_statistics(mu: torch.Tensor, logvar: torch.Tensor, threshold: float = 0.9) -> dict[str, list]:
    """Per step, over a set of images (mu, logvar [T, N, Z]): the variance law (variance of the
    means + mean of the variances, averaged over the dims; about 1 when the KL has done its work)
    and the inactive variables (mean posterior variance above ``threshold``), as seed 002 counts them."""
    mean_var = logvar.exp().mean(dim=1)                                             # [T, Z]
    law = mu.var(dim=1, unbiased=False) + mean_var
    return {"variance_law": law.mean(dim=1).tolist(), "inactive": (mean_var > threshold).sum(dim=1).tolist()}


class DRAW(nn.Module):
    def __init__(self, image_size: int, *, channels: int = 3, steps: int = 10, z_dim: int = 16, enc_dim: int = 256,
                 dec_dim: int = 256, read_n: int | None = None, write_n: int | None = None, cond_dim: int = 0):
        super().__init__()
        if (read_n is None) != (write_n is None):
            raise ValueError("give both read_n and write_n (attention) or neither")
        self.size, self.channels, self.steps, self.z_dim = image_size, channels, steps, z_dim
        self.read_n, self.write_n, self.cond_dim = read_n, write_n, cond_dim
        pixels = channels * image_size * image_size
        read_dim = 2 * (channels * read_n * read_n if read_n else pixels)
        self.encoder = nn.LSTMCell(read_dim + dec_dim + cond_dim, enc_dim)
        self.decoder = nn.LSTMCell(z_dim + cond_dim, dec_dim)
        self.to_latent = nn.Linear(enc_dim, 2 * z_dim)
        self.to_write = nn.Linear(dec_dim, channels * write_n * write_n if write_n else pixels)
        if read_n:
            self.read_params = nn.Linear(dec_dim, 5)
            self.write_params = nn.Linear(dec_dim, 5)

    # ------------------------------------------------------------ attention
    def _banks(self, h: torch.Tensor, head: nn.Linear, n: int):
        gx_, gy_, log_sigma2, log_delta_, log_gamma = head(h).unbind(dim=1)
        A = self.size
        gx, gy = (A + 1) / 2 * (gx_ + 1), (A + 1) / 2 * (gy_ + 1)
        delta = (A - 1) / max(n - 1, 1) * log_delta_.exp()
        sigma2 = log_sigma2.exp()
        return filterbank(gx, delta, sigma2, A, n), filterbank(gy, delta, sigma2, A, n), log_gamma.exp()

    def read(self, x: torch.Tensor, x_hat: torch.Tensor, h_dec: torch.Tensor) -> torch.Tensor:
        if not self.read_n:
            return torch.cat([x.flatten(1), x_hat.flatten(1)], dim=1)
        fx, fy, gamma = self._banks(h_dec, self.read_params, self.read_n)

        def glimpse(img):  # [B, C, A, A] -> [B, C, N, N] = F_Y img F_X^T per channel
            return torch.einsum("bny,bcyx,bmx->bcnm", fy, img, fx)

        return gamma[:, None] * torch.cat([glimpse(x).flatten(1), glimpse(x_hat).flatten(1)], dim=1)

    def write(self, h_dec: torch.Tensor) -> torch.Tensor:
        w = self.to_write(h_dec)
        if not self.write_n:
            return w.view(-1, self.channels, self.size, self.size)
        fx, fy, gamma = self._banks(h_dec, self.write_params, self.write_n)
        w = w.view(-1, self.channels, self.write_n, self.write_n)
        return torch.einsum("bny,bcnm,bmx->bcyx", fy, w, fx) / gamma[:, None, None, None]

    # ------------------------------------------------------------ passes
    def _cond(self, cond: torch.Tensor | None, batch: int, device) -> list[torch.Tensor]:
        if self.cond_dim == 0:
            return []
        if cond is None or cond.shape != (batch, self.cond_dim):
            got = None if cond is None else list(cond.shape)
            raise ValueError(f"this DRAW is conditional: give cond [{batch}, {self.cond_dim}], got {got}")
        return [cond.to(device)]

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None, eps: torch.Tensor | None = None,
                keep_canvases: bool = False):
        """x [B, C, A, A] in [0, 1] -> (canvas logits [B, C, A, A], mu [T, B, Z], logvar [T, B, Z],
        the sigmoid canvas after each step [T, B, C, A, A] or None).  ``eps`` [T, B, Z]: the
        reparameterisation noise (None: torch's global RNG)."""
        B = x.shape[0]
        c_in = self._cond(cond, B, x.device)
        canvas = torch.zeros_like(x)
        h_enc = c_enc = x.new_zeros(B, self.encoder.hidden_size)
        h_dec = c_dec = x.new_zeros(B, self.decoder.hidden_size)
        mus, logvars, canvases = [], [], []
        hoisted = None if self.read_n else self._hoist_image(x)
        for t in range(self.steps):
            if hoisted is None:
                x_hat = x - torch.sigmoid(canvas)
                r = self.read(x, x_hat, h_dec)
                h_enc, c_enc = self.encoder(torch.cat([r, h_dec, *c_in], dim=1), (h_enc, c_enc))
            else:
                h_enc, c_enc = self._plain_encoder_step(hoisted, canvas, torch.cat([h_dec, *c_in], dim=1),
                                                        h_enc, c_enc)
            mu, logvar = self.to_latent(h_enc).float().chunk(2, dim=1)  # float32 under bf16 autocast too
            noise = torch.randn_like(mu) if eps is None else eps[t]
            z = mu + noise * (0.5 * logvar).exp()
            h_dec, c_dec = self.decoder(torch.cat([z, *c_in], dim=1), (h_dec, c_dec))
            canvas = canvas + self.write(h_dec)
            mus.append(mu)
            logvars.append(logvar)
            if keep_canvases:
                canvases.append(torch.sigmoid(canvas))
        return canvas, torch.stack(mus), torch.stack(logvars), (torch.stack(canvases) if keep_canvases else None)

    # ------------------------------------------------------------ the plain read, hoisted
    # Without attention the encoder reads [x, x_hat] with x_hat = x - sigmoid(c), so its input
    # weights split as W_x x + W_xhat x_hat = (W_x + W_xhat) x - W_xhat sigmoid(c).  The first term
    # does not change over the steps: computed once per image, it halves the per-step product with
    # the largest matrix of the model (2 x 3 x A x A inputs).  Same function, rounded differently.
    def _hoist_image(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(W_x + W_xhat) x + b, W_xhat and the rest of the input weights; split once per pass, so
        the steps' gradients add up per piece (a slice per step would build a full-size gradient each)."""
        pixels, w = x[0].numel(), self.encoder.weight_ih
        w_x, w_xhat, w_rest = w.split([pixels, pixels, w.shape[1] - 2 * pixels], dim=1)
        return F.linear(x.flatten(1), w_x + w_xhat, self.encoder.bias_ih), w_xhat, w_rest

    def _plain_encoder_step(self, hoisted, canvas: torch.Tensor, rest: torch.Tensor,
                            h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """nn.LSTMCell's step (gates i, f, g, o) on input [x, x - sigmoid(canvas), rest]."""
        image, w_xhat, w_rest = hoisted
        gates = (image - F.linear(torch.sigmoid(canvas).flatten(1), w_xhat) + F.linear(rest, w_rest)
                 + F.linear(h, self.encoder.weight_hh, self.encoder.bias_hh))
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c

    @torch.no_grad()
    def sample(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """z [T, B, Z] ~ N(0, I) -> images [B, C, A, A] in [0, 1]: the decoder alone."""
        T, B, _ = z.shape
        if T != self.steps:
            raise ValueError(f"z has {T} steps, this DRAW {self.steps}")
        c_in = self._cond(cond, B, z.device)
        canvas = z.new_zeros(B, self.channels, self.size, self.size)
        h_dec = c_dec = z.new_zeros(B, self.decoder.hidden_size)
        for t in range(T):
            h_dec, c_dec = self.decoder(torch.cat([z[t], *c_in], dim=1), (h_dec, c_dec))
            canvas = canvas + self.write(h_dec)
        return torch.sigmoid(canvas)


def reconstruction_loss(logits: torch.Tensor, x: torch.Tensor, kind: str = "bce") -> torch.Tensor:
    """Per image, summed over pixels and averaged over the batch: BCE on the canvas logits, or the
    squared error of sigmoid(canvas)."""
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1).mean()
    if kind == "mse":
        return (torch.sigmoid(logits) - x).pow(2).flatten(1).sum(1).mean()
    raise ValueError(f"reconstruction loss must be 'bce' or 'mse', got {kind!r}")
