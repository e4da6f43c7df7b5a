"""The SBM backbone: oSpatialNet-Mamba blocks on a compressed time-frequency grid.

Layout inside the network: ``[B, C, T, F]`` (as the rest of the zoo).

Input: the complex spectra of the current state ``x_t`` and of the noisy ``y``
(``[B, F, T]`` complex, F = 256 for n_fft 510) as 4 real channels
(Re/Im of each); Mamba-base feeds ``y`` alone (2 channels). Output: the
complex estimate of the clean spectrum (data prediction, not a mask).

    input conv (3x3)                    [B, C0, T, F]
    T-F compression (stride sT x sF)    [B, T/sT, F/sF, H] (channels last inside)
    num_layers x OSpatialMambaLayer     (+ time embedding in each)
        cross-band: grouped Conv1d over frequency (k 5, groups 8) ->
                    full-band linear across frequencies (H squeezed to 8) ->
                    grouped Conv1d over frequency
        narrow-band: Mamba over time, one sequence per frequency
    full-band Mamba block: Mamba over frequency, one sequence per frame
    T-F decompression (transposed conv) + skip from before compression
    output conv -> Re/Im                [B, F, T] complex

oSpatialNet-Mamba (Quan & Li, NBSS, `models/arch/OnlineSpatialNet.py` of
Audio-WestlakeU/NBSS) gives the parts (grouped conv k 5, groups 8, squeeze to 8,
narrow-band Mamba d_state 16, d_conv 4); SBM's own sizes are not published,
so the defaults here are ours and chosen for CPU (docs/bridge.md gives the
parameter count and speed).

Causal option (streaming): every convolution over time is left-padded, the
narrow-band Mamba runs forward in time only, the compression groups frames
``[j sT - sT + 1, j sT]`` and the decompression writes frame j to outputs
``j sT .. j sT + sT - 1``, so output frame k depends on input frames <= k.
Frequency-direction processing stays inside a frame and is bidirectional.
So the causal backbone streams (:mod:`se_mamba.nn.streaming`): a compressed
frame is computed as soon as its last input frame arrives, and the
decompressed frames it gives ahead of time wait in a queue, so streaming
adds no delay to the STFT's.
"""
import torch
import torch.nn.functional as F
from torch import nn

from ..nn.conv import conv_tf
from ..nn.blocks import MambaBlock
from ..nn.streaming import active_stream, frame_queue, strided_time_input
from .embedding import GaussianFourierEmbedding


class FrequencyConv(nn.Module):
    """Pre-norm residual grouped Conv1d over frequency + PReLU on ``[N, F, H]``."""

    def __init__(self, hidden, kernel_size=5, groups=8):
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.conv = nn.Conv1d(hidden, hidden, kernel_size, padding=kernel_size // 2, groups=groups)
        self.act = nn.PReLU(hidden)

    def forward(self, x):
        h = self.conv(self.norm(x).transpose(1, 2))
        return x + self.act(h).transpose(1, 2)


class FullBandLinear(nn.Module):
    """oSpatialNet's full-band block on ``[N, F, H]``: squeeze H to ``squeeze``
    channels, mix all frequencies with one F x F linear map per squeezed
    channel, expand back to H (pre-norm, residual)."""

    def __init__(self, hidden, n_freq, squeeze=8):
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.squeeze = nn.Sequential(nn.Linear(hidden, squeeze), nn.SiLU())
        self.weight = nn.Parameter(torch.empty(squeeze, n_freq, n_freq))
        self.bias = nn.Parameter(torch.zeros(squeeze, n_freq))
        nn.init.kaiming_uniform_(self.weight.view(squeeze * n_freq, n_freq), a=5 ** 0.5)
        self.unsqueeze = nn.Sequential(nn.Linear(squeeze, hidden), nn.SiLU())

    def forward(self, x):
        s = self.squeeze(self.norm(x))                        # [N, F, S]
        s = torch.einsum("nfs,sgf->ngs", s, self.weight) + self.bias.t()
        return x + self.unsqueeze(s)


class SequenceMamba(nn.Module):
    """Mamba over the middle axis of ``[N, L, H]``: bidirectional (both
    directions concatenated, then a linear back to H) or causal (forward only).
    The residual connections are inside the Mamba blocks."""

    def __init__(self, hidden, bidirectional, d_state=16, d_conv=4, expand=2, backend=None):
        super().__init__()
        self.mamba = MambaBlock(hidden, d_state=d_state, d_conv=d_conv, expand=expand,
                                bidirectional=bidirectional, backend=backend)
        self.proj = nn.Linear(2 * hidden, hidden) if bidirectional else nn.Identity()

    def forward(self, x):
        return self.proj(self.mamba(x))


class OSpatialMambaLayer(nn.Module):
    """Cross-band block then narrow-band Mamba, on ``[B, T, F, H]``; the time
    embedding is added (one projection per layer) before both."""

    def __init__(self, hidden, n_freq, emb_dim=None, kernel_size=5, groups=8, squeeze=8,
                 causal=False, mamba=None, backend=None):
        super().__init__()
        mamba = dict(mamba or {})
        self.emb_proj = nn.Linear(emb_dim, hidden) if emb_dim else None
        self.conv1 = FrequencyConv(hidden, kernel_size, groups)
        self.full_band = FullBandLinear(hidden, n_freq, squeeze)
        self.conv2 = FrequencyConv(hidden, kernel_size, groups)
        self.narrow_band = SequenceMamba(hidden, bidirectional=not causal, backend=backend, **mamba)

    def forward(self, x, emb=None):
        B, T, Fq, H = x.shape
        if self.emb_proj is not None:
            x = x + self.emb_proj(emb)[:, None, None, :]
        h = self.conv2(self.full_band(self.conv1(x.reshape(B * T, Fq, H))))  # one row per frame
        h = h.view(B, T, Fq, H).transpose(1, 2).reshape(B * Fq, T, H)         # one row per bin
        h = self.narrow_band(h)
        return h.view(B, Fq, T, H).transpose(1, 2)


class FullBandMamba(nn.Module):
    """Bidirectional Mamba across frequency inside each frame of ``[B, T, F, H]``."""

    def __init__(self, hidden, emb_dim=None, mamba=None, backend=None):
        super().__init__()
        self.emb_proj = nn.Linear(emb_dim, hidden) if emb_dim else None
        self.mamba = SequenceMamba(hidden, bidirectional=True, backend=backend, **dict(mamba or {}))

    def forward(self, x, emb=None):
        B, T, Fq, H = x.shape
        if self.emb_proj is not None:
            x = x + self.emb_proj(emb)[:, None, None, :]
        return self.mamba(x.reshape(B * T, Fq, H)).view(B, T, Fq, H)


# the Mamba layers of the SBM backbone (oSpatialNet-Mamba: expand 2, not SEMamba's 4)
SBM_MAMBA = {"d_state": 16, "d_conv": 4, "expand": 2}


class SBMBackbone(nn.Module):
    """Data-predicting network ``net(x_t, y, t) -> x0_hat`` (complex ``[B, F, T]``).

    Arguments
    ---------
    hidden : int
        Channels H of the blocks.
    num_layers : int
        oSpatialNet-Mamba layers.
    n_freq : int
        Frequency bins of the input (256 for n_fft 510).
    compress : (int, int)
        T-F compression strides (time, frequency); (1, 1) disables it.
    full_res_channels : int
        Channels of the convolutions at full resolution (before compression
        and after decompression); fewer than ``hidden`` because these convs
        dominate the cost otherwise.
    fullband_mamba : bool
        The full-band Mamba block after the layers.
    time_embedding : bool
        Condition on the SB time (False for Mamba-base: predictive, no t).
    condition_on_state : bool
        Input channels are x_t and y (True) or y alone (False).
    causal : bool
        Causal in time (streaming-capable).
    mamba : dict
        ``d_state``, ``d_conv``, ``expand`` of every Mamba.

    Example
    -------
    >>> net = SBMBackbone(hidden=16, num_layers=1, mamba={"d_state": 4})
    >>> y = torch.randn(2, 256, 20, dtype=torch.cfloat)
    >>> net(y, y, torch.ones(2)).shape
    torch.Size([2, 256, 20])
    """

    def __init__(self, hidden=64, num_layers=4, n_freq=256, compress=(2, 2), full_res_channels=32,
                 kernel_size=5, groups=8,
                 squeeze=8, fullband_mamba=True, time_embedding=True, emb_features=64, emb_dim=128,
                 emb_scale=16.0, condition_on_state=True, causal=False, mamba=None, backend=None):
        super().__init__()
        mamba = {**SBM_MAMBA, **dict(mamba or {})}
        self.compress_stride = tuple(int(s) for s in compress)
        st, sf = self.compress_stride
        if n_freq % sf:
            raise ValueError(f"n_freq {n_freq} is not divisible by the frequency compression {sf}")
        if hidden % groups:
            raise ValueError(f"hidden {hidden} is not divisible by groups {groups}")
        self.causal = causal
        self.condition_on_state = condition_on_state
        emb = emb_dim if time_embedding else None
        self.time_embedding = (GaussianFourierEmbedding(emb_features, emb_dim, scale=emb_scale)
                               if time_embedding else None)
        in_ch = 4 if condition_on_state else 2
        c0 = full_res_channels
        self.input_conv = nn.Sequential(conv_tf(in_ch, c0, (3, 3), causal=causal), nn.PReLU(c0))
        self.compression = nn.Conv2d(c0, hidden, (st, sf), stride=(st, sf))
        self.layers = nn.ModuleList(
            OSpatialMambaLayer(hidden, n_freq // sf, emb, kernel_size, groups, squeeze, causal, mamba, backend)
            for _ in range(num_layers))
        self.fullband = FullBandMamba(hidden, emb, mamba, backend) if fullband_mamba else None
        self.decompression = nn.ConvTranspose2d(hidden, c0, (st, sf), stride=(st, sf))
        self.output_conv = nn.Sequential(nn.PReLU(c0), conv_tf(c0, c0, (3, 3), causal=causal),
                                         nn.PReLU(c0), nn.Conv2d(c0, 2, 1))

    def forward(self, x_t, y, t):
        spec = torch.stack([x_t, y], 1) if self.condition_on_state else y[:, None]
        x = torch.cat([spec.real, spec.imag], 1).transpose(2, 3)  # [B, C, T, F]
        T = x.shape[2]
        emb = self.time_embedding(t) if self.time_embedding is not None else None
        skip = self.input_conv(x)
        st = self.compress_stride[0]
        if active_stream() is None:
            # left pad st-1 frames: compressed frame j covers frames j*st-st+1 .. j*st (causal);
            # right pad st-1: the last frames are covered whatever T is
            h = F.pad(skip, (0, 0, st - 1, st - 1))
        else:  # the same windows, as their last frame arrives (the right pad only feeds cut frames)
            if not self.causal:
                raise RuntimeError("streaming needs the causal SBM backbone (causal=True)")
            h = strided_time_input(self.compression, skip, st, st, st - 1, dim=2)
        if h.shape[2]:
            h = self.compression(h).permute(0, 2, 3, 1)  # [B, T', F', H]
            for layer in self.layers:
                h = layer(h, emb)
            if self.fullband is not None:
                h = self.fullband(h, emb)
            h = self.decompression(h.permute(0, 3, 1, 2))
        else:  # streaming: no compressed frame is complete in this call
            h = skip.new_zeros(skip.shape[0], skip.shape[1], 0, skip.shape[3])
        h = frame_queue(self.decompression, h, T, dim=2) + skip
        out = self.output_conv(h).transpose(2, 3)  # [B, 2, F, T]
        # complex needs float32 or float64 (under bf16 autocast the convs give bf16)
        out = out.to(torch.promote_types(out.dtype, torch.float32))
        return torch.complex(out[:, 0].contiguous(), out[:, 1].contiguous())
