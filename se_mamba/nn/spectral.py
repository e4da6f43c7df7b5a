"""The one spectral front end shared by SEMamba, MambAttention, MP-SENet and
the LSTM baselines (FACTS §1).

16 kHz; STFT n_fft 400, Hann window 400, hop 100, centred with reflect
padding (201 bins); power-law magnitude compression ``|X|^c`` with c = 0.3;
phase = angle(X); amplitude normalisation ``sqrt(N / sum(noisy^2))`` computed
on the noisy input and undone after the inverse STFT.

Layouts follow the official code: magnitude and phase ``[B, F, T]``, complex
views ``[B, F, T, 2]`` (real, imaginary).

Example
-------
>>> import torch
>>> fe = SpectralFrontEnd()
>>> wav = torch.randn(2, 16000)
>>> mag, pha, com = fe.stft(wav)
>>> mag.shape, com.shape
(torch.Size([2, 201, 161]), torch.Size([2, 201, 161, 2]))
>>> torch.allclose(fe.istft(mag, pha, length=16000), wav, atol=1e-4)
True
"""
from dataclasses import dataclass

import torch


@dataclass
class SpectralFrontEnd:
    n_fft: int = 400
    hop_length: int = 100
    win_length: int = 400
    compress_factor: float = 0.3
    center: bool = True

    @property
    def n_freq(self):
        return self.n_fft // 2 + 1

    def window(self, like):
        return torch.hann_window(self.win_length, device=like.device, dtype=like.dtype)

    def complex_stft(self, wav):
        """Complex STFT ``[B, F, T]`` of ``wav`` ``[B, N]`` (or ``[N]``)."""
        return torch.stft(wav, self.n_fft, hop_length=self.hop_length, win_length=self.win_length,
                          window=self.window(wav), center=self.center, pad_mode="reflect",
                          normalized=False, return_complex=True)

    def compress(self, mag):
        return mag.pow(self.compress_factor)

    def decompress(self, mag):
        return mag.pow(1.0 / self.compress_factor)

    def stft(self, wav, eps=None):
        """Compressed magnitude, phase and complex view ``(mag, pha, com)``.

        ``eps`` (the official ``addeps`` option, e.g. 1e-10 in training) keeps
        the magnitude's and phase's gradients finite at zero bins.
        """
        spec = self.complex_stft(wav)
        if eps is None:
            mag, pha = spec.abs(), spec.angle()
        else:
            mag = torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + eps)
            pha = torch.atan2(spec.imag + eps, spec.real + eps)
        mag = self.compress(mag)
        return mag, pha, polar_to_ri(mag, pha)

    def istft(self, mag, pha, length=None):
        """Waveform from compressed magnitude and phase (``length`` samples)."""
        mag = self.decompress(mag)
        spec = torch.complex(mag * torch.cos(pha), mag * torch.sin(pha))
        return torch.istft(spec, self.n_fft, hop_length=self.hop_length, win_length=self.win_length,
                           window=self.window(mag), center=self.center, length=length)

    def istft_ri(self, com, length=None):
        """Waveform from a compressed complex view ``[B, F, T, 2]``."""
        mag, pha = ri_to_polar(com)
        return self.istft(mag, pha, length=length)

    def n_frames(self, n_samples):
        return n_samples // self.hop_length + 1 if self.center else \
            (n_samples - self.n_fft) // self.hop_length + 1


def polar_to_ri(mag, pha):
    """``[..., 2]`` real/imaginary view of ``mag * exp(i pha)``."""
    return torch.stack((mag * torch.cos(pha), mag * torch.sin(pha)), dim=-1)


def ri_to_polar(com, eps=1e-10):
    """Magnitude and phase of a ``[..., 2]`` real/imaginary view."""
    re, im = com[..., 0], com[..., 1]
    return torch.sqrt(re.pow(2) + im.pow(2) + eps), torch.atan2(im + eps, re + eps)


def amplitude_normalise(noisy, *others, eps=1e-12):
    """Scale ``noisy`` ``[B, N]`` (and ``others`` by the same factor) to unit
    mean power, as the originals do: ``norm = sqrt(N / sum(noisy^2))``.

    Returns ``(norm_factor [B, 1], noisy_scaled, *others_scaled)``; divide the
    enhanced waveform by ``norm_factor`` to undo it.
    """
    norm = torch.sqrt(noisy.shape[-1] / (noisy.pow(2).sum(-1, keepdim=True) + eps))
    return (norm, noisy * norm, *[o * norm for o in others])
