"""The update rules every trainer shares (t2igan.train.updates): phases, intervals, clipping, the EMA."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from t2igan.train import updates


def _sgd_phase(name: str, module: nn.Module, **kw) -> updates.Phase:
    return updates.Phase(name, torch.optim.SGD(module.parameters(), lr=1.0), **kw)


def test_a_phase_is_zero_grad_backward_step_and_its_hook():
    w = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        w.weight.fill_(3.0)
    calls = []
    phase = _sgd_phase("p", w, after=lambda: calls.append(float(w.weight.detach())))
    w.weight.grad = torch.full_like(w.weight, 100.0)  # a stale gradient is dropped, not added
    phase.update((w(torch.ones(1, 1)) ** 2).sum())      # d/dw w^2 = 2w = 6
    assert float(w.weight) == pytest.approx(3.0 - 6.0)
    assert calls == [pytest.approx(-3.0)]


def test_a_phase_clips_the_gradient_norm_of_the_parameters_it_is_given():
    a, b = nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        a.weight.fill_(1.0)
        b.weight.fill_(1.0)
    phase = updates.Phase("p", torch.optim.SGD([*a.parameters(), *b.parameters()], lr=1.0), clip=0.5,
                          clip_params=a.parameters())
    x = torch.ones(1, 1)
    phase.update(10.0 * a(x).sum() + 10.0 * b(x).sum())  # both gradients are 10
    assert float(a.weight) == pytest.approx(1.0 - 0.5)     # clipped to norm 0.5
    assert float(b.weight) == pytest.approx(1.0 - 10.0)    # not among clip_params
    with pytest.raises(ValueError, match="interval"):
        _sgd_phase("bad", a, interval=0)


def test_run_phases_keeps_each_interval_on_the_run_clock_and_freezes_what_it_is_told():
    d, g = nn.Linear(2, 1), nn.Linear(2, 2)
    phases = [_sgd_phase("d", d), _sgd_phase("g", g, interval=3, frozen=[d])]
    seen = []

    def loss(phase):
        seen.append((phase.name, all(p.requires_grad for p in d.parameters())))
        x = g(torch.ones(1, 2))
        out = d(x).sum() if phase.name == "g" else d(x.detach()).sum()
        return {"total": out, "extra": out * 2}

    ran = []
    for step in range(7):
        seen.clear()
        d_before = [p.detach().clone() for p in d.parameters()]
        terms = updates.run_phases(phases, step, loss)
        ran.append(sorted(terms))
        if "g_total" in terms:  # D was frozen during G's phase: its weights moved in its own phase only
            assert seen == [("d", True), ("g", False)]
            assert all(not t.requires_grad for t in terms.values())
        assert any(not torch.equal(a, b) for a, b in zip(d_before, d.parameters()))
    assert [("g_total" in names) for names in ran] == [False, False, True, False, False, True, False]
    assert ran[0] == ["d_extra", "d_total"]
    assert all(p.requires_grad for p in d.parameters())


def test_optimiser_states_round_trip_by_phase_name():
    m = nn.Linear(2, 2)
    phase = updates.Phase("p", torch.optim.Adam(m.parameters(), lr=0.1))
    phase.update(m(torch.ones(1, 2)).sum())
    saved = updates.optimiser_states([phase])
    other = updates.Phase("p", torch.optim.Adam(m.parameters(), lr=0.1))
    updates.load_optimiser_states([other], saved)
    assert other.optimizer.state_dict()["state"][0]["step"] == 1


def test_the_ema_averages_the_source_with_the_warmup_decay():
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    ema = updates.Ema(model, 0.999, warmup=True)
    assert not ema.module.training and not any(p.requires_grad for p in ema.module.parameters())
    with torch.no_grad():
        model.weight.fill_(1.0)
    assert ema.update(0) == pytest.approx(0.1)  # (1 + 0) / (10 + 0)
    assert float(ema.module.weight) == pytest.approx(0.9)
    assert updates.Ema(model, 0.999, warmup=False).update(0) == 0.999


def test_place_uses_nhwc_only_where_it_is_faster():
    cpu = torch.device("cpu")
    for precision, nhwc, expected in (("fp32", True, False), ("bf16", True, True), ("bf16", False, False)):
        conv = nn.Conv2d(4, 4, 3)
        updates.place([conv], cpu, precision, nhwc=nhwc)
        assert conv.weight.is_contiguous(memory_format=torch.channels_last) is expected, (precision, nhwc)
    with pytest.raises(ValueError, match="precision"):
        updates.autocast(cpu, "fp16")
