"""The one spectral front end shared by SEMamba, MambAttention, MP-SENet and
the LSTM baselines (SEMamba, Chao et al., SLT 2024: `models/stfts.py` and
`recipes/SEMamba_advanced/SEMamba_advanced.yaml` of RoyChao19477/SEMamba;
MP-SENet, Lu et al., Interspeech 2023).

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
        return self.inverse(torch.complex(mag * torch.cos(pha), mag * torch.sin(pha)), length)

    def inverse(self, spec, length=None):
        """Waveform from a complex STFT ``[B, F, T]`` (the inverse of :meth:`complex_stft`)."""
        return torch.istft(spec, self.n_fft, hop_length=self.hop_length, win_length=self.win_length,
                           window=self.window(spec.real), center=self.center, length=length)

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


@dataclass
class CompressedComplexSpec:
    """The SB models' representation (sgmse, Richter et al. 2023, and NeMo's SB
    enhancement, Jukić et al., Interspeech 2024): complex STFT with
    amplitude compression ``beta * |X|^alpha`` (phase kept), and its exact inverse.

    Defaults n_fft 510 (256 bins), hop 128, Hann, alpha 0.5, beta 0.15. Output
    ``[B, F, T]`` complex; ``inverse(spec, length)`` returns ``length`` samples.

    >>> rep = CompressedComplexSpec()
    >>> wav = torch.randn(1, 16000)
    >>> spec = rep(wav)
    >>> spec.shape, torch.allclose(rep.inverse(spec, 16000), wav, atol=1e-4)
    (torch.Size([1, 256, 126]), True)
    """

    n_fft: int = 510
    hop_length: int = 128
    alpha: float = 0.5
    beta: float = 0.15

    def __post_init__(self):
        if not (0 < self.alpha <= 1) or self.beta <= 0:
            raise ValueError(f"need 0 < alpha <= 1 and beta > 0, got alpha={self.alpha}, beta={self.beta}")
        self._fe = SpectralFrontEnd(self.n_fft, self.hop_length, self.n_fft, compress_factor=1.0)

    @property
    def front_end(self):
        """The plain (uncompressed) STFT of this representation."""
        return self._fe

    def __call__(self, wav):
        return self.compress(self._fe.complex_stft(wav))

    def compress(self, x):
        """Complex STFT -> ``beta |X|^alpha e^{i angle X}`` (frame by frame)."""
        mag = x.abs()
        # e^{i angle} as x / |x| without a division by zero at silent bins
        return self.beta * mag.pow(self.alpha) * torch.polar(torch.ones_like(mag), x.angle())

    def decompress(self, spec):
        return torch.polar((spec.abs() / self.beta).pow(1.0 / self.alpha), spec.angle())

    def inverse(self, spec, length):
        return self._fe.inverse(self.decompress(spec), length)

    @staticmethod
    def peak_normalise(noisy, *others, eps=1e-8):
        """(scale, noisy / scale, *others / scale) with scale = the noisy peak per item;
        multiply the output by ``scale`` to return to the input level."""
        scale = noisy.abs().amax(dim=-1, keepdim=True).clamp_min(eps)
        return (scale, noisy / scale, *(o / scale for o in others))


class StreamingSTFT:
    """The frames of ``front_end.complex_stft`` computed as samples arrive.

    Centred frames with reflect padding, as offline: frame t covers samples
    ``t*hop - n_fft/2 .. t*hop + n_fft/2 - 1``, so it is emitted once those
    have arrived; the first frames wait for ``n_fft/2 + 1`` samples (their
    reflected left padding), and :meth:`flush` reflects the end. Pushing a
    signal in any pieces and flushing gives the offline frames.

    >>> fe = SpectralFrontEnd()
    >>> wav = torch.randn(1, 1234)
    >>> s = StreamingSTFT(fe)
    >>> frames = torch.cat([s.push(wav[:, :300]), s.push(wav[:, 300:]), s.flush()], dim=-1)
    >>> torch.allclose(frames, fe.complex_stft(wav), atol=1e-5)
    True
    """

    def __init__(self, front_end):
        if not front_end.center or front_end.win_length != front_end.n_fft:
            raise ValueError("StreamingSTFT needs a centred STFT with win_length == n_fft")
        self.fe = front_end
        self.half = front_end.n_fft // 2
        self.received = 0
        self.frames_out = 0
        self.buf = None   # padded signal from frame ``frames_out``'s first sample on
        self.head = []    # samples before the left padding can be built
        self.tail = None  # the last half + 1 samples, for the right reflection

    def _frames(self, final):
        n_fft, hop = self.fe.n_fft, self.fe.hop_length
        n = self.buf.shape[-1]
        k = (n - n_fft) // hop + 1 if n >= n_fft else 0
        if final:  # offline: 1 + N // hop frames in all
            k = 1 + self.received // hop - self.frames_out
        if k <= 0:
            return self.buf.new_zeros(self.buf.shape[0], self.fe.n_freq, 0, dtype=torch.complex64)
        seg = self.buf[:, :(k - 1) * hop + n_fft]
        spec = torch.stft(seg, n_fft, hop_length=hop, win_length=n_fft, window=self.fe.window(seg),
                          center=False, return_complex=True)
        self.buf = self.buf[:, k * hop:]
        self.frames_out += k
        return spec

    def push(self, wav):
        """New samples ``[B, n]`` -> the frames ``[B, F, k]`` completed by them."""
        self.received += wav.shape[-1]
        self.tail = wav[:, -(self.half + 1):] if self.tail is None else \
            torch.cat([self.tail, wav], -1)[:, -(self.half + 1):]
        if self.buf is None:
            self.head.append(wav)
            if self.received <= self.half:
                return wav.new_zeros(wav.shape[0], self.fe.n_freq, 0, dtype=torch.complex64)
            x = torch.cat(self.head, -1)
            self.head = []
            wav, self.buf = x, torch.flip(x[:, 1:self.half + 1], [-1])  # reflected left padding
        self.buf = torch.cat([self.buf, wav], -1)
        return self._frames(final=False)

    def flush(self):
        """The last frames, with the end reflected as offline."""
        if self.buf is None:
            raise ValueError(f"a stream of {self.received} samples is too short for an STFT of "
                             f"n_fft {self.fe.n_fft}: it needs at least {self.half + 1}")
        right = torch.flip(self.tail[:, -(self.half + 1):-1], [-1])
        self.buf = torch.cat([self.buf, right], -1)
        return self._frames(final=True)


class StreamingISTFT:
    """Overlap-add inverse of :class:`StreamingSTFT`: a sample is emitted as
    soon as no later frame overlaps it, divided by the summed squared window
    as ``torch.istft`` does; :meth:`flush` ends the signal at ``length``."""

    def __init__(self, front_end):
        self.fe = front_end
        self.half = front_end.n_fft // 2
        self.frames_in = 0
        self.start = 0      # padded-signal position of acc[0]
        self.emitted = 0    # output samples emitted (= padded position - half)
        self.acc = None     # windowed overlap-add
        self.env = None     # squared-window overlap-add

    def push(self, spec):
        """Frames ``[B, F, k]`` -> the output samples ``[B, n]`` they complete."""
        n_fft, hop = self.fe.n_fft, self.fe.hop_length
        k = spec.shape[-1]
        if self.acc is None:
            self.acc = spec.real.new_zeros(spec.shape[0], n_fft)
            self.env = spec.real.new_zeros(n_fft)
        if k:
            win = self.fe.window(spec.real)
            frames = torch.fft.irfft(spec, n=n_fft, dim=1) * win[:, None]   # [B, n_fft, k]
            end = (self.frames_in + k - 1) * hop + n_fft - self.start
            if end > self.acc.shape[-1]:
                grow = end - self.acc.shape[-1]
                self.acc = torch.cat([self.acc, self.acc.new_zeros(self.acc.shape[0], grow)], -1)
                self.env = torch.cat([self.env, self.env.new_zeros(grow)], -1)
            for i in range(k):
                o = (self.frames_in + i) * hop - self.start
                self.acc[:, o:o + n_fft] += frames[:, :, i]
                self.env[o:o + n_fft] += win * win
            self.frames_in += k
        return self._emit(self.frames_in * hop)

    def _emit(self, final_end):
        """Emit padded positions up to ``final_end`` (exclusive), past the cut half."""
        lo = max(self.half + self.emitted, self.start)
        hi = final_end
        if hi <= lo:
            return self.acc.new_zeros(self.acc.shape[0], 0)
        a, b = lo - self.start, hi - self.start
        out = self.acc[:, a:b] / self.env[a:b].clamp_min(1e-11)
        self.emitted += hi - lo
        self.acc, self.env = self.acc[:, b:], self.env[b:]
        self.start = hi
        return out

    def flush(self, length):
        """The rest of the ``length``-sample output."""
        if self.acc is None:
            raise ValueError("no frames were pushed")
        out = self._emit(min(self.half + length, self.start + self.acc.shape[-1]))
        if self.emitted != length:
            raise ValueError(f"the frames cover {self.emitted} samples, not {length}")
        return out
