"""SB-NCSN++ baseline: a U-Net in the NCSN++ spirit, sized for CPU.

What is kept from NCSN++ (Song et al. 2021, as sgmse uses it for speech):
residual blocks with GroupNorm + SiLU and the time embedding added after the
first convolution, skip connections rescaled by 1/sqrt(2), a multi-resolution
encoder/decoder with skips, self-attention at the lowest resolution, the
Gaussian Fourier time embedding, and input channels Re/Im of x_t and y.
What is not: FIR up/down-sampling, the progressive input/output branches and
the 65M-parameter size (ours defaults to ~2M; sizes in YAML).

Layout ``[B, C, F, T]``; F and T are padded to a multiple of 2^levels.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

from .embedding import GaussianFourierEmbedding


def _groups(ch):
    return math.gcd(32, ch // 4) or 1


class ResBlock(nn.Module):
    def __init__(self, in_ch, out_ch, emb_dim, dropout=0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(in_ch), in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb = nn.Linear(emb_dim, out_ch)
        self.norm2 = nn.GroupNorm(_groups(out_ch), out_ch)
        self.drop = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.drop(F.silu(self.norm2(h))))
        return (self.skip(x) + h) / math.sqrt(2.0)


class AttnBlock(nn.Module):
    """Single-head self-attention over all positions (lowest resolution only)."""

    def __init__(self, ch):
        super().__init__()
        self.norm = nn.GroupNorm(_groups(ch), ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.out = nn.Conv2d(ch, ch, 1)

    def forward(self, x):
        B, C, H, W = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(B, 3, C, H * W).transpose(2, 3).unbind(1)
        h = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, C, H, W)
        return (x + self.out(h)) / math.sqrt(2.0)


class NCSNppLite(nn.Module):
    """``net(x_t, y, t) -> x0_hat`` (complex ``[B, F, T]``).

    Example
    -------
    >>> net = NCSNppLite(channels=8, channel_mult=(1, 2), attention=False)
    >>> y = torch.randn(1, 256, 30, dtype=torch.cfloat)
    >>> net(y, y, torch.ones(1)).shape
    torch.Size([1, 256, 30])
    """

    def __init__(self, channels=32, channel_mult=(1, 2, 2, 2), num_res_blocks=1, attention=True,
                 dropout=0.0, emb_features=64, emb_dim=128, emb_scale=16.0):
        super().__init__()
        self.time_embedding = GaussianFourierEmbedding(emb_features, emb_dim, scale=emb_scale)
        self.levels = len(channel_mult) - 1
        self.input_conv = nn.Conv2d(4, channels, 3, padding=1)
        chans = [channels * m for m in channel_mult]
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        skips, ch = [channels], channels
        for i, c in enumerate(chans):
            blocks = nn.ModuleList()
            for _ in range(num_res_blocks):
                blocks.append(ResBlock(ch, c, emb_dim, dropout))
                ch = c
                skips.append(ch)
            self.down.append(blocks)
            if i < self.levels:
                self.downsample.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                skips.append(ch)
        self.mid1 = ResBlock(ch, ch, emb_dim, dropout)
        self.mid_attn = AttnBlock(ch) if attention else nn.Identity()
        self.mid2 = ResBlock(ch, ch, emb_dim, dropout)
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for i, c in reversed(list(enumerate(chans))):
            blocks = nn.ModuleList()
            for _ in range(num_res_blocks + 1):
                blocks.append(ResBlock(ch + skips.pop(), c, emb_dim, dropout))
                ch = c
            self.up.append(blocks)
            if i > 0:
                self.upsample.append(nn.Conv2d(ch, ch, 3, padding=1))
        self.output = nn.Sequential(nn.GroupNorm(_groups(ch), ch), nn.SiLU(), nn.Conv2d(ch, 2, 3, padding=1))

    def forward(self, x_t, y, t):
        Fq, T = y.shape[-2:]
        m = 2 ** self.levels
        x = torch.stack([x_t.real, x_t.imag, y.real, y.imag], 1)
        x = F.pad(x, (0, (-T) % m, 0, (-Fq) % m))
        emb = self.time_embedding(t)
        h = self.input_conv(x)
        hs = [h]
        for i, blocks in enumerate(self.down):
            for blk in blocks:
                h = blk(h, emb)
                hs.append(h)
            if i < self.levels:
                h = self.downsample[i](h)
                hs.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for j, blocks in enumerate(self.up):
            for blk in blocks:
                h = blk(torch.cat([h, hs.pop()], 1), emb)
            if j < self.levels:
                h = self.upsample[j](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        out = self.output(h)[:, :, :Fq, :T]
        # complex needs float32 or float64 (under bf16 autocast the convs give bf16)
        out = out.to(torch.promote_types(out.dtype, torch.float32))
        return torch.complex(out[:, 0].contiguous(), out[:, 1].contiguous())
