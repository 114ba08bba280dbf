"""How every trainer updates its weights, written once: optimiser phases with intervals, the EMA of a
network, and the arithmetic the steps run in (``train.precision``: bf16 autocast, channels-last).

The training loop (``t2igan.train.engine``) runs the epochs; a trainer's step runs its phases here:

- **A phase** is one optimiser and what it updates: zero the gradients, backward, average them over
  the data-parallel processes, clip their norm, step, and an ``after`` hook (WGAN's weight clipping).
  Its ``interval`` is a schedule on the run's step clock: a WGAN's generator phase has interval
  ``n_critic``, so it runs after every n_critic-th critic update, across epochs and resumes alike.
- **``run_phases``**: the phases due at a step, in order, each on the loss its trainer computes when
  asked (with the phase's ``frozen`` modules needing no gradient meanwhile: G's loss goes through D).
- **``Ema``**: an exponential moving average of a network's weights (AttnGAN's G_ema), with the
  optional warm-up of TensorFlow's rule.
- **Precision**: ``autocast`` around forward passes (backward passes run outside, as PyTorch
  advises; weights and optimiser state stay float32) and ``place``, which puts modules on their device
  and in NHWC memory where that is faster.

This imports torch only, so a family's module may use it without widening any stage's deps.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import torch
import torch.nn as nn

PRECISIONS = ("fp32", "bf16")


@dataclass
class Phase:
    """One optimiser's update.  ``name`` keys its terms and its state; ``interval``: it runs at the steps
    where (step + 1) % interval == 0; ``clip``: the largest gradient norm of ``clip_params`` (default:
    every parameter it updates), None for no clipping; ``frozen``: modules that need no gradient while
    its loss is computed and applied; ``after``: called after each update; ``label``: its name in
    timings (benchmarks)."""

    name: str
    optimizer: torch.optim.Optimizer
    interval: int = 1
    clip: float | None = None
    clip_params: list[nn.Parameter] | None = None
    frozen: list[nn.Module] = field(default_factory=list)
    after: Callable[[], None] | None = None
    label: str = ""

    def __post_init__(self):
        if self.interval < 1:
            raise ValueError(f"phase {self.name}: interval must be >= 1, got {self.interval}")
        if self.clip_params is not None:
            self.clip_params = list(self.clip_params)

    @property
    def params(self) -> list[nn.Parameter]:
        return [p for group in self.optimizer.param_groups for p in group["params"]]

    def due(self, step: int) -> bool:
        """Whether the phase runs at ``step`` (batches trained before it in the whole run)."""
        return (step + 1) % self.interval == 0

    def update(self, loss: torch.Tensor, world=None) -> None:
        """One optimiser step on ``loss``; ``world`` (t2igan.distributed.World) averages the gradients
        over the data-parallel processes first."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if world is not None:
            world.average_gradients(self.params)
        if self.clip is not None:
            nn.utils.clip_grad_norm_(self.clip_params if self.clip_params is not None else self.params, self.clip)
        self.optimizer.step()
        if self.after is not None:
            self.after()


@contextmanager
def frozen(modules: Iterable[nn.Module]):
    """No gradient for ``modules``' parameters inside (they are still differentiated through)."""
    modules = list(modules)
    for m in modules:
        m.requires_grad_(False)
    try:
        yield
    finally:
        for m in modules:
            m.requires_grad_(True)


def _untimed(name: str):
    return nullcontext()


def run_phases(phases: list[Phase], step: int, loss: Callable[[Phase], dict[str, torch.Tensor]],
               world=None, timer: Callable = _untimed) -> dict[str, torch.Tensor]:
    """The phases due at ``step``, in order: ``loss(phase)`` gives its terms ("total" is minimised),
    then the phase updates.  Returns every term, detached, as ``<phase name>_<term>``.  ``timer(label)``:
    a context around each phase (benchmarks)."""
    terms: dict[str, torch.Tensor] = {}
    for phase in phases:
        if not phase.due(step):
            continue
        with timer(phase.label or phase.name), frozen(phase.frozen):
            t = loss(phase)
            phase.update(t["total"], world)
        terms.update({f"{phase.name}_{k}": v.detach() for k, v in t.items()})
    return terms


def optimiser_states(phases: list[Phase]) -> dict[str, dict]:
    return {p.name: p.optimizer.state_dict() for p in phases}


def load_optimiser_states(phases: list[Phase], states: dict[str, dict]) -> None:
    for p in phases:
        p.optimizer.load_state_dict(states[p.name])  # moves its state to the parameters' device


# --------------------------------------------------------------------------- EMA
def ema_decay_at(decay: float, updates: int, warmup: bool) -> float:
    """The EMA decay of update number ``updates`` (0-based): ``decay``, or with ``warmup``
    min(decay, (1 + t) / (10 + t)), TensorFlow's ExponentialMovingAverage rule.

    The EMA starts as a copy of the untrained network.  At 0.999 from the first step it still holds
    0.999^t of that copy after t steps: 19 % after the 1,659 steps of 3 epochs at ``quick``.
    With the warm-up the decay reaches 0.999 after 8,991 steps; at the paper setting (about
    265,000 steps) the final EMA is the same for any practical purpose (the first 9,000 steps weigh
    0.999^256,000 in it either way)."""
    return min(decay, (1 + updates) / (10 + updates)) if warmup else decay


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model for parameters; buffers (BN statistics) copied."""
    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


class Ema:
    """The moving average of ``source``'s weights, in ``module`` (eval mode, no gradients).  ``copy``: the
    average's starting network when it must differ from ``source`` in form (e.g. ``source`` converted for
    data parallelism); by default a deep copy of ``source``."""

    def __init__(self, source: nn.Module, decay: float, warmup: bool, copy_of: nn.Module | None = None):
        self.source, self.decay, self.warmup = source, decay, warmup
        self.module = (copy_of if copy_of is not None else copy.deepcopy(source)).eval().requires_grad_(False)

    def update(self, step: int) -> float:
        """Average in the source's weights after update ``step`` (0-based, the run's clock); returns the decay."""
        decay = ema_decay_at(self.decay, step, self.warmup)
        ema_update(self.module, self.source, decay)
        return decay


# --------------------------------------------------------------------------- precision
def autocast(device: torch.device, precision: str):
    """The context of a training forward pass: bfloat16 autocast for "bf16", else a no-op.
    Backward passes run outside it (PyTorch's advice); weights and optimiser state stay float32."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def channels_last(device: torch.device, precision: str) -> bool:
    """Whether NHWC weights are faster: for convolutions on GPUs, and on the CPU in bf16 (oneDNN), but
    not in fp32 on the CPU."""
    return device.type == "cuda" or precision == "bf16"


def place(modules: Iterable[nn.Module], device: torch.device, precision: str, nhwc: bool = True) -> None:
    """Move ``modules`` to ``device`` (in place), in NHWC memory where ``channels_last`` says it is faster
    and the trainer allows it (``nhwc``: False for a network without convolutions)."""
    for m in modules:
        m.to(device)
        if nhwc and channels_last(device, precision):
            m.to(memory_format=torch.channels_last)
