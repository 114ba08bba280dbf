"""Stage validate_params: check params.yaml before any other stage deletes its outputs.

DVC removes a stage's outputs before running its command, so a typo found by the stage itself
(``lambda: five``, a batch size of 0) used to cost the generator, its reports and a retrain.
Every stage depends on this one's output, which is the same text whenever the params are
valid: a valid edit re-runs only the stages whose own params changed, and an invalid one stops
`dvc repro` here, with the key named, before anything is touched.
"""
from t2igan import config, io, stage

OUT = "reports/params_valid.txt"


def main(p):
    config.check_families(p)  # every family's options, which the other stages leave to their own family's
    io.write_text(OUT, "params.yaml passed t2igan.config's validation\n")


if __name__ == "__main__":
    args = stage.parse_args(__doc__)
    stage.run(main, verbosity=args.verbosity)
