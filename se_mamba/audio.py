"""Audio helpers shared by scoring, DNSMOS, speaker similarity, ASR,
inference and corpus preparation: resampling, reading a file as mono float64 at a given
rate, and listing the audio files of a folder tree."""
import os

import numpy as np


def resample(wav, fs, rate=16000):
    """``wav`` (1-D) from ``fs`` to ``rate`` Hz as float64; unchanged when equal.

    The package's one resampler: torchaudio's windowed-sinc interpolation
    (Hann window, 6 zero crossings, roll-off 0.99), the one SpeechBrain's
    ``Resample`` and ``read_audio`` pipelines use, so files prepared here
    match what a SpeechBrain recipe would feed the model. It takes any pair
    of integer rates (the mini corpus reads tempo-warped speech at rates
    such as 22 650 Hz), computed in float64.

    Example
    -------
    >>> import numpy as np
    >>> t = np.arange(48000) / 48000
    >>> y = resample(np.sin(2 * np.pi * 440 * t), 48000, 16000)
    >>> y.shape, y.dtype
    ((16000,), dtype('float64'))
    """
    wav = np.asarray(wav, dtype=np.float64)
    if int(fs) == int(rate):
        return wav
    import torch
    import torchaudio

    return torchaudio.functional.resample(torch.from_numpy(np.ascontiguousarray(wav)), int(fs), int(rate)).numpy()


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


# file extensions of the formats libsndfile reads (through soundfile), by
# soundfile's format name; a folder scan takes those the installed library has
_EXTENSIONS_BY_FORMAT = {
    "WAV": (".wav", ".wave"), "WAVEX": (".wav",), "RF64": (".rf64",), "W64": (".w64",),
    "FLAC": (".flac",), "OGG": (".ogg", ".oga", ".opus"), "MP3": (".mp3",),
    "AIFF": (".aiff", ".aif", ".aifc"), "AU": (".au", ".snd"), "CAF": (".caf",),
    "NIST": (".nist", ".sph"), "VOC": (".voc",), "IRCAM": (".sf",), "HTK": (".htk",),
    "SD2": (".sd2",), "AVR": (".avr",), "SVX": (".8svx", ".svx"), "PAF": (".paf",),
}


def _readable_extensions():
    try:
        import soundfile as sf

        formats = set(sf.available_formats())
    except (ImportError, OSError):  # no libsndfile: the formats every build has
        formats = {"WAV", "FLAC", "OGG", "AIFF", "AU"}
    return tuple(sorted({e for f, exts in _EXTENSIONS_BY_FORMAT.items() if f in formats for e in exts}))


AUDIO_EXTENSIONS = _readable_extensions()


def scan_audio(root, exclude=()):
    """Audio files under ``root``: ([(path, path relative to ``root``)] sorted,
    {extension: count} of the files skipped as not audio that soundfile reads).
    Folders in ``exclude`` (e.g. an output folder inside ``root``) and hidden
    files (our atomic writes' temporaries) are left out."""
    skip = {os.path.realpath(d) for d in exclude}
    out, skipped = [], {}
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if os.path.realpath(os.path.join(dirpath, d)) not in skip)
        for f in sorted(files):
            if f.startswith("."):
                continue
            path = os.path.join(dirpath, f)
            ext = os.path.splitext(f)[1].lower()
            if ext in AUDIO_EXTENSIONS:
                out.append((path, os.path.relpath(path, root)))
            else:
                skipped[ext or "(no extension)"] = skipped.get(ext or "(no extension)", 0) + 1
    return out, skipped


def audio_files(root, exclude=()):
    """[(path, path relative to ``root``)] of the audio files under ``root``, sorted."""
    return scan_audio(root, exclude)[0]


def describe_skipped(skipped):
    """'3 .txt, 1 .m4a' for the files a scan skipped ('' when none)."""
    return ", ".join(f"{n} {ext}" for ext, n in sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0])))
