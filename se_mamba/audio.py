"""Audio helpers shared by scoring, DNSMOS, speaker similarity, ASR and
inference: polyphase resampling, reading a file as mono float64 at a given
rate, and listing the audio files of a folder tree."""
import os
from math import gcd

import numpy as np


def resample(wav, fs, rate=16000):
    """``wav`` (1-D) from ``fs`` to ``rate`` Hz (polyphase, scipy); unchanged when equal."""
    wav = np.asarray(wav, dtype=np.float64)
    if int(fs) == rate:
        return wav
    from scipy.signal import resample_poly

    g = gcd(int(fs), rate)
    return resample_poly(wav, rate // g, int(fs) // g)


def read_audio(path, always_2d=False):
    """(samples float64 ``[N]`` or ``[N, C]``, sample rate, the closed
    ``soundfile.SoundFile``, whose ``format``/``subtype``/``channels`` stay readable).

    Raises ValueError naming the file when it is missing or unreadable.
    """
    import soundfile as sf

    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file")
    try:
        with sf.SoundFile(path) as f:  # one open for the samples and the format
            x = f.read(dtype="float64", always_2d=always_2d)
    except Exception as exc:
        raise ValueError(f"{path}: unreadable audio ({str(exc).strip().splitlines()[0][:80]})") from None
    return x, f.samplerate, f


def read_mono(path, rate=16000):
    """(signal at ``rate``, notes): channels averaged and resampling recorded in ``notes``.

    Raises ValueError naming the file when it is missing or unreadable.
    """
    x, fs, _ = read_audio(path, always_2d=True)
    notes = []
    if x.shape[1] > 1:
        notes.append(f"{x.shape[1]} channels averaged")
    x = x.mean(axis=1)
    if fs != rate:
        x = resample(x, fs, rate)
        notes.append(f"resampled {fs} -> {rate} Hz")
    return x, notes


AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".aiff", ".aif", ".au")


def audio_files(root):
    """[(path, path relative to ``root``)] of the audio files under ``root``, sorted."""
    out = []
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        for f in sorted(files):
            if f.lower().endswith(AUDIO_EXTENSIONS):
                path = os.path.join(dirpath, f)
                out.append((path, os.path.relpath(path, root)))
    return out
