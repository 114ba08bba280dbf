"""Every score a generated set gets, declared once.

An entry names the key (in scores.json rows, metrics.json and score_epochs.json), the report's column
label, which way is better, how it is printed, whether it reads the captions, and how it is computed
from a set's features.  Scoring (variants and baselines alike: ``t2igan.score.score_features``), the
headline ``reports/<model>/metrics.json`` that ``dvc metrics show`` and ``diff`` read, the score curves
of every snapshot, the report's tables and ``t2igan info`` all read this list: a new metric is one
entry here.

``compute`` gets a ``t2igan.score.SetScorer``: the set's features and the shared computations
(``fidelity()`` runs torch-fidelity once for IS, FID and KID; ``r_precision(judge)``;
``attributes()``), so this module imports nothing heavy and the report reads it without torch.
It returns the entry's value under its key, and its standard deviation under ``<key>_std`` where
there is one; an empty dict where the metric does not apply (the FID Inception's, when the scale
does not list the ``inception`` extractor).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Metric:
    key: str
    label: str                              # the report's column header
    better: Literal["higher", "lower"]
    digits: int                             # decimals in the report (after x 100 for a percentage)
    compute: Callable[[Any], dict[str, float]]
    percent: bool = False                   # shown as a percentage
    text: bool = False                      # reads the captions: "n/a" for a model that never reads one
    show_std: bool = False                  # the report prints <key>_std beside it
    table: bool = True                      # a column of the report's score tables
    curve: bool = True                      # scored at every kept snapshot (score_epochs.json and its plot)
    overview: bool = False                  # a panel of the report's cross-model curves figure

    @property
    def axis_label(self) -> str:
        """The label of a plot axis of this metric: its name, which way is better, its unit."""
        return f"{self.label.removesuffix(' ↓')} ({self.better} is better{', %' if self.percent else ''})"


def _fidelity(name: str, key: str, std: str | None = None, inception: bool = False) -> Callable[[Any], dict]:
    """``name`` (and ``<name>_std``) from torch-fidelity's ``key`` (and ``std``) of the set's features."""
    def compute(scorer) -> dict[str, float]:
        result = scorer.fidelity(inception=inception)
        if result is None:
            return {}
        return {name: result[key], **({f"{name}_std": result[std]} if std else {})}
    return compute


def _judge(judge: str) -> Callable[[Any], dict[str, float]]:
    def compute(scorer) -> dict[str, float]:
        rp = scorer.r_precision(judge)
        return {f"r_precision_{judge}": rp["mean"], f"r_precision_{judge}_std": rp["std"]}
    return compute


METRICS: list[Metric] = [
    Metric("is", "IS", "higher", 2, _fidelity("is", "is_mean", "is_std"), show_std=True, overview=True),
    Metric("fid", "FID ↓", "lower", 1, _fidelity("fid", "fid"), overview=True),
    Metric("kid", "KID ↓", "lower", 3, _fidelity("kid", "kid_mean", "kid_std")),
    # the FID Inception's (torchvision / TF FID weights), at scales that list the `inception` extractor
    Metric("is_inception", "IS (Inception)", "higher", 2,
           _fidelity("is_inception", "is_mean", "is_std", inception=True), table=False, curve=False),
    Metric("fid_inception", "FID (Inception) ↓", "lower", 1, _fidelity("fid_inception", "fid", inception=True),
           table=False, curve=False),
    Metric("kid_inception", "KID (Inception) ↓", "lower", 3,
           _fidelity("kid_inception", "kid_mean", "kid_std", inception=True), table=False, curve=False),
    Metric("r_precision_damsm", "R-prec. DAMSM", "higher", 1, _judge("damsm"), percent=True, text=True,
           show_std=True),
    Metric("r_precision_evaluator_damsm", "R-prec. eval. DAMSM", "higher", 1, _judge("evaluator_damsm"),
           percent=True, text=True, show_std=True, overview=True),
    Metric("attribute_accuracy", "attribute acc.", "higher", 1,
           lambda scorer: {"attribute_accuracy": scorer.attributes()["accuracy"]}, percent=True, text=True),
]


def table_metrics() -> list[Metric]:
    return [m for m in METRICS if m.table]


def curve_keys() -> list[str]:
    return [m.key for m in METRICS if m.curve]


def overview_metrics() -> list[Metric]:
    """The panels of the report's cross-model curves figure (each also a curve metric)."""
    return [m for m in METRICS if m.overview and m.curve]


def text_keys() -> list[str]:
    return [m.key for m in METRICS if m.text]


def headline(row: dict) -> dict[str, float]:
    """The numbers of a scores row that ``dvc metrics`` shows: one per metric, no deviations, no text."""
    return {m.key: row[m.key] for m in METRICS
            if isinstance(row.get(m.key), (int, float)) and not isinstance(row.get(m.key), bool)}
