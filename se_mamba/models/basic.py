"""SEMamba basic (Chao et al., 2024, the "basic" configuration).

log1p-compressed magnitude -> convolutional encoder over time -> two Mamba
layers -> fully connected decoder -> sigmoid magnitude mask; the noisy phase
is reused. Causal: time convolutions padded on the left, uni-directional
Mamba. Non-causal: centred convolutions, bidirectional Mamba.

The paper does not publish the basic model's sizes; ours (hidden 256,
d_state 16, expand 2) are configurable and documented in the model card.
"""
import torch
import torch.nn.functional as F
from torch import nn

from ..nn import MambaBlock
from ..nn.spectral import SpectralFrontEnd
from ..interface import EnhancementModel
from ..nn.streaming import time_left_context


class TimeConv1d(nn.Conv1d):
    """Conv1d over time on ``[B, C, T]``; left-padded when causal (and then
    streamable: the left context comes from the previous call)."""

    def __init__(self, in_ch, out_ch, kernel_size, causal):
        super().__init__(in_ch, out_ch, kernel_size, padding=0)
        total = kernel_size - 1
        self.causal = causal
        self.pads = (total, 0) if causal else (total // 2, total - total // 2)

    def forward(self, x):
        if self.causal:
            return super().forward(time_left_context(self, x, self.pads[0], dim=-1))
        return super().forward(F.pad(x, self.pads))


class SEMambaBasic(EnhancementModel):
    """Example
    -------
    >>> m = SEMambaBasic(hidden=32, d_state=4)
    >>> m.enhance(torch.randn(2, 1600)).shape
    torch.Size([2, 1600])
    """

    def __init__(self, hidden=256, n_layer=2, d_state=16, d_conv=4, expand=2, kernel_size=3,
                 causal=True, n_fft=400, hop_length=100, win_length=400):
        super().__init__()
        self.causal = causal
        self.front_end = SpectralFrontEnd(n_fft, hop_length, win_length, compress_factor=1.0)
        n_freq = n_fft // 2 + 1
        self.encoder = nn.Sequential(
            TimeConv1d(n_freq, hidden, kernel_size, causal), nn.PReLU(hidden),
            TimeConv1d(hidden, hidden, kernel_size, causal), nn.PReLU(hidden))
        self.mamba = MambaBlock(hidden, d_state=d_state, d_conv=d_conv, expand=expand,
                                n_layer=n_layer, bidirectional=not causal)
        # features are last here: one shared PReLU slope (PReLU(n) acts on dim 1)
        self.decoder = nn.Sequential(nn.Linear(self.mamba.out_features, hidden), nn.PReLU(),
                                     nn.Linear(hidden, n_freq))

    input_normalisation = None  # trained on raw levels: no input gain

    def forward(self, log_mag):
        """``[B, F, T]`` log1p magnitude -> mask ``[B, F, T]`` in (0, 1)."""
        x = self.encoder(log_mag).transpose(1, 2)  # [B, T, H]
        return torch.sigmoid(self.decoder(self.mamba(x))).transpose(1, 2)

    @property
    def stream_front_end(self):
        return self.front_end

    def spectral_map(self, spec):
        """Noisy complex STFT -> masked STFT (the noisy phase is kept)."""
        return spec * self(torch.log1p(spec.abs()))
