"""The baselines' networks at the paper scale (the DCGAN paper's 64 px nets), seed 004's own networks
(``network: pytorch_gan``), and baselines whose networks are smaller than the data."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import settings
import torch
import torch.nn as nn
import torch.nn.functional as F

from t2igan.baselines.base import BaselineSettings, RealBatch, resize
from t2igan.config import load_params
from t2igan.errors import ConfigError
from t2igan.models import dcgan
from t2igan.train import baseline

ROOT = Path(__file__).resolve().parents[1]


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _paper_nets(name: str) -> nn.ModuleDict:
    p = load_params(ROOT / "params.yaml", {"dataset": "cub", "scale": "paper"})
    s = BaselineSettings.from_params(p, name)
    assert (s.image_size, s.data_size, s.width) == (64, 256, 64)
    with torch.device("meta"):
        return baseline.make(s).build()


def test_paper_scale_builds_the_dcgan_papers_64px_networks():
    """G: ConvT 100->512 (4x4), 512->256->128->64->3, no biases, BN on all but the last; D: conv 3->64->128->
    256->512 (4x4, stride 2), BN on all but the first, a 4x4 conv 512->1.  Counted by hand."""
    g = 100 * 512 * 16 + 512 * 256 * 16 + 256 * 128 * 16 + 128 * 64 * 16 + 64 * 3 * 16 + 2 * (512 + 256 + 128 + 64)
    d_convs = 3 * 64 * 16 + 64 * 128 * 16 + 128 * 256 * 16 + 256 * 512 * 16 + 512 * 1 * 16
    d_bn = 2 * (128 + 256 + 512)
    assert (g, d_convs + d_bn) == (3_576_704, 2_765_568)  # the figures
    for name in ("dcgan", "wgan"):
        nets = _paper_nets(name)
        assert (_count(nets["G"]), _count(nets["D"])) == (g, d_convs + d_bn), name
    nets = _paper_nets("wgan_gp")  # the same critic without BatchNorm
    assert (_count(nets["G"]), _count(nets["D"])) == (g, d_convs)


def test_paper_scale_draw_reads_64px_images():
    nets = _paper_nets("draw")
    # plain DRAW's encoder LSTM reads [x, x_hat] (2 x 3 x 64 x 64) and h_dec: 227 M parameters at 256 px
    assert 10e6 < _count(nets) < 20e6


def test_seed_004_networks_are_pytorch_gans_listings():
    """Counted by hand from the listings in seed 004's report (figures 4.1-4.2, 5.2-5.3) at 64 px, z 100."""
    G, D = dcgan.UpsampleGenerator(64, 100), dcgan.DropoutDiscriminator(64)
    g = (100 * 128 * 16 * 16 + 128 * 16 * 16) + 2 * 128 + (128 * 128 * 9 + 128) + 2 * 128 + (128 * 64 * 9 + 64) \
        + 2 * 64 + (64 * 3 * 9 + 3)
    d = (3 * 16 * 9 + 16) + (16 * 32 * 9 + 32) + 2 * 32 + (32 * 64 * 9 + 64) + 2 * 64 + (64 * 128 * 9 + 128) \
        + 2 * 128 + (128 * 4 * 4 + 1)
    assert (_count(G), _count(D)) == (g, d)
    mlp_g = (100 * 128 + 128) + sum(a * b + b + 2 * b for a, b in ((128, 256), (256, 512), (512, 1024))) \
        + (1024 * 3 * 64 * 64 + 3 * 64 * 64)
    mlp_d = (3 * 64 * 64 * 512 + 512) + (512 * 256 + 256) + (256 + 1)
    assert (_count(dcgan.MlpGenerator(64, 100)), _count(dcgan.MlpCritic(64))) == (mlp_g, mlp_d)
    # BatchNorm's second positional argument is eps: the listings' 0.8 is an eps, kept
    bns = [m for m in (*G.modules(), *D.modules()) if isinstance(m, nn.BatchNorm2d)]
    assert [m.eps for m in bns] == [1e-5, 0.8, 0.8, 0.8, 0.8, 0.8]
    assert sum(isinstance(m, nn.Dropout2d) for m in D.modules()) == 4


@pytest.mark.parametrize("loss, generator, critic", [("bce", dcgan.UpsampleGenerator, dcgan.DropoutDiscriminator),
                                                     ("wgan", dcgan.MlpGenerator, dcgan.MlpCritic),
                                                     ("wgan_gp", dcgan.MlpGenerator, dcgan.MlpCritic)])
def test_network_pytorch_gan_picks_seed_004s_networks_and_trains(loss, generator, critic):
    options = dict(loss=loss, network="pytorch_gan", batch_size=4, z_dim=8, n_critic=1,
                   **({"optimizer": "rmsprop", "lr": 2e-4} if loss == "wgan" else {}))
    family = baseline.make(settings.baseline("seed004", "dcgan", options, image_size=16))
    torch.manual_seed(0)
    nets = family.build()
    assert isinstance(nets["G"], generator) and isinstance(nets["D"], critic)
    # seed 004's init: convs N(0, 0.02); Linear layers keep PyTorch's (uniform, bound 1 / sqrt(fan_in))
    first = nets["G"].fc if generator is dcgan.UpsampleGenerator else nets["G"].net[0]
    assert float(first.weight.detach().abs().max()) <= 1 / np.sqrt(8) and float(first.weight.detach().std()) > 0.1
    phases = family.phases(nets)
    if loss == "wgan":
        assert isinstance(phases[0].optimizer, torch.optim.RMSprop) and phases[0].optimizer.defaults["lr"] == 2e-4
    before = [p.detach().clone() for p in nets["G"].parameters()]
    terms = family.step(nets, phases, RealBatch(torch.rand(4, 3, 16, 16) * 2 - 1), 0)
    assert all(torch.isfinite(v) for v in terms.values()) and "g_total" in terms
    assert any(not torch.equal(a, b) for a, b in zip(before, nets["G"].parameters()))
    nets.eval()
    with torch.no_grad():
        images = family.sample(nets, torch.randn(3, 8))
    assert images.shape == (3, 3, 16, 16) and float(images.abs().max()) <= 1


def test_resize_keeps_its_side_shrinks_antialiased_and_grows_within_range():
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert resize(x, 32) is x
    assert torch.equal(resize(x, 16), F.interpolate(x, size=(16, 16), mode="bilinear", antialias=True))
    up = resize(x, 64)
    assert up.shape == (2, 3, 64, 64) and float(up.min()) >= float(x.min()) and float(up.max()) <= float(x.max())
    assert torch.equal(up, F.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False))
    flat = torch.full((1, 3, 16, 16), 0.3)
    assert torch.allclose(resize(flat, 64), torch.full((1, 3, 64, 64), 0.3))


def test_a_baseline_smaller_than_its_data_trains_on_resized_crops_and_writes_sets_at_the_datas_side(tiny):
    """The paper's case in small: 16 px networks on 32 px data.  Real images are shrunk to the networks'
    side for training; the generated set, which is scored against real images, is at the data's side;
    the sample sheets show the networks' own images."""
    prepared, damsm_dir, tmp = tiny
    s = settings.baseline("small", "dcgan", dict(loss="bce", batch_size=4, z_dim=8), image_size=16, data_size=32)
    baseline.train(prepared, tmp / "small", s, samples_dir=tmp / "sheets", progress=False)
    family, nets, _ = baseline.load_model(tmp / "small" / "generator.pt", torch.device("cpu"))
    assert (family.s.image_size, family.s.data_size) == (16, 32)
    rows = np.arange(6) * 10
    images = baseline.generate(family, nets, prepared, rows, seed=0)
    own = baseline.generate(family, nets, prepared, rows, seed=0, side=16)
    assert images.shape == (6, 32, 32, 3) and own.shape == (6, 16, 16, 3)
    up = resize(torch.from_numpy(own).permute(0, 3, 1, 2).float(), 32)
    assert float((up - torch.from_numpy(images).permute(0, 3, 1, 2).float()).abs().mean()) < 3  # uint8 rounding
    baseline.write_set(tmp / "set", family, nets, prepared, rows, seed=0, damsm=None, meta={"variant": "small"})
    assert np.array_equal(np.load(tmp / "set" / "images.npy"), images)


def test_baseline_image_size_is_checked():
    for bad in (48, 128):
        with pytest.raises(ConfigError, match=r"quick\.baseline_image_size: %d must be a power of two <= "
                           r"quick\.image_size \(64\)" % bad):
            load_params(ROOT / "params.yaml", {"quick.baseline_image_size": bad})
