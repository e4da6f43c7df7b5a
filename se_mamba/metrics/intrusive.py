"""Intrusive speech-quality metrics (reference + estimate, 16 kHz).

* SI-SDR: the mean of both signals is removed first (Le Roux et al.,
  "SDR - half-baked or well done?", ICASSP 2019); note that
  torchmetrics and fast_bss_eval do not remove it by default.
* PESQ (wideband, narrowband): the ``pesq`` package; a failure (silent
  reference, under 0.25 s, all-zero estimate) returns NaN with the reason,
  never a silent zero.
* STOI / ESTOI: ``pystoi``. When fewer than 30 frames (384 ms at 10 kHz)
  remain after its removal of frames 40 dB below the loudest, pystoi warns and
  returns 1e-5; that is a failure (``ValueError`` with the reason), not a score.

Example
-------
>>> import numpy as np
>>> ref = np.sin(np.arange(16000) * 0.05)
>>> round(si_sdr(ref, 0.5 * ref + 0.01 * np.cos(np.arange(16000) * 0.3)), 1)  # 10 log10(0.125 / 5e-5)
34.0
"""
import numpy as np


def si_sdr(ref, est, eps=1e-12):
    """Scale-invariant SDR in dB, means removed."""
    ref = np.asarray(ref, dtype=np.float64)
    est = np.asarray(est, dtype=np.float64)
    ref = ref - ref.mean()
    est = est - est.mean()
    alpha = np.dot(est, ref) / (np.dot(ref, ref) + eps)
    target = alpha * ref
    return float(10 * np.log10((np.dot(target, target) + eps) / (np.sum((est - target) ** 2) + eps)))


def pesq_score(ref, est, fs=16000, mode="wb"):
    """(score, error): PESQ or (nan, reason)."""
    from pesq import pesq

    try:
        return float(pesq(fs, np.asarray(ref, np.float64), np.asarray(est, np.float64), mode)), ""
    except Exception as exc:  # pesq raises several error types
        return float("nan"), f"pesq_{mode}: {type(exc).__name__}: {str(exc).strip()[:80]}"


def stoi_score(ref, est, fs=16000, extended=False):
    """STOI (or ESTOI); ``ValueError`` when pystoi finds too few speech frames."""
    import warnings

    from pystoi import stoi

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = float(stoi(np.asarray(ref, np.float64), np.asarray(est, np.float64), fs, extended=extended))
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        raise ValueError("too few speech frames (pystoi needs 30 frames of 25.6 ms within 40 dB of the "
                         "loudest; it would return 1e-5)")
    return value
