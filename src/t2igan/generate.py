"""Images from a trained generator: the scored sets, sample grids and word-attention maps.

Every caption goes through the same path as in training: its word ids (AttnGAN's 18-word
rule, seeded per caption row), the frozen DAMSM text encoder, the variant's ``generate``.
The noise z of item ``i`` of a set and its conditioning noise are drawn from a generator
seeded by (seed, i), so a set is the same every time and whatever the batch size.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402
from tqdm import tqdm  # noqa: E402

from t2igan import io  # noqa: E402
from t2igan.data import cub, text  # noqa: E402
from t2igan.data.dataset import to_branches  # noqa: E402
from t2igan.data.preprocess import Prepared  # noqa: E402
from t2igan.losses.damsm import word_mask  # noqa: E402
from t2igan.report.data_figures import contact_sheet  # noqa: E402
from t2igan.variants.base import Batch  # noqa: E402


def encode_rows(prepared: Prepared, rows: np.ndarray, max_words: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Word ids [N, max_words] and lengths [N] of caption rows, the 18-word rule seeded per row."""
    captions = np.zeros((len(rows), max_words), np.int64)
    lengths = np.zeros(len(rows), np.int64)
    for i, row in enumerate(rows):
        captions[i], lengths[i] = text.select_words(prepared.caption_ids(int(row)), max_words,
                                                    np.random.default_rng([seed, int(row)]))
    return torch.from_numpy(captions), torch.from_numpy(lengths)


def final_rows(prepared: Prepared, captions_per_image: int, seed: int) -> np.ndarray:
    """The caption rows of the final (scored) set: ``captions_per_image`` of each test image's
    captions, image by image; all 10 in order at 10 (every test caption, the papers' protocol),
    else a seeded choice per image, the same for every model."""
    test = prepared.split_indices("test")
    if captions_per_image >= cub.N_CAPTIONS:
        picks = np.broadcast_to(np.arange(cub.N_CAPTIONS), (len(test), cub.N_CAPTIONS))
    else:
        rng = np.random.default_rng([seed, 5])
        picks = np.stack([np.sort(rng.permutation(cub.N_CAPTIONS)[:captions_per_image]) for _ in test])
    return (test[:, None] * cub.N_CAPTIONS + picks).ravel()


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[B, 3, s, s] in [-1, 1] -> uint8 [B, s, s, 3]."""
    x = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


# images per generation batch x their area: at most 20 images of 256 px (320 of 64 px) whatever
# runtime.generate_batch says, because a 256 px batch of 100 took 15 GB of activations (RaGAN on the CPU)
GENERATE_PIXELS = 20 * 256 * 256


def generation_batch(batch_size: int, side: int) -> int:
    """The images a generation batch of ``side`` px holds: ``batch_size``, or fewer at large sides."""
    return max(1, min(batch_size, GENERATE_PIXELS // side ** 2))


@torch.no_grad()
def generate_batches(variant, G, damsm, prepared: Prepared, rows: np.ndarray, *, max_words: int, seed: int,
                     batch_size: int = 100, attention: bool = False, progress: bool = False,
                     inputs: dict[str, np.ndarray] | None = None) -> Iterator:
    """The final-branch images of caption ``rows``, a batch at a time and in order: uint8
    [B, s, s, 3] per batch; with ``attention`` a tuple (images, word maps [B, T, h, w], input
    maps [B, regions, h, w] or None), the maps float16 (None for a variant without attention).
    ``inputs``: per name of ``variant.inputs``, uint8 [N, p, p, 3], the input of each row.  A consumer
    that keeps only what it computes of each batch (features, a memmap) never holds the set in memory."""
    inputs = inputs or {}
    if sorted(inputs) != sorted(variant.inputs) or any(len(x) != len(rows) for x in inputs.values()):
        raise ValueError(f"{variant.s.variant} takes {list(variant.inputs) or 'no inputs'} per caption; got "
                         f"{ {k: len(v) for k, v in inputs.items()} } for {len(rows)} rows")
    device = next(G.parameters()).device
    batch_size = generation_batch(batch_size, variant.s.image_size)
    captions, lengths = encode_rows(prepared, rows, max_words, seed)
    class_ids = torch.from_numpy(prepared.index["class_ids"][rows // cub.N_CAPTIONS].astype(np.int64))
    # z and the conditioning noise of item i depend on (seed, i) only, not on the batching
    rng = np.random.default_rng([seed, 7])
    z_all = variant.sampling_noise(torch.from_numpy(rng.standard_normal((len(rows), variant.s.z_dim),
                                                                        dtype=np.float32)))
    eps_all = torch.from_numpy(rng.standard_normal((len(rows), variant.s.c_dim), dtype=np.float32))
    for start in tqdm(range(0, len(rows), batch_size), desc="generate", disable=not progress, leave=False):
        sl = slice(start, start + batch_size)
        cap, ln = captions[sl].to(device), lengths[sl]
        words, sentence = damsm.encode(cap, ln)
        ln = ln.to(device)
        given = {name: torch.from_numpy(np.array(x[sl])).permute(0, 3, 1, 2).to(device) for name, x in inputs.items()}
        batch = Batch(real=[], words=words, sentence=sentence, pad_mask=~word_mask(ln, cap.shape[1]),
                      lengths=ln, class_ids=class_ids[sl].to(device),
                      inputs={name: to_branches(x, [x.shape[-1]])[0] for name, x in given.items()})
        fake = variant.generate(G, batch, z_all[sl].to(device), eps=eps_all[sl].to(device))
        pixels = to_uint8(fake.images[-1])
        if not attention:
            yield pixels
            continue
        maps = fake.attentions[-1].float().cpu().numpy().astype(np.float16) if fake.attentions else None
        ref_maps = (fake.input_attentions[-1].float().cpu().numpy().astype(np.float16)
                    if fake.input_attentions else None)
        yield pixels, maps, ref_maps


def generate(variant, G, damsm, prepared: Prepared, rows: np.ndarray, *, max_words: int, seed: int,
             batch_size: int = 100, attention: bool = False, progress: bool = False, out: np.ndarray | None = None,
             inputs: dict[str, np.ndarray] | None = None):
    """``generate_batches`` gathered: uint8 [N, s, s, 3] (into ``out`` if given); with ``attention``
    also the maps of every row (images, word maps or None, input maps or None)."""
    images, maps, ref_maps, at = out, [], [], 0
    for item in generate_batches(variant, G, damsm, prepared, rows, max_words=max_words, seed=seed,
                                 batch_size=batch_size, attention=attention, progress=progress,
                                 inputs=inputs):
        pixels, m, r = item if attention else (item, None, None)
        if images is None:
            images = np.zeros((len(rows), *pixels.shape[1:]), np.uint8)
        images[at:at + len(pixels)] = pixels
        at += len(pixels)
        maps += [m] if m is not None else []
        ref_maps += [r] if r is not None else []
    if attention:
        return images, (np.concatenate(maps) if maps else None), (np.concatenate(ref_maps) if ref_maps else None)
    return images


def sample_rows(prepared: Prepared, n: int) -> np.ndarray:
    """``n`` fixed test captions for grids: evenly spaced test images (so, many species), caption 0."""
    test = prepared.split_indices("test")
    picks = test[np.linspace(0, len(test) - 1, num=min(n, len(test))).round().astype(int)]
    return picks * cub.N_CAPTIONS


def grid_path(samples_dir: str | Path, epoch: int) -> Path:
    """The sample grid of ``epoch`` that a trainer draws into its samples folder (reports/<model>/samples)."""
    return Path(samples_dir) / f"epoch_{epoch:04d}.png"


def sample_grid(variant, G, damsm, prepared: Prepared, s, path: str | Path, *, title: str = "",
                inputs=None) -> None:
    """The generator's images for the fixed sample captions, each with its caption, and with its
    inputs inset at the top left when the variant takes any (``inputs``: name -> a source with
    ``for_rows``, as ``Variant.row_inputs`` gives them)."""
    rows = sample_rows(prepared, s.sample_captions)
    given = {name: source.for_rows(rows) for name, source in (inputs or {}).items()}
    images = generate(variant, G, damsm, prepared, rows, max_words=s.max_words, seed=s.seed, inputs=given)
    captions = [prepared.decode(prepared.caption_ids(int(r))) for r in rows]
    cell = 160  # small generated images are enlarged (nearest) to the cell, so pixels stay honest
    tiles = [Image.fromarray(x).resize((cell - 6, cell - 6), Image.Resampling.NEAREST) for x in images]
    side = cell // 3
    for k, patches in enumerate(given.values()):  # side by side along the top
        for tile, patch in zip(tiles, patches):
            inset = Image.fromarray(patch).resize((side, side), Image.Resampling.BILINEAR)
            tile.paste((255, 255, 255), (k * (side + 2), 0, (k + 1) * (side + 2), side + 2))  # a white frame
            tile.paste(inset, (k * (side + 2), 0))
    contact_sheet(tiles, captions, path, columns=min(8, len(rows)), cell=cell, text_lines=5)


def write_set(path: str | Path, variant, G, damsm, prepared: Prepared, rows: np.ndarray, *, max_words: int,
              seed: int, batch_size: int, meta: dict, progress: bool = True,
              inputs: dict[str, np.ndarray] | None = None) -> None:
    """A generated set as a directory (``io.write_image_set``: images.npy uint8 [N, s, s, 3],
    caption_rows.npy, meta.json), written whole or not at all."""
    io.write_image_set(path, rows, variant.s.image_size, meta, lambda images: generate(
        variant, G, damsm, prepared, rows, max_words=max_words, seed=seed, batch_size=batch_size,
        progress=progress, out=images, inputs=inputs))


def _overlay(ax, image: np.ndarray, m: np.ndarray) -> None:
    """``image`` with the attention map ``m`` [h, w] upsampled over it, scaled to its own maximum."""
    size = image.shape[0]
    up = F.interpolate(torch.from_numpy(m.astype(np.float32))[None, None], size=(size, size),
                       mode="bilinear", align_corners=False)[0, 0].numpy()
    ax.imshow(image)
    ax.imshow(up / max(float(up.max()), 1e-8), cmap="magma", alpha=0.65, vmin=0, vmax=1)


def attention_figure(image: np.ndarray, maps: np.ndarray, words: list[str], path: str | Path,
                     caption: str = "", columns: int = 10) -> None:
    """A generated image and, per word, where the last attention branch looked (bright = attended;
    each word's map is scaled to its own maximum)."""
    panels = len(words) + 1
    cols = min(columns, panels)
    rows = -(-panels // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.5 * cols, 1.6 * rows + 0.3), dpi=110, squeeze=False)
    axes = axes.ravel()
    axes[0].imshow(image)
    axes[0].set_title("generated", fontsize=8)
    for ax, word, m in zip(axes[1:], words, maps):
        _overlay(ax, image, m)
        ax.set_title(word, fontsize=8)
    for ax in axes:
        ax.axis("off")
    if caption:
        fig.suptitle(caption, fontsize=8)
    io.save_png(path, fig)
    plt.close(fig)


def input_attention_figure(image: np.ndarray, patch: np.ndarray, maps: np.ndarray, path: str | Path,
                           name: str = "reference", regions: int = 8) -> None:
    """Where the last stage took each part of an input image ``name`` from (RaGAN's F_ref: its reference).

    ``maps`` [g*g, h, w]: per generated pixel, its attention over the input's g x g regions.  Shown:
    the generated image, the input with its region grid, and for the ``regions`` regions with the
    most attention in total, the generated image lit where it attended that region.
    """
    n = maps.shape[0]
    g = int(round(n ** 0.5))
    if g * g != n:
        raise ValueError(f"{n} {name} regions are not a square grid")
    mass = maps.astype(np.float32).sum(axis=(1, 2))
    top = np.argsort(-mass, kind="stable")[:regions]
    cols = len(top) + 2
    fig, axes = plt.subplots(1, cols, figsize=(1.5 * cols, 1.9), dpi=110, squeeze=False)
    axes = axes[0]
    axes[0].imshow(image)
    axes[0].set_title("generated", fontsize=8)
    axes[1].imshow(patch)
    step = patch.shape[0] / g
    for k in range(1, g):
        axes[1].axhline(k * step - 0.5, color="white", linewidth=0.5)
        axes[1].axvline(k * step - 0.5, color="white", linewidth=0.5)
    axes[1].set_title(name, fontsize=8)
    for ax, r in zip(axes[2:], top):
        _overlay(ax, image, maps[r])
        ax.set_title(f"cell ({r // g}, {r % g}): {100 * mass[r] / max(mass.sum(), 1e-8):.0f} %", fontsize=7)
    for ax in axes:
        ax.axis("off")
    fig.suptitle(f"{name} attention: the patch cells the last stage drew on most, and where", fontsize=8)
    io.save_png(path, fig)
    plt.close(fig)
