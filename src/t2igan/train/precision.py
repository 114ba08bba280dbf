"""The arithmetic a training loop runs in: the `train.precision` param (fp32 | bf16)."""
from __future__ import annotations

import torch


def autocast(device: torch.device, precision: str):
    """The context of a training forward pass: bfloat16 autocast for "bf16", else a no-op.
    Backward passes run outside it (PyTorch's advice); weights and optimiser state stay float32."""
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
