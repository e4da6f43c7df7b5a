"""Dense encoder and magnitude/phase decoders of MP-SENet, SEMamba and
MambAttention (`models/codec_module.py` of RoyChao19477/SEMamba), with the official module names and an optional
causal mode.

Causal mode (SEMamba causal): every convolution that spans time is padded on
the left only (output frame t sees frames <= t), and instance norms, which
average over the whole utterance, become per-frame norms over frequency
(same ``weight``/``bias`` parameters). Frequency processing stays inside a
frame, so the state-dict layout is the same in both modes.
"""
import torch
import torch.nn.functional as F
from torch import nn

from ..nn.conv import TimeCausalConv2d, conv_tf  # noqa: F401  (re-exported: part of the codec's API)


class LearnableSigmoid2D(nn.Module):
    """``beta * sigmoid(slope * x)`` with one slope per frequency bin ``(F, 1)``."""

    def __init__(self, in_features, beta=2.0):
        super().__init__()
        self.beta = beta
        self.slope = nn.Parameter(torch.ones(in_features, 1))

    def forward(self, x):  # x: [B, F, T]
        return self.beta * torch.sigmoid(self.slope * x)


class FrameNorm2d(nn.Module):
    """Per-frame normalisation over frequency of ``[B, C, T, F]`` with a
    per-channel affine map: the causal stand-in for ``InstanceNorm2d``
    (same parameter names and shapes)."""

    def __init__(self, channels, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        # layer_norm over the last axis is exactly this normalisation (biased
        # variance, eps inside the root) in one pass instead of five
        x = F.layer_norm(x, x.shape[-1:], eps=self.eps)
        return torch.addcmul(self.bias[:, None, None], x, self.weight[:, None, None])


def norm2d(channels, causal):
    return FrameNorm2d(channels) if causal else nn.InstanceNorm2d(channels, affine=True)


class DenseBlock(nn.Module):
    """Dilated dense block: layer i is conv(3x3, dilation 2^i in time) + norm +
    PReLU on the concatenation of all previous outputs; returns the last."""

    def __init__(self, channels=64, kernel_size=(3, 3), depth=4, causal=False):
        super().__init__()
        self.depth = depth
        self.dense_block = nn.ModuleList(
            nn.Sequential(
                conv_tf(channels * (i + 1), channels, kernel_size, (2**i, 1), causal),
                norm2d(channels, causal),
                nn.PReLU(channels),
            )
            for i in range(depth)
        )

    def forward(self, x):
        if torch.is_grad_enabled() or x.shape[0] != 1:
            skip = x
            for layer in self.dense_block:
                x = layer(skip)
                skip = torch.cat([x, skip], dim=1)
            return x
        # Inference on one input: the concatenations are channel slices of
        # one buffer, filled from its end ([x_{i-1}, ..., x_0, input] is a
        # suffix of it), so each output is copied once instead of once per
        # later layer. Autograd would see the buffer change under saved
        # views, and with a batch the slices are not contiguous: both keep cat.
        c = x.shape[1]
        buf = x.new_empty(x.shape[0], c * self.depth, *x.shape[2:])
        start = c * (self.depth - 1)
        buf[:, start:] = x
        for layer in self.dense_block:
            x = layer(buf[:, start:])
            if start:
                buf[:, start - c:start] = x
                start -= c
        return x


class DenseEncoder(nn.Module):
    """[B, 2, T, F] -> [B, C, T, F // 2] (201 -> 100 bins)."""

    def __init__(self, in_channels=2, channels=64, causal=False):
        super().__init__()
        self.dense_conv_1 = nn.Sequential(
            nn.Conv2d(in_channels, channels, (1, 1)), norm2d(channels, causal), nn.PReLU(channels))
        self.dense_block = DenseBlock(channels, depth=4, causal=causal)
        self.dense_conv_2 = nn.Sequential(
            nn.Conv2d(channels, channels, (1, 3), stride=(1, 2)), norm2d(channels, causal),
            nn.PReLU(channels))

    def forward(self, x):
        return self.dense_conv_2(self.dense_block(self.dense_conv_1(x)))


class MagDecoder(nn.Module):
    """[B, C, T, F'] -> magnitude mask [B, 1, T, F] in (0, beta)."""

    def __init__(self, channels=64, n_freq=201, beta=2.0, out_channels=1, causal=False):
        super().__init__()
        self.dense_block = DenseBlock(channels, depth=4, causal=causal)
        self.mask_conv = nn.Sequential(
            nn.ConvTranspose2d(channels, channels, (1, 3), stride=(1, 2)),
            nn.Conv2d(channels, out_channels, (1, 1)),
            norm2d(out_channels, causal),
            nn.PReLU(out_channels),
            nn.Conv2d(out_channels, out_channels, (1, 1)),
        )
        self.lsigmoid = LearnableSigmoid2D(n_freq, beta=beta)

    def forward(self, x):
        x = self.mask_conv(self.dense_block(x))  # [B, 1, T, F]
        x = self.lsigmoid(x[:, 0].transpose(1, 2))  # per-bin slope on [B, F, T]
        return x.transpose(1, 2).unsqueeze(1)


class PhaseDecoder(nn.Module):
    """[B, C, T, F'] -> phase [B, 1, T, F] = atan2(imag, real)."""

    def __init__(self, channels=64, out_channels=1, causal=False):
        super().__init__()
        self.dense_block = DenseBlock(channels, depth=4, causal=causal)
        self.phase_conv = nn.Sequential(
            nn.ConvTranspose2d(channels, channels, (1, 3), stride=(1, 2)),
            norm2d(channels, causal),
            nn.PReLU(channels),
        )
        self.phase_conv_r = nn.Conv2d(channels, out_channels, (1, 1))
        self.phase_conv_i = nn.Conv2d(channels, out_channels, (1, 1))

    def forward(self, x):
        x = self.phase_conv(self.dense_block(x))
        return torch.atan2(self.phase_conv_i(x), self.phase_conv_r(x))
