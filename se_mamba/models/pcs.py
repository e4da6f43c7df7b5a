"""Perceptual contrast stretching (PCS; SEMamba "+PCS", `models/pcs400.py` of
RoyChao19477/SEMamba).

Per STFT bin b (n_fft 400, hop 100, symmetric Hamming window), the log1p
magnitude is scaled by a gain g_b; the phase is kept; the result goes back
to a waveform of the input's length and is peak-normalised. As in the
official PCS400 script, 200 zeros are appended before a centred STFT with
zero padding (librosa's convention).

Used as post-processing (``pcs(enhanced)``) or as a transform of the clean
training target. Both are plain functions, so HyperPyYAML can name them
(``pcs_target: !name:se_mamba.models.pcs.perceptual_contrast_stretch``).

Example
-------
>>> import torch
>>> y = perceptual_contrast_stretch(torch.randn(16000) * 0.1)
>>> y.shape, float(y.abs().max())
(torch.Size([16000]), 1.0)
"""
import torch

N_FFT, HOP = 400, 100

# (first bin, last bin inclusive, gain): the official PCS400 table (models/pcs400.py).
_GAIN_BANDS = [
    (0, 2, 1.0), (3, 4, 1.070175439), (5, 7, 1.182456140), (8, 9, 1.287719298),
    (10, 109, 1.4), (110, 129, 1.322807018), (130, 159, 1.238596491),
    (160, 189, 1.161403509), (190, 200, 1.077192982),
]


def pcs_gains(dtype=torch.float32, device=None):
    """The 201 per-bin gains."""
    g = torch.ones(N_FFT // 2 + 1, dtype=dtype, device=device)
    for lo, hi, gain in _GAIN_BANDS:
        g[lo:hi + 1] = gain
    return g


def stretch_magnitude(mag, gains=None):
    """The per-bin map of PCS on a linear magnitude ``[..., F, T]``:
    ``expm1(g_b * log1p(|X|))``."""
    g = pcs_gains(mag.dtype, mag.device) if gains is None else gains
    return torch.expm1(g[:, None] * torch.log1p(mag))


def perceptual_contrast_stretch(wav, normalise_peak=True, gains=None):
    """Apply PCS to waveforms ``[N]`` or ``[B, N]`` (16 kHz).

    ``gains`` replaces the 201 PCS400 gains (all ones: an exact round trip).
    """
    squeeze = wav.dim() == 1
    x = wav.unsqueeze(0) if squeeze else wav
    n = x.shape[-1]
    window = torch.hamming_window(N_FFT, periodic=False, dtype=x.dtype, device=x.device)
    padded = torch.nn.functional.pad(x, (0, N_FFT // 2))
    spec = torch.stft(padded, N_FFT, HOP, N_FFT, window=window, center=True, pad_mode="constant",
                      return_complex=True)
    spec = torch.polar(stretch_magnitude(spec.abs(), gains), spec.angle())
    out = torch.istft(spec, N_FFT, HOP, N_FFT, window=window, center=True, length=n)
    if normalise_peak:
        out = out / out.abs().amax(-1, keepdim=True).clamp_min(1e-12)
    return out[0] if squeeze else out


def pcs_target_or_none(enabled):
    """The PCS target transform when ``enabled`` (the YAML switch ``pcs: True``), else None.

    A real boolean is required: the official code's string flag parsing made
    ``--pcs False`` turn PCS on.
    """
    if not isinstance(enabled, bool):
        raise ValueError(f"pcs must be True or False, got {enabled!r}")
    return perceptual_contrast_stretch if enabled else None
