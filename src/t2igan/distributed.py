"""Data-parallel GAN training over several processes (torchrun; NCCL on GPUs, gloo on CPU).

Launch: ``torchrun --standalone --nproc_per_node=N stages/train.py attngan``.  The train stage
does this itself (``relaunch``) when params ``runtime.gpus`` is N > 1, so that the process count,
a runtime knob, is not in dvc.yaml's command.  A plain ``python`` process is a world of one and
none of this costs anything.

The scheme is DistributedDataParallel's: the same initial weights on every rank, each rank
runs its slice of the global batch, and gradients are averaged across ranks before every
optimiser step.  It is done by hand here, as StyleGAN2-ADA does, because a GAN step does not
fit DDP's module wrapper: D runs forward twice per update (on detached fakes, then for G's
loss with its own gradients switched off), which DDP's reducer rejects.

N processes compute what one process computes with the same global batch, not N smaller
batches.  Everything random (data order, crops, caption choice, z and conditioning noise) is
drawn for the global batch and sliced.  The three things that look across the batch see all of
it, through ``gather`` (an all-reduce that gradients flow back through):
- BatchNorm normalises with the global batch's statistics (``GlobalBatchNorm``);
- AttnGAN's mismatched pairs (real image k, sentence k + 1) run across rank boundaries;
- the DAMSM losses take every rank's captions as negatives.
Each rank's loss is the global batch's; with gradients averaged, the update is one process's
up to floating-point summation order.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn as nn

from t2igan.errors import T2IGANError
from t2igan.train.device import pick_device


class DistributedError(T2IGANError):
    pass


def relaunch(gpus: int, argv: list[str]) -> None:
    """Become ``torchrun --standalone --nproc_per_node=gpus`` of this script (``argv``) when ``gpus``
    > 1 and this process is not one of torchrun's already; else return.  The process is replaced, so
    whoever waits on it (DVC, a shell) waits on torchrun, and a signal to it reaches torchrun."""
    if gpus <= 1 or "WORLD_SIZE" in os.environ:
        return
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={gpus}", *argv]
    print(f"runtime.gpus = {gpus}: torchrun --standalone --nproc_per_node={gpus} {' '.join(argv)}", flush=True)
    os.execv(sys.executable, cmd)


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        """Only the main process logs, shows progress and writes files."""
        return self.rank == 0

    def part(self, items: torch.Tensor | list, global_batch: int) -> list:
        """This rank's items of an epoch's global order: its contiguous ``global_batch / size``
        slice of every global batch, in order (an incomplete last batch is dropped)."""
        items = list(items.tolist() if isinstance(items, torch.Tensor) else items)
        local = self.local_batch(global_batch)
        steps = len(items) // global_batch
        return [i for k in range(steps) for i in items[k * global_batch + self.rank * local:
                                                       k * global_batch + (self.rank + 1) * local]]

    def local_batch(self, global_batch: int) -> int:
        if global_batch % self.size:
            raise DistributedError(f"the batch size ({global_batch}, the scale's gan_batch_size) must be a multiple "
                                   f"of the number of processes ({self.size}, runtime.gpus)")
        return global_batch // self.size

    def slice(self, x: torch.Tensor) -> torch.Tensor:
        """This rank's rows of a tensor drawn for the global batch."""
        n = x.shape[0] // self.size
        return x[self.rank * n:(self.rank + 1) * n]

    def average_gradients(self, params) -> None:
        """Gradients <- their mean over the ranks (one all-reduce over a flat buffer)."""
        if self.size == 1:
            return
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat /= self.size
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def follow_main(self, *modules: nn.Module) -> None:
        """Copy rank 0's parameters and buffers to every rank."""
        if self.size == 1:
            return
        for m in modules:
            for t in [*m.parameters(), *m.buffers()]:
                dist.broadcast(t.data, src=0)

    def mean(self, values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each value averaged over the ranks (the logged losses are the global batch's)."""
        if self.size == 1 or not values:
            return values
        keys = sorted(values)
        flat = torch.stack([torch.as_tensor(values[k], dtype=torch.float64) for k in keys])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        return {k: v / self.size for k, v in zip(keys, flat)}

    def check_in_sync(self, where: str, *modules: nn.Module) -> None:
        """Raise unless every rank holds the same weights: a fingerprint of each module's
        parameters and buffers (sum, sum of squares, position-weighted sum, in float64) is
        gathered and compared exactly."""
        if self.size == 1:
            return
        prints = torch.stack([fingerprint(m) for m in modules])
        gathered = [torch.empty_like(prints) for _ in range(self.size)]
        dist.all_gather(gathered, prints)
        for r, other in enumerate(gathered[1:], start=1):
            if not torch.equal(other, gathered[0]):
                raise DistributedError(f"{where}: rank {r}'s weights differ from rank 0's; the replicas diverged")

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()


def fingerprint(m: nn.Module) -> torch.Tensor:
    v = torch.cat([t.detach().reshape(-1).double() for t in [*m.parameters(), *m.buffers()]
                   if t.is_floating_point()])
    pos = torch.arange(1, v.numel() + 1, dtype=torch.float64, device=v.device)
    return torch.stack([v.sum(), (v * v).sum(), (v * pos).sum()])


def join(device_name: str) -> tuple[World, torch.device]:
    """Join the process group torchrun set up (RANK, WORLD_SIZE, LOCAL_RANK in the environment);
    a process started without torchrun is a world of one.  Returns (this process's World, device)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    device = pick_device(device_name)
    if size == 1:
        return World(), device
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if local >= torch.cuda.device_count():
            raise DistributedError(f"process {rank} wants GPU {local} but {torch.cuda.device_count()} are visible; "
                                   f"set runtime.gpus to at most the number of GPUs")
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    global _current
    _current = World(rank, size)
    return _current, device


def leave(world: World) -> None:
    global _current
    _current = ONE
    if world.size > 1 and dist.is_initialized():
        dist.destroy_process_group()


ONE = World()  # a plain process
_current = ONE  # set by join(): what losses and BatchNorm consult


def current() -> World:
    return _current


def gather(x: torch.Tensor) -> torch.Tensor:
    """Every rank's ``x`` stacked along dim 0 in rank order (all ranks' rows must be as many).
    Gradients flow back to each rank's own rows, summed over the ranks that used them."""
    world = _current
    if world.size == 1:
        return x
    slots = x.new_zeros((world.size, *x.shape))
    slots = slots.index_copy(0, torch.tensor([world.rank], device=x.device), x.unsqueeze(0))
    return _Sum.apply(slots).flatten(0, 1)


class _Sum(torch.autograd.Function):
    """All-reduce (sum) that gradients flow back through: every rank used the sum, so a rank's
    input gets the sum of all ranks' gradients."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad


class _GlobalStats:
    """BatchNorm whose training statistics are the global batch's (a forward over gathered sums
    and sums of squares; autograd carries the coupling back to every rank).  Evaluation mode,
    and a world of one, are plain BatchNorm."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or _current.size == 1:
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        xf = x.float()
        c = x.shape[1]
        count = xf.new_tensor([xf.numel() // c])
        totals = gather(torch.cat([xf.sum(dims), (xf * xf).sum(dims), count])).view(_current.size, -1).sum(0)
        n = totals[-1]
        mean = totals[:c] / n
        var = totals[c:2 * c] / n - mean * mean  # biased, as BatchNorm normalises with
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), self.momentum)
                self.running_var.lerp_((var.detach() * n / (n - 1)).to(self.running_var.dtype), self.momentum)
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


class GlobalBatchNorm1d(_GlobalStats, nn.BatchNorm1d):
    pass


class GlobalBatchNorm2d(_GlobalStats, nn.BatchNorm2d):
    pass


def global_batchnorm(module: nn.Module) -> nn.Module:
    """``module`` with every BatchNorm1d/2d replaced, in place, by its global-statistics twin
    (same parameters, buffers and state_dict keys)."""
    for name, child in module.named_children():
        twin = {nn.BatchNorm1d: GlobalBatchNorm1d, nn.BatchNorm2d: GlobalBatchNorm2d}.get(type(child))
        if twin is not None:
            if child.momentum is None:
                raise DistributedError(f"{name}: cumulative BatchNorm (momentum None) is not supported")
            new = twin(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats)
            new.load_state_dict(child.state_dict())
            setattr(module, name, new.to(next(child.buffers(), torch.empty(0)).device))
        else:
            global_batchnorm(child)
    return module




def main_process() -> bool:
    """Whether this is rank 0 (or a plain process), from torchrun's environment: for the stage
    script, which writes its outputs once after training has left the process group."""
    return int(os.environ.get("RANK", "0")) == 0
