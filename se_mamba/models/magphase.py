"""Magnitude-phase dual-path generators: SEMamba (advanced), MambAttention,
MP-SENet and the LSTM baselines share one skeleton (SEMamba `models/generator.py`, MambAttention
`models/generator.py`, MP-SENet `models/generator.py`):

    [compressed magnitude, phase] -> dense_encoder -> N x TFBlock
        -> mask_decoder (magnitude mask)  x noisy magnitude
        -> phase_decoder (atan2)

The block list carries each original's name (``TSMamba``,
``TFMambAttention``, ``TSConformer``), so released ``{'generator': ...}``
checkpoints load with ``strict=True`` (see :mod:`se_mamba.models.official_weights`).
"""
import torch
from torch import nn

from ..nn.spectral import SpectralFrontEnd, polar_to_ri
from .codec import DenseEncoder, MagDecoder, PhaseDecoder
from ..interface import EnhancementModel
from .tf_block import TFBlock


class MagPhaseNet(EnhancementModel):
    """The shared generator. Subclasses set ``blocks_attr`` and block options.

    ``forward(noisy_mag, noisy_pha)`` takes and returns the official layouts
    (``[B, F, T]``; complex ``[B, F, T, 2]``); :meth:`enhance` works on
    waveforms end to end.
    """

    blocks_attr = "blocks"
    block_defaults = {}
    input_normalisation = "rms"  # the originals scale the input to unit mean power

    def __init__(self, channels=64, num_blocks=4, n_fft=400, hop_length=100, win_length=400,
                 compress_factor=0.3, beta=2.0, causal=False, **block_kwargs):
        super().__init__()
        self.causal = causal
        self.front_end = SpectralFrontEnd(n_fft, hop_length, win_length, compress_factor)
        n_freq = n_fft // 2 + 1
        self.dense_encoder = DenseEncoder(2, channels, causal=causal)
        kwargs = {**self.block_defaults, **block_kwargs}
        self.add_module(self.blocks_attr, nn.ModuleList(
            TFBlock(channels, causal=causal, **kwargs) for _ in range(num_blocks)))
        self.mask_decoder = MagDecoder(channels, n_freq, beta, causal=causal)
        self.phase_decoder = PhaseDecoder(channels, causal=causal)

    @property
    def blocks(self):
        return getattr(self, self.blocks_attr)

    def forward(self, noisy_mag, noisy_pha):
        """``[B, F, T]`` compressed magnitude and phase -> (mag, pha, com)."""
        mag_in = noisy_mag.transpose(1, 2).unsqueeze(1)  # [B, 1, T, F]
        x = torch.cat((mag_in, noisy_pha.transpose(1, 2).unsqueeze(1)), dim=1)
        x = self.dense_encoder(x)
        for block in self.blocks:
            x = block(x)
        x = x.contiguous()  # the blocks hand on channels-last maps; the decoders' norms want NCHW
        mag = (self.mask_decoder(x) * mag_in)[:, 0].transpose(1, 2)
        pha = self.phase_decoder(x)[:, 0].transpose(1, 2)
        return mag, pha, polar_to_ri(mag, pha)

    @property
    def stream_front_end(self):
        return self.front_end

    def spectral_map(self, spec):
        """Noisy complex STFT ``[B, F, T]`` -> enhanced complex STFT (frame by
        frame in time when causal: the streaming path uses it too)."""
        fe = self.front_end
        mag, pha, _ = self(fe.compress(spec.abs()), spec.angle())
        return torch.polar(fe.decompress(mag), pha)


class SEMamba(MagPhaseNet):
    """SEMamba advanced (Chao et al., 2024): 4 TF-Mamba blocks, 64 channels,
    Mamba d_state 16, d_conv 4, expand 4. ``causal=True``: the causal variant.

    Example
    -------
    >>> model = SEMamba(channels=8, num_blocks=1, mamba=dict(d_state=4, expand=2))
    >>> model.enhance(torch.randn(1, 1600)).shape
    torch.Size([1, 1600])
    """

    blocks_attr = "TSMamba"
    block_defaults = {"sequence": "mamba", "mamba": {"d_state": 16, "d_conv": 4, "expand": 4}}


class MambAttention(MagPhaseNet):
    """MambAttention (Kühne et al., 2025): TF-Mamba blocks with one multi-head
    attention module (64 dims, 8 heads) shared by the time and frequency
    passes of each block. Ablations (Table III) through the block options:
    ``attention_position="after"``, ``attention="separate"`` (no weight
    sharing), ``axis_order="freq_first"``, ``attention="none"`` (= SEMamba).
    """

    blocks_attr = "TFMambAttention"
    block_defaults = {"sequence": "mamba", "attention": "shared", "attention_heads": 8,
                      "attention_position": "before",
                      "mamba": {"d_state": 16, "d_conv": 4, "expand": 4}}


class MPSENet(MagPhaseNet):
    """MP-SENet (Lu et al., 2023), Conformer version: 4 TS-Conformer blocks
    (4 heads, FFN x4, conv kernel 31, dropout 0.2). Attention over the
    intended axis (``conformer=dict(attn_batch_first=False)`` restores the
    official code's wrong-axis attention)."""

    blocks_attr = "TSConformer"
    block_defaults = {"sequence": "conformer", "conformer": {}}


class LSTMSENet(MagPhaseNet):
    """LSTM-SENet: the skeleton with bidirectional LSTMs in place of Mamba
    (hidden 101 by default, 2.33M parameters vs 2.34M published: the exact
    layout of the original LSTM block is not public). With
    ``attention="shared", attention_position="after"``: LSTM-Attention."""

    blocks_attr = "TSLSTM"
    block_defaults = {"sequence": "lstm", "lstm": {"hidden": 101}}
