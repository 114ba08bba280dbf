"""DVCLive logs rebuilt from a run's history, so a resumed run's logs equal an uninterrupted one's.

Appending step by step would duplicate or drop the epoch that was running at a crash;
instead the whole history (kept in the checkpoint) is replayed into a fresh log.
"""
from __future__ import annotations

from pathlib import Path

from dvclive import Live


def write_history(live_dir: str | Path, history: list[dict], metrics: dict[str, str]) -> None:
    """``metrics`` maps a history key to its DVCLive name, e.g. {"train_w0": "train/w0"}; a key an
    epoch lacks (a G that took no step in it) is left out of that step."""
    live = Live(str(live_dir), resume=False, save_dvc_exp=False, dvcyaml=False)
    for row in history:
        live.step = row["epoch"]
        for key, name in metrics.items():
            if key in row:
                live.log_metric(name, row[key])
        live.make_summary()
    live.end()


def metric_names(row: dict) -> dict[str, str]:
    """History keys -> DVCLive names: d_total -> d/total, g_adv -> g/adv, images_per_s -> images_per_s."""
    return {k: k.replace("_", "/", 1) if k[:2] in ("d_", "g_") else k for k in row if k != "epoch"}
