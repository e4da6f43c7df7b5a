"""Noises generated in code for the mini corpus (deterministic from a
``numpy.random.Generator``). All return float64 arrays of ``n`` samples with
unit RMS (the mixer sets the level).

Kinds: white, pink (1/f power), brown (1/f^2), babble (6 energy-normalised
utterances of other speakers, as VB-DemandEx builds it), speech-shaped
(white noise through an order-12 LPC filter estimated from speech, as
VB-DemandEx does), amplitude-modulated (non-stationary), hum (mains
fundamental with harmonics) and clicks (sparse impulses with short decays).
"""
import numpy as np
from scipy.linalg import solve_toeplitz
from scipy.signal import lfilter

NOISE_KINDS = ("white", "pink", "brown", "babble", "speech_shaped", "modulated", "hum", "clicks")


def unit_rms(x, eps=1e-12):
    return x / (np.sqrt(np.mean(x**2)) + eps)


def coloured(rng, n, exponent):
    """Noise with power spectrum ~ 1/f^exponent (FFT shaping of white noise)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spec.size, dtype=np.float64)
    f[0] = 1.0
    return unit_rms(np.fft.irfft(spec / f ** (exponent / 2), n))


def lpc(x, order=12):
    """LPC polynomial [1, a_1..a_p] by the autocorrelation method."""
    x = x - x.mean()
    # only lags 0..order: one dot product each, O(n * order) instead of the full
    # correlation's O(n^2) (0.2 s per utterance); the same sums in the same
    # order as np.correlate's, so the same bits (tested)
    r = np.array([np.dot(x[: x.size - k], x[k:]) for k in range(order + 1)])
    r[0] *= 1.0 + 1e-9  # white-noise correction keeps the system well posed
    a = solve_toeplitz(r[:order], -r[1: order + 1])
    return np.concatenate([[1.0], a])


def speech_shaped(rng, n, speech, order=12):
    """White noise through the all-pole LPC filter of ``speech``."""
    return unit_rms(lfilter([1.0], lpc(speech, order), rng.standard_normal(n)))


def babble(rng, n, utterances, talkers=6):
    """Sum of ``talkers`` energy-normalised utterances, each looped and
    started at a random offset."""
    out = np.zeros(n)
    picks = rng.choice(len(utterances), size=min(talkers, len(utterances)), replace=False)
    for i in picks:
        u = unit_rms(utterances[i])
        reps = int(np.ceil(n / u.size)) + 1
        start = rng.integers(0, u.size)
        out += np.tile(u, reps)[start: start + n]
    return unit_rms(out)


def modulated(rng, n, sr):
    """Pink noise under a slow random amplitude envelope (0.5-4 Hz)."""
    t = np.arange(n) / sr
    env = np.ones(n)
    for _ in range(3):
        env += 0.6 * np.sin(2 * np.pi * rng.uniform(0.5, 4.0) * t + rng.uniform(0, 2 * np.pi))
    return unit_rms(coloured(rng, n, 1.0) * np.clip(env, 0.05, None))


def hum(rng, n, sr):
    """Mains hum: 50 or 60 Hz fundamental with decaying harmonics, plus a
    little white noise."""
    f0 = rng.choice([50.0, 60.0])
    t = np.arange(n) / sr
    x = sum((0.7**k) * np.sin(2 * np.pi * f0 * (k + 1) * t + rng.uniform(0, 2 * np.pi))
            for k in range(8))
    return unit_rms(x + 0.05 * rng.standard_normal(n))


def clicks(rng, n, sr):
    """Sparse clicks (5-20 per second) with 2-10 ms exponential decays."""
    x = 0.01 * rng.standard_normal(n)
    count = int(rng.uniform(5, 20) * n / sr)
    for pos in rng.integers(0, n, size=count):
        length = int(sr * rng.uniform(0.002, 0.010))
        seg = rng.standard_normal(length) * np.exp(-np.arange(length) / (length / 4))
        end = min(n, pos + length)
        x[pos:end] += rng.uniform(0.5, 1.0) * seg[: end - pos]
    return unit_rms(x)


def spectral_tilt(x, slope_db_per_octave, sr, f_ref=1000.0, max_db=18.0):
    """``x`` through a gain of ``slope`` dB per octave around ``f_ref`` (0 dB
    there), limited to +-``max_db`` and flat below 50 Hz; the RMS is kept.

    A random tilt of the training speech and noise is a spectral augmentation
    in the spirit of the random EQ filters DeepFilterNet's data loader applies
    to both (``libDF/src/augmentations.rs``, ``RandBiquadFilter``): a model that
    sees one spectral balance of speech against noise learns it as a prior
    (with white noise in the mix, "high frequencies are noise") and attenuates
    real speech that does not share it.
    """
    spec = np.fft.rfft(x)
    f = np.maximum(np.fft.rfftfreq(x.size, 1.0 / sr), 50.0)
    gain_db = np.clip(slope_db_per_octave * np.log2(f / f_ref), -max_db, max_db)
    y = np.fft.irfft(spec * 10 ** (gain_db / 20), x.size)
    return y * np.sqrt(np.mean(x**2) / (np.mean(y**2) + 1e-20))


def make_noise(kind, rng, n, sr, speech_pool):
    """A noise of ``kind``; ``speech_pool``: utterances of speakers other than
    the target's (babble, speech-shaped)."""
    if kind == "white":
        return unit_rms(rng.standard_normal(n))
    if kind == "pink":
        return coloured(rng, n, 1.0)
    if kind == "brown":
        return coloured(rng, n, 2.0)
    if kind == "babble":
        return babble(rng, n, speech_pool)
    if kind == "speech_shaped":
        return speech_shaped(rng, n, speech_pool[rng.integers(len(speech_pool))])
    if kind == "modulated":
        return modulated(rng, n, sr)
    if kind == "hum":
        return hum(rng, n, sr)
    if kind == "clicks":
        return clicks(rng, n, sr)
    raise ValueError(f"unknown noise kind {kind!r}; expected one of {NOISE_KINDS}")
