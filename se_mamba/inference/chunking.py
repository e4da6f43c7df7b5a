"""Chunked inference with overlap-add: long audio in bounded memory, no seams.

The signal is cut into windows of ``chunk`` samples that overlap by
``overlap`` samples; each window is enhanced on its own and the windows are
cross-faded with complementary raised-cosine ramps (rising
``sin^2``, falling ``cos^2``: they sum to exactly 1 in every overlap), so an
identity model returns its input bit-for-bit up to rounding, and a model's
output changes smoothly from one window to the next. Peak memory is that of
one window plus the output buffer, whatever the file length.
"""
import math

import torch


def chunk_starts(n, chunk, overlap):
    """Start indices of the windows covering ``n`` samples (the last one may be shorter,
    but is always longer than ``overlap``)."""
    if overlap < 0 or chunk < 2 * overlap or chunk <= 0:
        raise ValueError(f"need 0 <= 2 * overlap <= chunk, got chunk {chunk} and overlap {overlap} samples")
    starts = [0]
    while starts[-1] + chunk < n:
        starts.append(starts[-1] + chunk - overlap)
    return starts


def crossfade_ramp(overlap, dtype=torch.float32, device=None):
    """Rising ramp of ``overlap`` samples; ``ramp + ramp.flip(0) == 1``."""
    i = torch.arange(overlap, dtype=torch.float64, device=device)
    return torch.sin(0.5 * math.pi * (i + 0.5) / overlap).pow(2).to(dtype)


def overlap_add(fn, wav, chunk, overlap):
    """``fn`` applied to ``wav [..., N]`` window by window, cross-faded.

    ``chunk=None`` or ``N <= chunk``: one call on the whole signal.

    >>> x = torch.randn(2, 10000)
    >>> torch.allclose(overlap_add(lambda w: w, x, 3000, 500), x, atol=1e-6)
    True
    """
    n = wav.shape[-1]
    if chunk is None or n <= chunk:
        return fn(wav)
    starts = chunk_starts(n, chunk, overlap)
    out = torch.zeros_like(wav)
    ramp = crossfade_ramp(overlap, wav.dtype, wav.device) if overlap else None
    for k, s in enumerate(starts):
        e = min(s + chunk, n)
        seg = fn(wav[..., s:e])
        if seg.shape[-1] != e - s:
            raise RuntimeError(f"model returned {seg.shape[-1]} samples for a window of {e - s}")
        w = torch.ones(e - s, dtype=wav.dtype, device=wav.device)
        if ramp is not None:
            if k > 0:
                w[:overlap] = ramp
            if k < len(starts) - 1:
                w[-overlap:] = ramp.flip(0)
        out[..., s:e] += seg * w
    return out
