"""DAMSM encoders (AttnGAN section 3.2): a text encoder and an image encoder into one 256-d space.

Text: embedding 300 (uniform +-0.1, dropout 0.5) -> one-layer bidirectional LSTM, 128 per
direction.  Word features e = the LSTM outputs [B, 256, T]; sentence feature = the two final
hidden states concatenated [B, 256].

Image, two backbones with the same outputs (local regions [B, 256, H, W], global code [B, 256]):
- ``inception_v3``: ImageNet Inception-v3, frozen and always in eval mode (the original let
  its BatchNorm statistics drift in train mode); input resized to 299; local = Mixed_6e
  (768 x 17 x 17) -> 1x1 conv, global = after Mixed_7c + average pool (2048) -> Linear.
  Only the two heads train.
- ``cnn``: a small convolutional network trained from scratch, for CPU scales and the
  synthetic data: local regions on an (image / 8) grid, global code from one more stage.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from t2igan.weights import IMAGENET_INCEPTION, find_weights

DIM = 256
INCEPTION_FILE, INCEPTION_SHA256 = IMAGENET_INCEPTION.file, IMAGENET_INCEPTION.sha256
INCEPTION_URL = IMAGENET_INCEPTION.url


class TextEncoder(nn.Module):
    def __init__(self, vocab_size: int, embedding: int = 300, hidden: int = DIM // 2, dropout: float = 0.5):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embedding)
        self.drop = nn.Dropout(dropout)
        self.rnn = nn.LSTM(embedding, hidden, num_layers=1, batch_first=True, bidirectional=True)
        nn.init.uniform_(self.embed.weight, -0.1, 0.1)

    def forward(self, captions: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """captions [B, T] int, lengths [B] -> words [B, 256, T] (zeros at padding), sentence [B, 256]."""
        if (lengths < 1).any():
            bad = torch.nonzero(lengths < 1).flatten().tolist()
            raise ValueError(f"caption(s) at batch position {bad} have no known word: nothing to encode")
        x = self.drop(self.embed(captions))
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, (h, _) = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=captions.shape[1])
        words = out.transpose(1, 2)                      # [B, 256, T]
        sentence = torch.cat([h[0], h[1]], dim=1)       # forward and backward final states
        return words, sentence


class InceptionBackbone(nn.Module):
    """Frozen Inception-v3 up to Mixed_6e (local) and Mixed_7c + pool (global)."""

    local_channels, global_channels = 768, 2048

    def __init__(self, weights_path: str | None = None, pretrained: bool = True, weights_sha256: str | None = None):
        super().__init__()
        from torchvision.models import inception_v3

        net = inception_v3(weights=None, aux_logits=True, init_weights=not pretrained)
        if pretrained:  # weights_sha256: the digest to check instead of the pinned one (a test-only random file)
            path = find_weights(INCEPTION_FILE, weights_sha256 or INCEPTION_SHA256, INCEPTION_URL, weights_path)
            net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        names = ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1",
                 "Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b",
                 "Mixed_6c", "Mixed_6d", "Mixed_6e"]
        self.to_local = nn.Sequential(*(getattr(net, n) for n in names))
        self.to_global = nn.Sequential(net.Mixed_7a, net.Mixed_7b, net.Mixed_7c)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):  # frozen: BatchNorm statistics never move
        return super().train(False)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.interpolate(images, size=(299, 299), mode="bilinear", align_corners=False)
        local = self.to_local(x)
        pooled = F.adaptive_avg_pool2d(self.to_global(local), 1).flatten(1)
        return local, pooled


def _down(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.LeakyReLU(0.2, inplace=True))


class CNNBackbone(nn.Module):
    """A small trainable network with Inception's two outputs at any input size >= 32."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.local_channels, self.global_channels = width * 8, width * 16
        self.to_local = nn.Sequential(
            nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.LeakyReLU(0.2, inplace=True),
            _down(width, width * 2), _down(width * 2, width * 4), _down(width * 4, width * 8))
        self.to_global = _down(width * 8, width * 16)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        local = self.to_local(images)
        pooled = F.adaptive_avg_pool2d(self.to_global(local), 1).flatten(1)
        return local, pooled


class ImageEncoder(nn.Module):
    """``cnn_input``: the side the ``cnn`` backbone sees; larger images are resized to it first
    (as Inception resizes everything to 299), so one encoder judges every branch size and a
    cheap, small input can serve the CPU scales."""

    def __init__(self, backbone: str = "cnn", *, weights_path: str | None = None, pretrained: bool = True,
                 cnn_width: int = 32, cnn_input: int | None = None, weights_sha256: str | None = None):
        super().__init__()
        self.cnn_input = cnn_input if backbone == "cnn" else None
        if backbone == "inception_v3":
            self.backbone: nn.Module = InceptionBackbone(weights_path, pretrained, weights_sha256)
        elif backbone == "cnn":
            self.backbone = CNNBackbone(cnn_width)
        else:
            raise ValueError(f"unknown image encoder backbone {backbone!r}; use 'inception_v3' or 'cnn'")
        self.local_head = nn.Conv2d(self.backbone.local_channels, DIM, 1, bias=False)
        self.global_head = nn.Linear(self.backbone.global_channels, DIM)
        for head in (self.local_head, self.global_head):  # the original's init_trainable_weights (bias: default)
            nn.init.uniform_(head.weight, -0.1, 0.1)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """images [B, 3, H, W] in [-1, 1] -> regions [B, 256, h, w], code [B, 256]."""
        if self.cnn_input is not None and images.shape[-1] != self.cnn_input:
            # the antialiased kernel has no bfloat16 version: resize in float32 (autocast runs on)
            images = F.interpolate(images.float(), size=(self.cnn_input, self.cnn_input), mode="bilinear",
                                   antialias=True, align_corners=False)
        local, pooled = self.backbone(images)
        return self.local_head(local), self.global_head(pooled)
