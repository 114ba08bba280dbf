"""Checks that run inside torchrun's processes (gloo, CPU), driven by tests/test_distributed.py.

    python -m torch.distributed.run --standalone --nproc_per_node=2 tests/distributed_checks.py ops OUT
    python -m torch.distributed.run --standalone --nproc_per_node=2 tests/distributed_checks.py train ROOT OUT ...

A failed check raises (a non-zero exit); rank 0 writes OUT/ok when ``ops`` passes.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.nn as nn

from t2igan import distributed


def ops(out: Path) -> None:
    """gather, GlobalBatchNorm and gradient averaging against one process holding the whole batch."""
    world, _ = distributed.join("cpu")
    assert world.size == 2
    torch.manual_seed(0)
    full = torch.randn(8, 3, 5, 5)  # the global batch: every rank draws it and keeps its slice
    ref_bn = nn.BatchNorm2d(3)
    with torch.no_grad():
        ref_bn.weight.uniform_(0.5, 1.5)
        ref_bn.bias.uniform_(-0.5, 0.5)
    bn = distributed.global_batchnorm(nn.Sequential(nn.BatchNorm2d(3)))
    bn.load_state_dict({f"0.{k}": v for k, v in ref_bn.state_dict().items()})
    assert type(bn[0]).__name__ == "GlobalBatchNorm2d"

    # one process: BatchNorm over all 8, loss = mean over the batch of a per-item score
    x_ref = full.clone().requires_grad_(True)
    score = torch.linspace(-1, 1, 3 * 5 * 5).view(1, 3, 5, 5)
    loss_ref = (ref_bn(x_ref) * score).sum((1, 2, 3)).pow(2).mean()
    loss_ref.backward()

    # this rank: its 4 items; its loss is the mean over its items; gradients averaged over ranks
    x = world.slice(full).clone().requires_grad_(True)
    loss = (bn(x) * score).sum((1, 2, 3)).pow(2).mean()
    loss.backward()
    world.average_gradients(bn.parameters())
    assert torch.allclose(bn[0].running_mean, ref_bn.running_mean, atol=1e-6)
    assert torch.allclose(bn[0].running_var, ref_bn.running_var, atol=1e-5)
    assert torch.allclose(bn[0].weight.grad, ref_bn.weight.grad, atol=1e-5), (bn[0].weight.grad, ref_bn.weight.grad)
    assert torch.allclose(bn[0].bias.grad, ref_bn.bias.grad, atol=1e-5)
    # the input's gradient: the reference's is d(mean over 8)/dx; this rank's is d(its mean over 4)/dx
    # through the global statistics, summed over both ranks' losses by the all-reduce's backward,
    # so it is 2x the reference's rows of this rank.
    assert torch.allclose(x.grad / world.size, world.slice(x_ref.grad), atol=1e-6)

    # gather: rows in rank order; gradients come back summed over the ranks that used them
    y = (torch.arange(3.0) + 10 * world.rank).requires_grad_(True)
    g = distributed.gather(y)
    assert g.tolist() == [0.0, 1.0, 2.0, 10.0, 11.0, 12.0]
    (g * torch.arange(6.0)).sum().backward()
    assert y.grad.tolist() == [2 * v for v in range(3 * world.rank, 3 * world.rank + 3)]

    # replicas that drifted apart are caught
    m = nn.Linear(3, 2)
    world.follow_main(m)
    world.check_in_sync("after follow_main", m)
    if world.rank == 1:
        with torch.no_grad():
            m.bias[0] += 1e-6
    try:
        world.check_in_sync("after a drift", m)
    except distributed.DistributedError as exc:
        assert "rank 1's weights differ from rank 0's" in str(exc)
    else:
        raise AssertionError("a drift went unnoticed")
    distributed.leave(world)
    if world.main:
        (out / "ok").write_text("ok\n")


def train(root: Path, out: Path, settings: str) -> None:
    from t2igan.data.preprocess import Prepared
    from t2igan.train import gan

    s = gan.GanSettings(**json.loads(settings))
    gan.train(Prepared(root / "prep"), root / "damsm", out, s, progress=True)


if __name__ == "__main__":
    what, *args = sys.argv[1:]
    if what == "ops":
        ops(Path(args[0]))
    else:
        train(Path(args[0]), Path(args[1]), args[2])
