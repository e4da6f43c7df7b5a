"""Atomic file writes: write beside the target, then rename into place, so a
killed process never leaves a half-written output (and an existing file is
replaced in one step)."""
import os


def write_text_atomic(path, text):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_bytes_atomic(path, data):
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def write_wav_atomic(path, samples, sample_rate, subtype="PCM_16"):
    _write_sound_atomic(path, samples, sample_rate, "WAV", subtype)


def _write_sound_atomic(path, samples, sample_rate, fmt, subtype):
    import soundfile as sf

    tmp = f"{path}.tmp"
    sf.write(tmp, samples, sample_rate, format=fmt, subtype=subtype)
    os.replace(tmp, path)


def write_audio_atomic(path, samples, sample_rate, fmt="WAV", subtype="FLOAT"):
    """Write audio atomically in ``fmt``/``subtype`` when soundfile can (else
    float WAV). Integer subtypes would clip an output above full scale, so
    such an output is scaled down to peak 1 instead (the shape is kept)."""
    import numpy as np
    import soundfile as sf

    if not sf.check_format(fmt, subtype):
        fmt, subtype = "WAV", "FLOAT"
    if subtype.startswith("PCM") or subtype in ("ULAW", "ALAW"):
        peak = float(np.max(np.abs(samples))) if np.size(samples) else 0.0
        if peak > 1.0:
            samples = samples / peak
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    _write_sound_atomic(path, samples, sample_rate, fmt, subtype)
