"""Pieces every corpus preparation shares: 16 kHz copies of folders made once
in worker processes, transcripts found by utterance id, paired manifests, and
the ``--download true|false`` option.

Example
-------
>>> cli_bool("false")
False
>>> pair_key("clnsp3_babble_snr5_tl-25_fileid_17.wav", r"fileid_(\\d+)")
'17'
"""
import argparse
import json
import os
import re
import sys

import numpy as np

from ..audio import resample
from ..fileio import write_text_atomic

RATE = 16000


def cli_bool(text):
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _resample_file(job):
    import soundfile as sf

    from ..fileio import write_wav_atomic

    src, dst = job
    x, fs = sf.read(src, dtype="float64")
    if x.ndim > 1:
        raise ValueError(f"{src}: {x.shape[1]} channels; the corpus is mono")
    write_wav_atomic(dst, resample(x, fs, RATE).astype(np.float32), RATE, subtype="PCM_16")
    return dst


def sample_rate_of(folder):
    """The rate of the first WAV file in ``folder`` (None when it has none)."""
    import soundfile as sf

    for f in sorted(os.listdir(folder)):
        if f.endswith(".wav"):
            return sf.info(os.path.join(folder, f)).samplerate
    return None


def resample_folders(pairs, workers=2, progress=True):
    """Each ``(src, out)``: every ``src/*.wav`` resampled to 16 kHz 16-bit
    ``out/*.wav``, once per folder (a stamp marks it done; a file appears only
    when complete, so an interrupted run resumes where it stopped), in worker
    processes with a progress bar."""
    from tqdm import tqdm

    from ..metrics.pool import WorkerPool

    todo = [(src, out) for src, out in pairs if not os.path.exists(os.path.join(out, ".resampled"))]
    if not todo:
        return
    pool = WorkerPool(workers)
    try:
        for src, out in todo:
            os.makedirs(out, exist_ok=True)
            names = sorted(f for f in os.listdir(src) if f.endswith(".wav"))
            jobs = [(os.path.join(src, f), os.path.join(out, f)) for f in names
                    if not os.path.exists(os.path.join(out, f))]
            for i in tqdm(range(0, len(jobs), 64), desc=f"-> 16 kHz {os.path.basename(src)}", unit="64 files",
                          disable=not progress, file=sys.stderr):
                pool.map(_resample_file, jobs[i:i + 64], chunksize=8)
            write_text_atomic(os.path.join(out, ".resampled"), f"{len(names)} files\n")
    finally:
        pool.close()


def at_16k(folder, workers=2, progress=True):
    """``folder`` itself when its files are 16 kHz, else its 16 kHz copy
    ``<folder>_16k`` (made once)."""
    rate = sample_rate_of(folder)
    if rate in (None, RATE):
        return folder
    out = folder.rstrip("/") + "_16k"
    resample_folders([(folder, out)], workers, progress)
    return out


def find_words(uid, txt_dirs):
    """The transcript ``<dir>/<uid>.txt`` from the first of ``txt_dirs`` that has
    it, on one line ("" when none does)."""
    for d in txt_dirs:
        path = os.path.join(d, f"{uid}.txt")
        if os.path.exists(path):
            with open(path, encoding="utf-8", errors="replace") as t:
                return " ".join(t.read().split())
    return ""


def pair_key(name, pattern):
    """The first group of ``pattern`` in ``name`` (None when it does not match)."""
    m = re.search(pattern, name)
    return m.group(1) if m else None


def wav_length(path):
    import soundfile as sf

    info = sf.info(path)
    return round(info.frames / info.samplerate, 4)


def paired_entries(clean_dir, noisy_dir, txt_dirs=()):
    """``{id: item}`` for every ``noisy_dir/<id>.wav`` with its ``clean_dir/<id>.wav``
    (VoiceBank's ``pXXX_NNN`` names: the speaker is the part before ``_``)."""
    out = {}
    for f in sorted(os.listdir(noisy_dir)):
        if not f.endswith(".wav"):
            continue
        uid, clean = f[:-4], os.path.join(clean_dir, f)
        if not os.path.exists(clean):
            raise ValueError(f"{os.path.join(noisy_dir, f)}: no clean file {clean}")
        out[uid] = {"noisy_wav": os.path.join(noisy_dir, f), "clean_wav": clean, "length": wav_length(clean),
                    "words": find_words(uid, txt_dirs), "speaker": uid.split("_")[0]}
    return out


def write_manifests(data_dir, sets):
    """``DATA/<name>.json`` for each ``name: {id: item}`` of ``sets``; returns the counts."""
    os.makedirs(data_dir, exist_ok=True)
    for name, items in sets.items():
        write_text_atomic(os.path.join(data_dir, f"{name}.json"), json.dumps(items, indent=1) + "\n")
    return {name: len(items) for name, items in sets.items()}
