"""Stage fetch_weights: the pretrained files the params need, checked, in models/weights/.

    python stages/fetch_weights.py

The FID Inception when the scale's ``extractors`` list ``inception``, the ImageNet Inception-v3
when its DAMSMs use the ``inception_v3`` backbone; none at ``quick``.  Each is taken from data/raw/
or the torch hub cache when it is there (placed by hand: used offline after its SHA-256 check),
else downloaded into data/raw/ (resumable, checked) and hard-linked here.  When it is neither
there nor reachable, the error names the file, its checksum and the two places to put it, before
any stage that trains or scores runs.  models/weights/weights.json records each file's SHA-256
and where it came from; ``weights.random_for_tests`` writes random weights instead (said there,
and in every score made with them).
"""
from pathlib import Path

from t2igan import io, stage, weights


def main(p):
    out = Path(p.weights.dir)
    with io.atomic_dir(out) as tmp:
        manifest = {w.key: weights.place(w, tmp, p.data.raw_dir, random=p.weights.random_for_tests, seed=p.seed)
                    for w in weights.needed(p)}
        io.write_json(tmp / weights.MANIFEST, manifest)
    for key, entry in manifest.items():
        print(f"{key}: {entry['file']} ({entry['source']}; SHA-256 {entry['sha256'][:12]}...)")
    if not manifest:
        print(f"{p.scale_name} needs no pretrained weights ({', '.join(p.scale.extractors)}; "
              f"DAMSM backbone {p.scale.damsm_backbone})")


if __name__ == "__main__":
    args = stage.parse_args(__doc__)
    stage.run(main, verbosity=args.verbosity)
