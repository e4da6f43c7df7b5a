"""Atomic file writes: write beside the target, then rename into place, so a
killed process never leaves a half-written output (and an existing file is
replaced in one step)."""
import os


def write_text_atomic(path, text):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_wav_atomic(path, samples, sample_rate, subtype="PCM_16"):
    import soundfile as sf

    tmp = f"{path}.tmp.wav"
    sf.write(tmp, samples, sample_rate, subtype=subtype)
    os.replace(tmp, path)
