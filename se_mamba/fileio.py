"""Atomic file writes: write a uniquely named temporary file beside the target,
fsync it, rename it into place and fsync the folder, so a killed process (or a
power cut) never leaves a half-written output, an existing file is replaced in
one step, and two processes writing into one folder never share a temporary.
The temporary is removed when writing fails. ``check_output_folder`` checks
an output location before any work.

>>> import tempfile, os
>>> d = tempfile.mkdtemp()
>>> write_text_atomic(os.path.join(d, "a.txt"), "done")
>>> open(os.path.join(d, "a.txt")).read(), os.listdir(d)
('done', ['a.txt'])
"""
import os
import tempfile
from contextlib import contextmanager


def _fsync_folder(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # a platform without directory handles: nothing to sync
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path, suffix=".tmp"):
    """Yield a temporary path in ``path``'s folder (created if missing); on a
    clean exit it is fsynced and renamed to ``path``, on an error removed."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        # mkstemp makes the file 0600; give it the mode a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_folder(folder)


def check_output_folder(folder):
    """Check, before any work, that ``folder`` can take outputs: an existing
    folder that is writable, or a path whose nearest existing parent is one
    (it is created with the first output, so a refused run leaves nothing).
    One line naming the folder and the cause otherwise."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ValueError(f"{folder}: exists and is not a folder")
    probe = os.path.abspath(folder)
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise ValueError(f"{folder}: cannot create the output folder ({probe} is not a folder)")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ValueError(f"{folder}: output folder is not writable" if probe == os.path.abspath(folder)
                         else f"{folder}: cannot create the output folder ({probe} is not writable)")


def write_bytes_atomic(path, data):
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def write_text_atomic(path, text):
    write_bytes_atomic(path, text.encode("utf-8"))


def write_wav_atomic(path, samples, sample_rate, subtype="PCM_16"):
    _write_sound_atomic(path, samples, sample_rate, "WAV", subtype)


# libsndfile's command that turns off the PEAK chunk it adds to float WAV/AIFF
# files: that chunk holds the time of writing, so the same samples written a
# second later gave other bytes (a deterministic generation must not)
_SFC_SET_ADD_PEAK_CHUNK = 0x1050


def _write_sound_atomic(path, samples, sample_rate, fmt, subtype):
    import numpy as np
    import soundfile as sf

    samples = np.asarray(samples)
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    with atomic_path(path) as tmp:
        with sf.SoundFile(tmp, "w", sample_rate, channels, subtype, format=fmt) as f:
            sf._snd.sf_command(f._file, _SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, 0)  # before any sample
            f.write(samples)


def write_audio_atomic(path, samples, sample_rate, fmt="WAV", subtype="FLOAT"):
    """Write audio atomically in ``fmt``/``subtype`` (the format's default
    subtype when it does not take ``subtype``). Integer subtypes would clip an
    output above full scale, so such an output is scaled down to peak 1
    instead (the shape is kept)."""
    import numpy as np
    import soundfile as sf

    if not sf.check_format(fmt, subtype):
        subtype = sf.default_subtype(fmt)
    if subtype.startswith("PCM") or subtype in ("ULAW", "ALAW"):
        peak = float(np.max(np.abs(samples))) if np.size(samples) else 0.0
        if peak > 1.0:
            samples = samples / peak
    _write_sound_atomic(path, samples, sample_rate, fmt, subtype)
