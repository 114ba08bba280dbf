"""The `t2igan` command: birds from a sentence with a trained generator, and what is trained.

    t2igan sample --variant attngan --text "a small red bird with black wings" -n 8 -o birds.png
    t2igan sample --variant ragan_v1 --text "..." --reference patch.png --attention -o birds.png
    t2igan info
    t2igan plan -S dataset=cub -S scale=paper   # images, disk, RAM, GPU memory and time per stage

By default everything comes from the DVC outputs named in params.yaml: the EMA generator
(models/<variant>/generator.pt), the vocabulary (data/prepared) and the frozen DAMSM text
encoder (models/damsm).  `dvc repro train@<variant>` or `dvc pull` puts them there.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

from t2igan.errors import T2IGANError
from t2igan.metrics import registry


class UsageError(T2IGANError):
    pass


class OneSentence:
    """A typed sentence seen through the part of ``Prepared``'s interface that generation reads:
    caption row 0 is the sentence, of an image of class 0 (the class only matters to losses)."""

    def __init__(self, ids: np.ndarray):
        self.ids = ids
        self.index = {"class_ids": np.zeros(1, np.int64)}

    def caption_ids(self, row: int) -> np.ndarray:
        return self.ids


def encode_sentence(sentence: str, vocab: list[str]) -> tuple[np.ndarray, list[str], list[str]]:
    """(word ids, the words kept, the unknown words dropped) of a typed sentence, tokenised as the
    captions were."""
    from t2igan.data import text

    tokens = text.tokenize(sentence)
    if not tokens:
        raise UsageError(f"--text {sentence!r} has no words")
    word_to_id = {w: i for i, w in enumerate(vocab)}
    known = [w for w in tokens if w in word_to_id and word_to_id[w] != 0]
    unknown = [w for w in tokens if w not in known]
    if not known:
        raise UsageError(f"--text: none of its words is in the vocabulary ({', '.join(unknown)}); "
                         f"the model knows only the {len(vocab) - 1} words of its training captions")
    return np.array([word_to_id[w] for w in known], np.int64), known, unknown


def read_input(path: str | Path, size: int, flag: str) -> np.ndarray:
    """An input image of a family (RaGAN's reference patch) from a file: RGB, ``size`` x ``size`` pixels,
    as the data stage that makes them cuts them.  ``flag`` names the option in errors."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{flag} {path}: no such file")
    try:
        with Image.open(path) as img:
            img.load()
            mode, dims = img.mode, img.size
            pixels = np.asarray(img)
    except (UnidentifiedImageError, OSError) as exc:
        raise UsageError(f"{flag} {path}: not a readable image ({exc})") from exc
    if mode != "RGB":
        raise UsageError(f"{flag} {path}: mode {mode}; the model takes RGB images "
                         f"(e.g. PIL: Image.open(p).convert('RGB').save(p))")
    if dims != (size, size):
        raise UsageError(f"{flag} {path}: {dims[0]} x {dims[1]} pixels; the model takes {size} x {size} "
                         f"images (as its data stage cuts them, e.g. crop_refs.patch_size)")
    return pixels


def given_inputs(args) -> dict[str, tuple[str, str]]:
    """--input NAME=FILE (and --reference FILE, short for --input reference=FILE): name -> (flag, file)."""
    out: dict[str, tuple[str, str]] = {}
    for item in args.input or []:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"--input {item}: write NAME=FILE, e.g. --input reference=patch.png")
        if name in out:
            raise UsageError(f"--input {name}: given twice")
        out[name] = (f"--input {name}", path)
    if args.reference:
        if "reference" in out:
            raise UsageError("--reference and --input reference=...: give one")
        out["reference"] = ("--reference", args.reference)
    return out


MAX_IMAGES = 1024  # per `sample` call


def check_output(out: Path) -> None:
    """-o must name a file that can be created: not a directory, not under a regular file."""
    if out.is_dir():
        raise UsageError(f"-o {out}: is a directory; give a file name, e.g. {out / 'birds.png'}")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"-o {out}: {parent} is a file, not a directory")
            break


def describe_unknown(words: list[str], shown: int = 20) -> str:
    """The unknown words once each, in order, with how often each came (`zorbly (x3)`)."""
    counts: dict[str, int] = {}
    for w in words:
        counts[w] = counts.get(w, 0) + 1
    parts = [w if c == 1 else f"{w} (x{c})" for w, c in list(counts.items())[:shown]]
    if len(counts) > shown:
        parts.append(f"and {len(counts) - shown} more distinct words")
    return ", ".join(parts)


def _grid(images: np.ndarray, columns: int = 8):
    """uint8 [N, s, s, 3] -> rows of up to ``columns`` cells (white where the last row runs out)."""
    from t2igan.report.grids import image_grid

    n, s = len(images), images.shape[1]
    cols = min(columns, n)
    rows = -(-n // cols)
    cells = np.full((rows * cols, s, s, 3), 255, np.uint8)
    cells[:n] = images
    return image_grid(cells.reshape(rows, cols, s, s, 3), cell=grid_cell(s))


def grid_cell(size: int) -> int:
    """Cell side of a sample grid: small images enlarged (nearest) by a whole factor to about 128 px."""
    return size * max(1, 128 // size)


def dvc_remotes(root: Path = Path(".")) -> tuple[list[str], str | None]:
    """The DVC remotes configured for the project at ``root`` (.dvc/config and config.local) and
    the default one, read as DVC writes them."""
    import configparser

    names, default = [], None
    for name in ("config", "config.local"):
        cfg = configparser.ConfigParser()
        try:
            cfg.read(root / ".dvc" / name, encoding="utf-8")
        except configparser.Error:
            continue
        names += [m.group(1) for sec in cfg.sections() if (m := re.fullmatch(r'\'?remote\s+"(.+)"\'?', sec))]
        default = cfg.get("core", "remote", fallback=default)
    return sorted(set(names)), default


def missing_output_advice(path: Path | str, stage: str) -> str:
    """How to get a stage's output that is not here: pull it when a DVC remote is configured,
    else say that there is none and how to add one, or train it."""
    remotes, default = dvc_remotes()
    if not remotes:
        return (f"No DVC remote is configured, so `dvc pull` has nowhere to fetch it from: run "
                f"`dvc repro {stage}`, or add your lab's remote and pull (`dvc remote add -d storage <url>`, "
                f"then `dvc pull {path}`)")
    which = f"the default remote {default!r}" if default in remotes else f"remote {remotes[0]!r} (`-r {remotes[0]}`)"
    return (f"Fetch it with `dvc pull {path}` (from {which}); if the remote does not have it, "
            f"`dvc repro {stage}` makes it")


def sample(args, p) -> Path:
    import torch

    from t2igan import io
    from t2igan.data.preprocess import Prepared
    from t2igan.generate import attention_figure, generate, sample_rows
    from t2igan.train import gan
    from t2igan.train.device import pick_device

    if args.n < 1:
        raise UsageError(f"-n {args.n}: give at least 1 image")
    if args.n > MAX_IMAGES:
        raise UsageError(f"-n {args.n}: at most {MAX_IMAGES} images per grid (one PNG of {MAX_IMAGES} cells is "
                         f"already ~{MAX_IMAGES * 128 * 128 * 3 // 2**20} MB of pixels); for more, run again "
                         f"with other --seed values")
    if not 0 <= args.seed < 2**63:
        raise UsageError(f"--seed {args.seed}: give a whole number from 0 to 2^63 - 1")
    out = Path(args.output)
    if out.suffix.lower() != ".png":
        raise UsageError(f"-o {out}: the grid is written as PNG; name it *.png")
    check_output(out)
    ckpt = Path(args.checkpoint) if args.checkpoint else Path(p.train.out_dir) / args.variant / "generator.pt"
    if not ckpt.is_file():
        if args.checkpoint:
            raise UsageError(f"{ckpt}: no trained generator there")
        raise UsageError(f"{ckpt}: no trained generator. {missing_output_advice(ckpt, f'train@{args.variant}')}; "
                         f"or give --checkpoint")
    damsm_dir = Path(p.damsm.out_dir) / "damsm"
    encoders = " ".join(str(damsm_dir / f) for f in ("text_encoder.pt", "image_encoder.pt"))
    for needed, output, stage in ((damsm_dir / "text_encoder.pt", encoders, "pretrain_damsm"),
                                  (Path(p.preprocess.out_dir) / "vocab.json", p.preprocess.out_dir, "preprocess")):
        if not needed.is_file():
            raise UsageError(f"{needed}: missing (the generator reads captions through it). "
                             f"{missing_output_advice(output, stage)}")
    device = pick_device(args.device, "--device")
    damsm = gan.FrozenDamsm.load(damsm_dir, device)
    try:
        variant, G, epoch = gan.load_generator(ckpt, damsm, device)
    except T2IGANError:  # a damaged file (checksum) or a missing one: its own message names it
        raise
    except (KeyError, RuntimeError, EOFError, ValueError) as exc:
        raise UsageError(f"{ckpt}: not a generator written by training (generator.pt or snapshots/epoch_*.pt): "
                         f"{exc.__class__.__name__}") from exc
    except Exception as exc:  # noqa: BLE001 - unpickling a foreign or damaged file raises anything
        raise UsageError(f"{ckpt}: cannot be read as a generator ({exc.__class__.__name__}: {exc})") from exc
    if args.checkpoint is None and variant.s.variant != args.variant:
        raise UsageError(f"{ckpt} holds {variant.s.variant!r}, not {args.variant!r}")
    prepared = Prepared(p.preprocess.out_dir)

    ids, known, unknown = encode_sentence(args.text, prepared.vocab)
    if unknown:
        print(f"unknown words, ignored: {describe_unknown(unknown)}", file=sys.stderr)
    if len(ids) > variant.s.max_words:
        print(f"{len(ids)} known words; like the training captions, {variant.s.max_words} of them are kept "
              f"(chosen by --seed)", file=sys.stderr)

    given = given_inputs(args)
    for name, (flag, _) in given.items():
        if name not in variant.inputs:
            raise UsageError(f"{flag}: {variant.s.variant} takes no input {name!r} "
                             f"(its inputs: {', '.join(variant.inputs) or 'none'})")
    inputs = {}
    row = sample_rows(prepared, 1)
    for name, source in gan.row_inputs(variant, p.data_dirs, prepared).items():
        default = source.for_rows(row)[0]  # also gives the size the model takes
        if name in given:
            x = read_input(given[name][1], default.shape[0], given[name][0])
        else:
            x = default
            print(f"no --input {name}=FILE: using the {name} of test caption row {int(row[0])}", file=sys.stderr)
        inputs[name] = np.broadcast_to(x, (args.n, *x.shape))

    rows = np.zeros(args.n, np.int64)  # n times the one sentence; item i's noise is drawn from (seed, i)
    with torch.no_grad():  # attention maps only when asked for: they cost memory per image
        result = generate(variant, G, damsm, OneSentence(ids), rows, max_words=variant.s.max_words, seed=args.seed,
                          batch_size=min(args.n, 64), attention=args.attention, inputs=inputs)
    images, maps = (result[0], result[1]) if args.attention else (result, None)
    written = [out]
    try:
        io.save_png(out, _grid(images))
        if args.attention:
            from t2igan.generate import encode_rows

            kept, length = encode_rows(OneSentence(ids), rows[:1], variant.s.max_words, args.seed)
            words = [prepared.vocab[int(i)] for i in kept[0, :int(length[0])]]
            for k in range(args.n):
                path = out.with_name(f"{out.stem}.attention-{k + 1}.png")
                attention_figure(images[k], maps[k, :len(words)], words, path, caption=" ".join(words))
                written.append(path)
    except OSError as exc:  # permissions, a read-only file system (a full disk is io's WriteError)
        raise UsageError(f"-o {out}: cannot be written ({exc.strerror or exc})") from exc
    print(f"{variant.s.variant}, epoch {epoch} ({ckpt}): {args.n} image(s) of {variant.s.image_size} px -> "
          f"{', '.join(map(str, written))}")
    return out


def info(args, p) -> list[dict]:
    """One row per model of params.yaml (variants and baselines): trained?, epochs, latest scores."""
    rows = []
    for kind, names in (("variant", p.variants), ("baseline", p.baselines)):
        for name in names:
            model = Path(p.train.out_dir) / name / "generator.pt"
            report = Path("reports") / name
            train = _json(report / "train.json")
            scores = _json(report / "metrics.json") or {}  # git-tracked: there on a fresh clone
            row = {"name": name, "kind": kind, "trained": model.is_file(),
                   "epochs": train.get("epochs") if train else None}
            for m in registry.table_metrics():
                value = scores.get(m.key)
                row[m.key] = value if isinstance(value, (int, float)) else None
            rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
        return rows
    print(f"{'model':14} {'kind':8} {'trained':7} {'epochs':>6} {'FID':>6} {'IS':>6} {'KID':>6} {'R-prec':>6}")
    for r in rows:
        cells = [_fmt(r["fid"], 1), _fmt(r["is"], 2), _fmt(r["kid"], 2), _fmt(r["r_precision_evaluator_damsm"], 3)]
        print(f"{r['name']:14} {r['kind']:8} {'yes' if r['trained'] else 'no':7} {_fmt(r['epochs'], 0):>6} "
              + " ".join(f"{c:>6}" for c in cells))
    print("scores: reports/<model>/metrics.json, final generator (R-prec: the evaluator DAMSM's); "
          "`dvc repro` fills in what is missing")
    return rows


def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _fmt(value, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="t2igan", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--params", default="params.yaml", help="the params file whose output paths to use")
    loud = top.add_mutually_exclusive_group()
    loud.add_argument("-v", "--verbose", action="store_true", help="log debug messages too")
    loud.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    sub = top.add_subparsers(dest="command", required=True, metavar="{sample,info,plan}")

    s = sub.add_parser("sample", help="draw birds for a sentence with a trained generator",
                       description="Generate -n images for one sentence and write them as a PNG grid.")
    s.add_argument("--variant", required=True, help="a name under `variants` in params.yaml (attngan, ragan_v1, ...)")
    s.add_argument("--text", required=True, help="the sentence, e.g. \"a small red bird with black wings\"")
    s.add_argument("-n", type=int, default=8, help="how many images (default 8)")
    s.add_argument("-o", "--output", default="samples.png", help="the PNG grid to write (default samples.png)")
    s.add_argument("--input", action="append", metavar="NAME=FILE",
                   help="an input image the family takes besides the text (RaGAN: reference=patch.png, an RGB patch "
                        "of crop_refs.patch_size pixels); default: the test caption's own, from its data stage")
    s.add_argument("--reference", metavar="FILE", help="short for --input reference=FILE (RaGAN)")
    s.add_argument("--seed", type=int, default=0, help="noise seed: the same seed gives the same images (default 0)")
    s.add_argument("--checkpoint", help="a generator.pt or snapshots/epoch_NNNN.pt (default: "
                                        "models/<variant>/generator.pt)")
    s.add_argument("--attention", action="store_true",
                   help="also write each image's per-word attention maps, <output>.attention-K.png")
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])

    i = sub.add_parser("info", help="which models are trained, their epochs and latest scores")
    i.add_argument("--json", action="store_true", help="print JSON rows instead of a table")

    pl = sub.add_parser("plan", help="what `dvc repro` would write, hold and take, per stage, before running it",
                        description="Per stage of the default graph: images written, disk of its DVC outputs, "
                                    "peak host RAM (computed), GPU memory and time (where a GPU benchmark "
                                    "measured them), and the totals.")
    pl.add_argument("-S", "--set-param", action="append", default=[], metavar="KEY=VALUE",
                    help="override a param as `dvc exp run -S` does, e.g. -S dataset=cub -S scale=paper")
    pl.add_argument("--results", default="benchmarks/results", help="where the measured GPU benchmarks are")
    pl.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    return top


def overrides(pairs: list[str]) -> dict:
    """``-S key=value`` pairs as dotted keys and YAML values (``-S lambda=5`` gives 5.0's int 5)."""
    import yaml

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"-S {pair!r}: expected KEY=VALUE, e.g. -S scale=paper")
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise UsageError(f"-S {pair!r}: the value is not YAML: {exc}") from None
    return out


def plan(args, params_path: str) -> list:
    from dataclasses import asdict

    from t2igan import plan as planning
    from t2igan.config import load_params

    p = load_params(params_path, overrides(args.set_param))
    rows = planning.plan(p, args.results)
    print(json.dumps([asdict(r) for r in rows], indent=2) if args.json else planning.format_plan(p, rows))
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        from t2igan import allocator, logs
        from t2igan.config import load_params

        allocator.tune()
        logs.configure(1 if args.verbose else -1 if args.quiet else 0)

        if args.command == "plan":
            plan(args, args.params)
            return 0
        p = load_params(args.params)
        if args.command == "sample":
            if args.variant not in p.variants:
                raise UsageError(f"--variant {args.variant!r}: no such entry under `variants` in {args.params}; "
                                 f"known: {', '.join(p.variants)}")
            sample(args, p)
        else:
            info(args, p)
    except T2IGANError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
