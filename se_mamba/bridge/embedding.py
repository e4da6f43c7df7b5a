"""Time embedding of the SB networks: Gaussian Fourier features of log(t), then an MLP.

``W ~ N(0, scale^2)`` is drawn once and kept as a buffer (saved in the
state dict, never trained): features ``[sin(2 pi log(t) W), cos(2 pi log(t) W)]``
(as sgmse's NCSN++ does: `sgmse/backbones/ncsnpp.py`, Richter et al. 2023), then Linear -> SiLU -> Linear.
"""
import math

import torch
from torch import nn


class GaussianFourierEmbedding(nn.Module):
    """``forward(t [B]) -> [B, out_dim]``.

    >>> emb = GaussianFourierEmbedding(64, 128, generator=torch.Generator().manual_seed(0))
    >>> emb(torch.tensor([1.0, 0.5])).shape
    torch.Size([2, 128])
    >>> [n for n, _ in emb.named_parameters()][:1], "W" in emb.state_dict()
    (['mlp.0.weight'], True)
    """

    def __init__(self, n_features=64, out_dim=128, scale=16.0, log_time=True, generator=None):
        super().__init__()
        if n_features % 2:
            raise ValueError(f"n_features must be even, got {n_features}")
        self.log_time = log_time
        self.register_buffer("W", torch.randn(n_features // 2, generator=generator) * scale)
        self.mlp = nn.Sequential(nn.Linear(n_features, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim))

    def features(self, t):
        t = t.to(self.W.dtype)
        u = torch.log(t.clamp_min(1e-12)) if self.log_time else t
        proj = 2 * math.pi * u[:, None] * self.W[None, :]
        return torch.cat([torch.sin(proj), torch.cos(proj)], dim=-1)

    def forward(self, t):
        return self.mlp(self.features(t))
