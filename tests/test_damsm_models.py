"""DAMSM encoders: shapes, what trains, weights lookup, and the training stage's resume rules."""
from __future__ import annotations

import pytest
import settings
import torch

from t2igan.models.damsm import ImageEncoder, TextEncoder
from t2igan.weights import WeightsError, find_weights


def test_text_encoder_shapes_padding_and_size():
    enc = TextEncoder(5450).eval()
    caps = torch.randint(1, 5450, (3, 18))
    caps[1, 5:] = 0
    words, sentence = enc(caps, torch.tensor([18, 5, 9]))
    assert words.shape == (3, 256, 18) and sentence.shape == (3, 256)
    assert words[1, :, 5:].abs().sum() == 0  # nothing at padded positions
    # the sentence code is the final states: forward half = output at the last real word
    assert torch.allclose(sentence[1, :128], words[1, :128, 4], atol=1e-6)
    assert torch.allclose(sentence[1, 128:], words[1, 128:, 0], atol=1e-6)
    # padding content does not matter
    caps2 = caps.clone()
    caps2[1, 5:] = 7
    assert torch.allclose(enc(caps2, torch.tensor([18, 5, 9]))[1], sentence)
    n = sum(p.numel() for p in enc.parameters())
    assert abs(n - 2.1e6) / 2.1e6 < 0.02  # MODELS.md: text encoder 2.1 M at AttnGAN's CUB vocabulary


def test_text_encoder_rejects_empty_caption():
    with pytest.raises(ValueError, match=r"batch position \[1\] have no known word"):
        TextEncoder(10)(torch.zeros(2, 4, dtype=torch.long), torch.tensor([2, 0]))


def test_inception_encoder_random_weights_shapes_and_frozen_backbone():
    enc = ImageEncoder("inception_v3", pretrained=False)
    enc.train()
    regions, code = enc(torch.rand(2, 3, 64, 64) * 2 - 1)
    assert regions.shape == (2, 256, 17, 17) and code.shape == (2, 256)
    trainable = {n for n, p in enc.named_parameters() if p.requires_grad}
    assert trainable == {"local_head.weight", "global_head.weight", "global_head.bias"}
    assert not enc.backbone.training  # BatchNorm statistics stay put even under .train()
    bn = enc.backbone.to_local[0].bn
    before = bn.running_mean.clone()
    enc(torch.rand(2, 3, 64, 64))
    assert torch.equal(before, bn.running_mean)


def test_cnn_encoder_trains_entirely():
    enc = ImageEncoder("cnn", cnn_width=8)
    regions, code = enc(torch.randn(2, 3, 32, 32))
    assert regions.shape == (2, 256, 4, 4) and code.shape == (2, 256)
    assert all(p.requires_grad for p in enc.parameters())
    with pytest.raises(ValueError, match="unknown image encoder backbone 'vgg'"):
        ImageEncoder("vgg")


def test_cnn_encoder_resizes_to_its_input_side():
    """cnn_input 16: a 64 px image is judged as its 16 px version (a 2 x 2 region grid)."""
    torch.manual_seed(0)
    enc = ImageEncoder("cnn", cnn_width=4, cnn_input=16).eval()
    big = torch.rand(2, 3, 64, 64) * 2 - 1
    regions, code = enc(big)
    assert regions.shape == (2, 256, 2, 2)
    small = torch.nn.functional.interpolate(big, size=(16, 16), mode="bilinear", antialias=True)
    assert torch.allclose(enc(small)[1], code, atol=1e-6)


def test_weights_missing_and_corrupt(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(WeightsError, match=r"hub/checkpoints/w-1234abcd.pth not found .*Download http://x/w"):
        find_weights("w-1234abcd.pth", "1234abcd", "http://x/w")
    f = tmp_path / "w.pth"
    f.write_bytes(b"not the weights")
    with pytest.raises(WeightsError, match="does not start with the expected 1234abcd"):
        find_weights("w-1234abcd.pth", "1234abcd", "http://x/w", str(f))
    import hashlib
    assert find_weights("w.pth", hashlib.sha256(b"not the weights").hexdigest()[:8], "u", str(f)) == f


def test_the_inception_backbone_loads_a_placed_file_checked_against_its_digest(tmp_path):
    """The file fetch_weights places (here the test-only random one) loads when its own digest is
    the one checked; against the pinned digest it is refused."""
    from t2igan import weights
    from t2igan.models.damsm import ImageEncoder

    path = weights.random_imagenet_inception(tmp_path / weights.IMAGENET_INCEPTION.file, seed=0)
    digest = weights.sha256(path)
    encoder = ImageEncoder("inception_v3", weights_path=str(path), weights_sha256=digest).eval()
    state = torch.load(path, weights_only=True)
    assert torch.equal(encoder.backbone.to_local[0].conv.weight, state["Conv2d_1a_3x3.conv.weight"])
    with torch.no_grad():
        regions, code = encoder(torch.rand(2, 3, 64, 64) * 2 - 1)
    assert regions.shape == (2, 256, 17, 17) and code.shape == (2, 256) and torch.isfinite(code).all()
    with pytest.raises(WeightsError, match="does not start with the expected 0cc3c7bd"):
        ImageEncoder("inception_v3", weights_path=str(path))


def test_image_heads_start_uniform_in_a_tenth_as_the_original():
    torch.manual_seed(0)
    enc = ImageEncoder("cnn", cnn_width=8)
    for head in (enc.local_head, enc.global_head):
        w = head.weight
        assert w.abs().max() <= 0.1 and w.abs().max() > 0.09  # U(-0.1, 0.1), not the default fan-in bound
        assert abs(float(w.mean())) < 0.01


def test_learning_rate_decays_while_above_the_floor_as_the_original():
    from t2igan.train.damsm import learning_rate

    s = settings.damsm(epochs=200, batch_size=2, lr=0.002, lr_decay=0.98, lr_min=0.0002)  # AttnGAN's values
    lr, original = s.lr, []
    for _ in range(200):  # AttnGAN's pretrain_DAMSM.py: `if lr > ENCODER_LR / 10.: lr *= 0.98` after each epoch
        original.append(lr)
        if lr > s.lr / 10:
            lr *= 0.98
    assert [learning_rate(s, e) for e in range(200)] == original
    assert learning_rate(s, 199) == pytest.approx(1.999e-4, abs=1e-7) and learning_rate(s, 199) < s.lr_min
