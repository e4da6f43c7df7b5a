"""Streaming enhancement with the causal models: audio in, audio out, block by block.

    streamer = StreamingEnhancer(build_model("semamba_causal"))
    for block in microphone_blocks():          # any block sizes, 16 kHz
        play(streamer.process(block))           # the samples that are final now
    play(streamer.flush())                      # the end of the signal

The streamer runs the model's own STFT frame by frame
(:class:`~se_mamba.nn.spectral.StreamingSTFT`), sends every ``block_frames``
new frames through the network with the causal modules carrying their state
(:mod:`se_mamba.nn.streaming`), and overlap-adds the enhanced frames
(:class:`~se_mamba.nn.spectral.StreamingISTFT`). The concatenated output
equals offline enhancement of the whole signal with the same fixed input
gain (``model.enhance(noisy * gain, normalise=False) / gain``), to float
rounding, whatever the block sizes.

**Latency.** Output sample i depends on input samples up to
``i + n_fft/2 + hop - 1 - ((i + n_fft/2) mod hop)`` (the centred frames
that cover it), so with one frame per network call the algorithmic latency
is at most ``n_fft - 1`` samples: 399 (24.9 ms) for SEMamba causal and
SEMamba basic (n_fft 400), 509 (31.8 ms) for SBM causal (n_fft 510). Each
extra frame per call (``block_frames``) adds one hop. SBM's 2x time
compression adds nothing: a compressed frame is computed as soon as its last
frame arrives.

**Level.** Offline, the models scale the input by a gain computed from the
whole file (unit mean power for SEMamba, unit peak for SBM), which a stream
cannot know in advance. The streamer uses a fixed ``gain`` instead. By
default it assumes speech at -26 dBov RMS (the ITU-T P.56 level), so the gain
is 1 / 0.0501 for RMS-normalised models; for peak-normalised ones it is that
divided by a crest factor of 7 (the median peak-to-RMS ratio of our 15
VoiceBank-DEMAND noisy samples is 6.8). SEMamba basic uses no gain.

Only causal models stream: ``semamba_causal``, ``semamba_basic``,
``sbm_causal`` (one step) and causal predictive SBM-backbone models. Time
attention would need a key/value cache and is refused.
"""
import numpy as np
import torch

from ..interface import require_enhancement_model
from ..nn.spectral import StreamingISTFT, StreamingSTFT
from ..nn.streaming import StreamState

REFERENCE_RMS = 10 ** (-26 / 20)  # ITU-T P.56 active speech level, -26 dBov
SPEECH_CREST_FACTOR = 7.0         # peak / RMS; median 6.8 over the VoiceBank noisy samples


def default_gain(model):
    """The fixed input gain that stands in for the model's per-file normalisation."""
    kind = model.input_normalisation
    if kind == "rms":
        return 1.0 / REFERENCE_RMS
    if kind == "peak":
        return 1.0 / (REFERENCE_RMS * SPEECH_CREST_FACTOR)
    return 1.0


def check_streamable(model):
    """``model`` (an :class:`~se_mamba.interface.EnhancementModel`), or
    ValueError (one line, saying why) when it cannot stream."""
    model = require_enhancement_model(model, "streaming")
    problem = model.streaming_problem()
    if problem:
        raise ValueError(problem)
    return model


class StreamingEnhancer:
    """Block-by-block enhancement with a causal model (see the module docstring).

    Arguments
    ---------
    model : nn.Module
        A causal se_mamba model (``semamba_causal``, ``semamba_basic``, ``sbm_causal``).
    gain : float, optional
        Fixed input gain (default :func:`default_gain`); the output is divided by it.
    block_frames : int
        STFT frames per network call: 1 is frame by frame (lowest latency);
        more frames amortise the per-call cost and add ``(block_frames - 1) * hop``.

    Example
    -------
    >>> from se_mamba.models import build_model
    >>> model = build_model("semamba_causal", channels=4, num_blocks=1, mamba={"expand": 1}).eval()
    >>> s = StreamingEnhancer(model)
    >>> noisy = 0.05 * torch.randn(3000)
    >>> out = torch.cat([s.process(noisy[:1000]), s.process(noisy[1000:]), s.flush()])
    >>> ref = model.enhance(noisy * s.gain, normalise=False) / s.gain
    >>> out.shape, bool(torch.allclose(out, ref, atol=1e-5))
    (torch.Size([3000]), True)
    >>> s.latency_samples, s.latency_ms
    (399, 24.9375)
    """

    def __init__(self, model, gain=None, block_frames=1, sample_rate=16000):
        model = check_streamable(model)
        if int(block_frames) < 1:
            raise ValueError(f"block_frames must be >= 1, got {block_frames}")
        self.model = model
        self.gain = float(default_gain(model) if gain is None else gain)
        if not np.isfinite(self.gain) or self.gain <= 0:
            raise ValueError(f"gain must be a positive number, got {gain}")
        self.block_frames = int(block_frames)
        self.sample_rate = int(sample_rate)
        self.front_end = model.stream_front_end
        self.reset()

    def reset(self):
        """Start a new stream (the model's weights are untouched)."""
        self._stft = StreamingSTFT(self.front_end)
        self._istft = StreamingISTFT(self.front_end)
        self._state = StreamState()
        self._pending = []       # frames waiting for a full block
        self._squeeze = None
        self.samples_in = 0

    @property
    def latency_samples(self):
        """Algorithmic latency: the most input samples an output sample waits for."""
        return self.front_end.n_fft - 1 + (self.block_frames - 1) * self.front_end.hop_length

    @property
    def latency_ms(self):
        return 1000.0 * self.latency_samples / self.sample_rate

    def _as_batch(self, samples):
        x = torch.as_tensor(samples, dtype=torch.float32)
        if x.dim() not in (1, 2):
            raise ValueError(f"expected samples [N] or [B, N], got shape {tuple(x.shape)}")
        if self._squeeze is None:
            self._squeeze = x.dim() == 1
        elif self._squeeze != (x.dim() == 1):
            raise ValueError("a stream keeps one layout: all blocks [N] or all [B, N]")
        if not torch.isfinite(x).all():
            raise ValueError("non-finite samples (NaN or inf) in the stream")
        return x.unsqueeze(0) if x.dim() == 1 else x

    def _run(self, frames, final=False):
        if frames.shape[-1]:
            self._pending.append(frames)
        ready = sum(f.shape[-1] for f in self._pending)
        take = ready if final else ready - ready % self.block_frames
        out = []
        if take:
            spec = torch.cat(self._pending, -1)
            self._pending = [spec[..., take:]] if take < ready else []
            with torch.no_grad(), self._state:
                out.append(self._istft.push(self._model_frames(spec[..., :take])))
        return out

    def _model_frames(self, spec):
        return self.model.spectral_map(spec, **self.model.streaming_options)

    def _finish(self, pieces, batch):
        out = torch.cat(pieces, -1) / self.gain if pieces else torch.zeros(batch, 0)
        return out[0] if self._squeeze else out

    def process(self, samples):
        """Feed samples (``[N]`` or ``[B, N]``, model rate) -> enhanced samples now final."""
        x = self._as_batch(samples)
        self.samples_in += x.shape[-1]
        return self._finish(self._run(self._stft.push(x * self.gain)), x.shape[0])

    def flush(self):
        """End the stream: the remaining samples (the total equals the input length)."""
        if self._squeeze is None:
            raise ValueError("flush() before any samples were processed")
        pieces = self._run(self._stft.flush(), final=True)
        pieces.append(self._istft.flush(self.samples_in))
        out = self._finish(pieces, None)
        self.reset()
        return out

    def enhance(self, wav, block_samples=None):
        """Stream a whole signal through in blocks of ``block_samples`` (default
        one hop): a simulation of live use that gives the streamed output."""
        x = torch.as_tensor(wav, dtype=torch.float32)
        squeeze = x.dim() == 1
        x = x[None] if squeeze else x
        step = int(block_samples or self.front_end.hop_length)
        self.reset()
        pieces = [self.process(x[:, i:i + step]) for i in range(0, x.shape[-1], step)]
        pieces.append(self.flush())
        out = torch.cat(pieces, -1)
        return out[0] if squeeze else out
