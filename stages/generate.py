"""Stage generate@<variant>: images for the test captions from the trained EMA generator.

    python stages/generate.py attngan

Writes data/generated/<variant>/final (one image for each of ``captions_per_image`` captions
of every test image: 10 is every test caption, the papers' protocol), and a grid of samples
with their captions and word-attention maps for a few fixed captions in reports/<variant>/.
Before writing, it checks that the disk has room for every set it will write.  The snapshots'
images are never stored: score@ generates and scores them a batch at a time.

A variant that takes inputs besides the caption (``Variant.inputs``; RaGAN: its reference patch from
``crop_refs``) gets each caption's inputs, and also writes final_black: the same captions and noise
with every input all black (the thesis's ablation: does the output change when the reference carries
nothing?), and the maps of its attention over its input beside the word-attention ones.
"""
import dataclasses
import time
from pathlib import Path

import numpy as np

from t2igan import io, stage
from t2igan.data.preprocess import Prepared
from t2igan.generate import (
    attention_figure,
    encode_rows,
    final_rows,
    generate,
    input_attention_figure,
    sample_grid,
    sample_rows,
    write_set,
)
from t2igan.train import gan
from t2igan.train.device import pick_device


def main(p, name: str):
    start = time.perf_counter()
    g = p.generate
    device = pick_device(p.runtime.device)
    prepared = Prepared(p.preprocess.out_dir)
    damsm = gan.FrozenDamsm.load(Path(p.damsm.out_dir) / "damsm", device)
    model_dir, out, reports = Path(p.train.out_dir) / name, Path(g.out_dir) / name, Path("reports") / name
    variant, G, epoch = gan.load_generator(model_dir / "generator.pt", damsm, device)
    s = variant.s

    per_image = p.scale.captions_per_image
    rows = final_rows(prepared, per_image, p.seed)
    sources = gan.row_inputs(variant, p.data_dirs, prepared)
    inputs = {k: source.for_rows(rows) for k, source in sources.items()}
    sets = 2 if inputs else 1  # final, and final_black for a variant with inputs
    io.check_free_disk(out.parent, sets * len(rows) * s.image_size ** 2 * 3, f"generate@{name}'s {sets} set(s)")
    t = time.perf_counter()
    write_set(out / "final", variant, G, damsm, prepared, rows, max_words=s.max_words, seed=p.seed,
              batch_size=p.runtime.generate_batch,
              meta={"variant": name, "epoch": epoch, "captions_per_image": per_image},
              inputs=inputs)
    final_rate = len(rows) / (time.perf_counter() - t)
    if inputs:
        # one black image per input, seen N times
        black = {k: np.broadcast_to(np.zeros_like(x[:1]), x.shape) for k, x in inputs.items()}
        write_set(out / "final_black", variant, G, damsm, prepared, rows, max_words=s.max_words, seed=p.seed,
                  batch_size=p.runtime.generate_batch, inputs=black,
                  meta={"variant": name, "epoch": epoch, "captions_per_image": per_image,
                        **dict.fromkeys(black, "black")})

    sample_grid(variant, G, damsm, prepared, dataclasses.replace(s, sample_captions=32), reports / "generated.png",
                inputs=sources)
    attention_rows = sample_rows(prepared, g.attention_captions)
    attention_inputs = {k: source.for_rows(attention_rows) for k, source in sources.items()}
    images, maps, input_maps = generate(variant, G, damsm, prepared, attention_rows, max_words=s.max_words,
                                        seed=p.seed, attention=True, inputs=attention_inputs)
    captions, lengths = encode_rows(prepared, attention_rows, s.max_words, p.seed)  # the words G saw
    for k in range(len(attention_rows)):
        words = [prepared.vocab[int(i)] for i in captions[k, :lengths[k]]]
        if maps is not None:
            attention_figure(images[k], maps[k][:len(words)], words, reports / "attention" / f"caption_{k}.png",
                             caption=" ".join(words))
        else:  # a family without word attention (DF-GAN): the image and the words it was given
            attention_figure(images[k], [], [], reports / "attention" / f"captioned_{k}.png", caption=" ".join(words))
    if input_maps is not None:  # the attention over the (first) input's regions
        first = variant.inputs[0]
        for k in range(len(attention_rows)):
            input_attention_figure(images[k], attention_inputs[first][k], input_maps[k],
                                   reports / "attention" / f"{first}_{k}.png", name=first)
    io.write_json(reports / "generate.json", {
        "images": int(len(rows)), "captions_per_image": per_image, "epoch": epoch,
        "images_per_s": round(final_rate, 1), "seconds": stage.elapsed(start),
    })


if __name__ == "__main__":
    args = stage.parse_args(__doc__, "VARIANT", "a key of `variants` in params.yaml")
    stage.run(lambda p: main(p, stage.variant_name(p, args.name)), verbosity=args.verbosity)
