"""The one place where params.yaml is read and validated.

Stages call :func:`load_params` and hand the typed sections to the library, which never
reads params.yaml itself.  Every check names the offending key (``data.cub.images.md5``)
and, for choices, the allowed values, before any heavy work starts.

Sections are plain dataclasses.  Field types drive the checks: ``int``/``float``/``bool``/
``str``, ``Literal[...]`` for choices, ``X | None`` for optional values, nested dataclasses
for sub-sections.  Range checks live in ``metadata={"min": ..., "max": ...}``.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from t2igan import families
from t2igan.errors import ConfigError

SCALES = ("tiny", "quick", "smoke", "paper")
# reports/<dir>/ of stages that are not a model's: a `variants` or `baselines` entry may not take these names
REPORT_DIRS = ("damsm", "evaluator_damsm", "evaluator", "data", "draw_sweep", "report", "timings")


def log2_exact(n: int, what: str, minimum: int) -> int:
    """log2(n) for a power of two n >= minimum, else a ValueError naming ``what`` (the networks' sizes;
    here, the bottom layer every stage imports anyway, so that sharing it widens no stage's deps)."""
    if n < minimum or n & (n - 1):
        raise ValueError(f"{what} must be a power of two >= {minimum}, got {n}")
    return int(math.log2(n))


def _positive(**extra: Any) -> Any:
    return field(metadata={"min": 1, **extra})


# --------------------------------------------------------------------------- sections
@dataclass(frozen=True)
class RuntimeConfig:
    """How this machine runs the stages, not what they compute: no stage lists these among its params,
    so changing one re-runs nothing (each stage records what it used beside its outputs)."""

    device: Literal["auto", "cpu", "cuda"]                # every stage that runs a network
    workers: int = _positive()                            # processes of data, preprocess, crop_refs
    loader_workers: int = field(metadata={"min": 0})      # DataLoader workers of every trainer
    gpus: int = _positive()                               # train@: data-parallel processes (torchrun)
    compile: bool                                         # torch.compile the GAN networks
    generate_batch: int = _positive()                     # images a generation batch at most


@dataclass(frozen=True)
class Source:
    """One downloadable file: where from, its file name in data/raw/, its checksum (md5, or the
    SHA-256 or its first hex digits, as torch hub names pin them: checked instead of the md5)."""

    url: str
    file: str
    md5: str | None
    via: Literal["http", "gdown"] = "http"
    sha256: str | None = None


@dataclass(frozen=True)
class CubSources:
    images: Source
    text: Source


@dataclass(frozen=True)
class DataConfig:
    raw_dir: str
    out_dir: str
    on_bad_image: Literal["error", "skip"]
    cub: CubSources


@dataclass(frozen=True)
class PreprocessConfig:
    out_dir: str
    max_words: int = _positive()
    contact_sheet_images: int = _positive()


@dataclass(frozen=True)
class CropRefsConfig:
    out_dir: str
    patch_size: int = _positive()


@dataclass(frozen=True)
class DamsmConfig:
    out_dir: str
    lr: float = field(metadata={"min": 0.0})
    lr_decay: float = field(metadata={"min": 0.0, "max": 1.0})
    lr_min: float = field(metadata={"min": 0.0})
    beta1: float = field(metadata={"min": 0.0, "max": 1.0})
    beta2: float = field(metadata={"min": 0.0, "max": 1.0})
    clip_rnn: float = field(metadata={"min": 0.0})
    gamma1: float = field(metadata={"min": 0.0})
    gamma2: float = field(metadata={"min": 0.0})
    gamma3: float = field(metadata={"min": 0.0})
    embedding: int = _positive()
    cnn_width: int = _positive()
    evaluator_seed_offset: int = _positive()
    r_precision_candidates: int = field(metadata={"min": 2})
    r_precision_folds: int = _positive()


@dataclass(frozen=True)
class TrainConfig:
    """The GAN training loop shared by every variant (stage train@<variant>)."""

    out_dir: str
    lr_g: float = field(metadata={"min": 0.0})
    lr_d: float = field(metadata={"min": 0.0})
    beta1: float = field(metadata={"min": 0.0, "max": 1.0})
    beta2: float = field(metadata={"min": 0.0, "max": 1.0})
    z_dim: int = _positive()
    c_dim: int = _positive()
    r_num: int = field(metadata={"min": 0})
    ema_decay: float = field(metadata={"min": 0.0, "max": 1.0})
    sample_captions: int = _positive()
    precision: Literal["fp32", "bf16"] = "fp32"
    ema_warmup: bool = False


@dataclass(frozen=True)
class GenerateConfig:
    """Stage generate@<variant>: images from the EMA generator for every test caption."""

    out_dir: str
    attention_captions: int = _positive()


@dataclass(frozen=True)
class EvaluatorConfig:
    """Stage train_evaluator: the classifier that judges generated images."""

    out_dir: str
    width: int = _positive()
    lr: float = field(metadata={"min": 0.0})
    holdout: float = field(metadata={"min": 0.0, "max": 0.5})


@dataclass(frozen=True)
class ScoreConfig:
    """Stages score_reference, score@<variant>, score_baseline@<name>: IS / FID / KID settings
    (torch-fidelity) and the per-snapshot curves."""

    isc_splits: int = _positive()
    kid_subset_size: int = field(metadata={"min": 2})
    kid_subsets: int = _positive()
    snapshot_images: int = _positive()       # captions each snapshot is scored on (generated, never stored)
    reference_dir: str = "data/reference"   # stage score_reference: the real test set's features


@dataclass(frozen=True)
class WeightsConfig:
    """Stage fetch_weights: the pretrained Inception files the scale needs, in ``dir``."""

    dir: str = "models/weights"
    random_for_tests: bool = False   # TEST ONLY: random Inception weights, said in every score; refused on CUB


EXTRACTORS = ("evaluator", "inception")


@dataclass(frozen=True)
class ScaleConfig:
    """A scale preset: everything that changes between tiny, quick, smoke and paper runs."""

    synthetic_images: int = _positive()
    synthetic_classes: int = field(metadata={"min": 2})  # species of the synthetic data set (CUB: 200)
    image_size: int = field(metadata={"min": 16})  # side of the largest branch, pixels
    branches: int = field(metadata={"min": 1, "max": 3})
    damsm_backbone: Literal["cnn", "inception_v3"]
    damsm_epochs: int = _positive()
    damsm_batch_size: int = field(metadata={"min": 2})
    damsm_input: int = field(metadata={"min": 16})  # side the cnn image encoder sees (inception: 299)
    damsm_dropout: float = field(metadata={"min": 0.0, "max": 1.0})  # on the word embeddings (paper 0.5)
    gan_epochs: int = _positive()
    snapshot_every: int = _positive()   # epochs between kept EMA snapshots, each scored for the curves
    sample_every: int = _positive()     # epochs between sample grids (reports/<variant>/samples, in git)
    gan_batch_size: int = field(metadata={"min": 2})
    gf_dim: int = _positive()
    df_dim: int = _positive()
    # final set: this many of each test image's 10 captions (10: every test caption, the papers' ~30k)
    captions_per_image: int = field(metadata={"min": 1, "max": 10})
    evaluator_epochs: int = _positive()
    evaluator_batch_size: int = field(metadata={"min": 2})
    evaluator_min_accuracy: float = field(metadata={"min": 0.0, "max": 1.0})  # species, held out: the gate
    baseline_epochs: int = _positive()   # the baselines (DCGAN, WGAN, WGAN-GP, DRAW) and the DRAW sweep
    baseline_width: int = _positive()    # DCGAN's ngf = ndf (64 in the paper)
    # the side the baselines' networks work at (the DCGAN paper's and seed 004's 64): real images are
    # resized down to it, and their generated sets up to image_size, where every model is scored
    baseline_image_size: int = field(metadata={"min": 16})
    # the baselines' batch in place of each entry's own (64); null: the entries'.  Only smoke sets it
    baseline_batch_size: int | None = field(default=None, metadata={"min": 2})
    # what IS / FID / KID are computed on: the in-pipeline evaluator (always: it also reads the
    # attributes), and the FID Inception (torch-fidelity's port of the TF graph, the papers' numbers)
    extractors: list[str] = field(default_factory=lambda: ["evaluator"])
    # at most this many batches an epoch in every trainer (GAN, baseline, DAMSM, evaluator); null: whole
    # epochs.  Only the smoke preset sets it: the paper's networks, a couple of steps each
    steps_per_epoch: int | None = field(default=None, metadata={"min": 1})


@dataclass(frozen=True)
class VariantConfig:
    """One entry of `variants` (or `baselines`): the family in models/ and variants/ (or baselines/)
    (``model``) and the family's own options as params.yaml gives them (``given``)."""

    section: str          # "variants" or "baselines"
    name: str             # the entry's name (its stages' key)
    model: str            # a key of t2igan.families.FAMILIES[section]
    given: dict[str, Any]

    @property
    def options(self) -> dict[str, Any]:
        """The family's options, validated by its ``Options`` dataclass, defaults filled in.  This imports
        the family's module (and its networks), so only the family's own stages and validate_params ask."""
        cls = families.load(self.section, self.model, self.name)
        return dataclasses.asdict(build(cls.Options, self.given, f"{self.section}.{self.name}"))


@dataclass(frozen=True)
class DrawSweepConfig:
    """Stage draw_sweep: DRAW trained at several step counts with the same total latent size (seed 002,
    figure 3.3): reconstruction error, FID and inactive latents against the number of steps."""

    base: str                        # a `baselines` entry of model draw: every other option comes from it
    steps: list[int]
    total_latent: int = _positive()  # z per step = total_latent / steps
    images: int = _positive()        # generated images per FID (and test images per reconstruction)
    options: dict[str, Any] = field(default_factory=dict)  # the base's options changed for the sweep only


@dataclass(frozen=True)
class Params:
    seed: int
    dataset: Literal["synthetic", "cub"]
    scale_name: Literal["tiny", "quick", "smoke", "paper"] = field(metadata={"key": "scale"})
    lam: float = field(metadata={"min": 0.0, "key": "lambda"})  # `lambda` is a Python keyword
    runtime: RuntimeConfig | None = None
    # Filled by parse_params from their own sections (None only inside parse_params).
    data: DataConfig | None = None
    preprocess: PreprocessConfig | None = None
    crop_refs: CropRefsConfig | None = None
    damsm: DamsmConfig | None = None
    train: TrainConfig | None = None
    generate: GenerateConfig | None = None
    evaluator: EvaluatorConfig | None = None
    score: ScoreConfig | None = None
    weights: WeightsConfig | None = None
    variants: dict[str, VariantConfig] = field(default_factory=dict)
    baselines: dict[str, VariantConfig] = field(default_factory=dict)
    draw_sweep: DrawSweepConfig | None = None
    scale: ScaleConfig | None = field(default=None, metadata={"key": "<the selected scale section>"})

    @property
    def data_dirs(self) -> dict[str, str]:
        """The data stages' folders, by stage: where a family reads the inputs it takes besides the captions
        (``Variant.row_inputs``: RaGAN's reference patches come from ``crop_refs``)."""
        return {"data": self.data.out_dir, "preprocess": self.preprocess.out_dir, "crop_refs": self.crop_refs.out_dir}


# --------------------------------------------------------------------------- loading
def _describe(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        (inner,) = [t for t in options if t is not type(None)]
        return _convert(value, inner, key)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{key}: {value!r} is not allowed; use {_describe(tp)}")
        return value
    if dataclasses.is_dataclass(tp):
        return build(tp, value, key)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        if not math.isfinite(value):  # .nan passes every min/max comparison; .inf breaks the first step
            raise ConfigError(f"{key}: {value!r} is not a finite number")
        return float(value)
    if origin is list:
        if not isinstance(value, list) or not value:
            raise ConfigError(f"{key}: expected a non-empty list, got {value!r}")
        (inner,) = typing.get_args(tp)
        return [_convert(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp!r} at {key}")  # a bug in this module


def build(cls: type, mapping: Any, prefix: str = "") -> Any:
    """Build dataclass ``cls`` from ``mapping``, naming the key of any bad value."""
    where = prefix or "params.yaml"
    if not isinstance(mapping, dict):
        raise ConfigError(f"{where}: expected a section (mapping), got {mapping!r}")
    hints = typing.get_type_hints(cls)
    names = {f.metadata.get("key", f.name) for f in dataclasses.fields(cls)}
    unknown = sorted(set(mapping) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(names)) or 'none'}")
    values = {}
    for f in dataclasses.fields(cls):
        name = f.metadata.get("key", f.name)  # the name in params.yaml
        key = f"{prefix}.{name}" if prefix else name
        if name not in mapping:
            if f.default is not dataclasses.MISSING:
                values[f.name] = f.default
                continue
            if f.default_factory is not dataclasses.MISSING:
                values[f.name] = f.default_factory()
                continue
            raise ConfigError(f"{key}: missing")
        value = _convert(mapping[name], hints[f.name], key)
        lo, hi = f.metadata.get("min"), f.metadata.get("max")
        if lo is not None and value is not None and value < lo:
            raise ConfigError(f"{key}: {value!r} is below the minimum {lo}")
        if hi is not None and value is not None and value > hi:
            raise ConfigError(f"{key}: {value!r} is above the maximum {hi}")
        values[f.name] = value
    return cls(**values)


# Sections of params.yaml that map to a Params field, and the field's yaml name.
_SECTIONS = {"runtime": RuntimeConfig, "data": DataConfig, "preprocess": PreprocessConfig, "crop_refs": CropRefsConfig,
             "damsm": DamsmConfig, "train": TrainConfig, "generate": GenerateConfig, "evaluator": EvaluatorConfig,
             "score": ScoreConfig, "weights": WeightsConfig}


def parse_params(raw: Any, source: str = "params.yaml") -> Params:
    """Validate an already-parsed params mapping."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    known = {"seed", "dataset", "scale", "lambda", "variants", "baselines", "draw_sweep", *_SECTIONS, *SCALES}
    # Sections that later stages own are allowed through untouched until they are typed here.
    extra_ok = {"report"}
    unknown = sorted(set(raw) - known - extra_ok)
    if unknown:
        raise ConfigError(f"{source}: unknown top-level key(s) {', '.join(unknown)}")
    top = build(Params, {k: raw[k] for k in ("seed", "dataset", "scale", "lambda") if k in raw})
    scale_name = top.scale_name
    if scale_name not in raw:
        raise ConfigError(f"{scale_name}: scale {scale_name!r} is selected but has no section")
    sections = {name: build(cls, raw.get(name, {} if cls is WeightsConfig else None), name)
                for name, cls in _SECTIONS.items()}
    scale = build(ScaleConfig, raw[scale_name], scale_name)
    for i, name in enumerate(scale.extractors):
        if name not in EXTRACTORS:
            raise ConfigError(f"{scale_name}.extractors[{i}]: {name!r} is not allowed; use {', '.join(EXTRACTORS)}")
    if scale.baseline_image_size > scale.image_size or scale.baseline_image_size & (scale.baseline_image_size - 1):
        raise ConfigError(f"{scale_name}.baseline_image_size: {scale.baseline_image_size} must be a power of two "
                          f"<= {scale_name}.image_size ({scale.image_size})")
    if "evaluator" not in scale.extractors:
        raise ConfigError(f"{scale_name}.extractors: {scale.extractors} lacks 'evaluator', which also gives the "
                          "attribute accuracy; list it (and 'inception' for the papers' IS / FID / KID)")
    if sections["weights"].random_for_tests and top.dataset == "cub":
        raise ConfigError("weights.random_for_tests: true is a test-only setting (random Inception weights give no "
                          "real IS, FID or KID) and is refused with dataset: cub")
    variants = _families(raw.get("variants"), "variants")
    baselines = _families(raw.get("baselines", {}), "baselines", allow_empty=True)
    clash = sorted(set(variants) & set(baselines))
    if clash:
        raise ConfigError(f"baselines: {', '.join(clash)} also named in variants; a name is one model's reports/")
    sweep = None
    if "draw_sweep" in raw:
        section = raw["draw_sweep"]
        options = section.get("options", {}) if isinstance(section, dict) else {}
        if not isinstance(options, dict):
            raise ConfigError(f"draw_sweep.options: expected a mapping of DRAW options, got {options!r}")
        rest = {k: v for k, v in section.items() if k != "options"} if isinstance(section, dict) else section
        sweep = dataclasses.replace(build(DrawSweepConfig, rest, "draw_sweep"), options=dict(options))
        if sweep.base not in baselines or baselines[sweep.base].model != "draw":
            raise ConfigError(f"draw_sweep.base: {sweep.base!r} is not a `baselines` entry of model draw")
        for i, steps in enumerate(sweep.steps):
            if steps < 1 or sweep.total_latent % steps:
                raise ConfigError(f"draw_sweep.steps[{i}]: {steps} must be >= 1 and divide "
                                  f"draw_sweep.total_latent {sweep.total_latent}")
    return dataclasses.replace(top, scale=scale, variants=variants, baselines=baselines, draw_sweep=sweep, **sections)


def _families(entries: Any, section: str, allow_empty: bool = False) -> dict[str, VariantConfig]:
    """A section of named models (`variants`: train@ / generate@ / score@ stages of dvc.yaml;
    `baselines`: their *_baseline@ stages): per stage name, the family (a key of
    ``families.FAMILIES[section]``) and its options, checked by :func:`check_families`."""
    registry = families.FAMILIES[section]
    if not isinstance(entries, dict) or not (entries or allow_empty):
        raise ConfigError(f"{section}: expected a non-empty mapping of name -> {{model: ...}}, got {entries!r}")
    out = {}
    for name, entry in entries.items():
        if not isinstance(name, str) or not name.replace("_", "").isalnum():
            raise ConfigError(f"{section}: {name!r} is not a usable stage name (letters, digits and _)")
        if name in REPORT_DIRS:
            raise ConfigError(f"{section}.{name}: reports/{name}/ belongs to another stage; "
                              f"pick a name other than {', '.join(sorted(REPORT_DIRS))}")
        if not isinstance(entry, dict) or "model" not in entry:
            raise ConfigError(f"{section}.{name}: expected a mapping with a `model` key, got {entry!r}")
        model = entry["model"]
        if model not in registry:
            raise ConfigError(f"{section}.{name}.model: {model!r} is not a known model; "
                              f"use one of {', '.join(sorted(registry))}")
        out[name] = VariantConfig(section, name, model, {k: v for k, v in entry.items() if k != "model"})
    return out


def check_families(p: Params) -> Params:
    """Validate every entry's family options (importing every family's module): validate_params does
    this before any stage runs, so the other stages read only their own family's options."""
    for entry in (*p.variants.values(), *p.baselines.values()):
        _ = entry.options  # builds (and so checks) the family's Options
    if p.draw_sweep is not None and p.draw_sweep.options:
        base = p.baselines[p.draw_sweep.base]
        build(families.load("baselines", base.model, base.name).Options, {**base.given, **p.draw_sweep.options},
              "draw_sweep.options")
    return p


def load_params(path: str | Path = "params.yaml", overrides: dict[str, Any] | None = None) -> Params:
    """Read and validate params.yaml; ``overrides`` maps dotted keys to values (tests, CLI)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found (run from the project root)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    for dotted, value in (overrides or {}).items():
        set_dotted(raw, dotted, value)
    return parse_params(raw, str(path))


def set_dotted(mapping: dict, dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        mapping = mapping.setdefault(part, {})
    mapping[last] = value
