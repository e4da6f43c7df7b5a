"""The dual-path time-frequency block shared by the model zoo.

One block = a pass over time (sequences ``[B*F, T, C]``) then a pass over
frequency (``[B*T, F, C]``). The sequence model of each pass is

* ``mamba``: :class:`~se_mamba.nn.MambaBlock` (bidirectional; causal =
  uni-directional over time), then ``tlinear``/``flinear``
  (ConvTranspose1d 2C -> C, k 1) and a residual: SEMamba's ``TFMambaBlock``;
* ``lstm``: a bidirectional LSTM in the same place (LSTM-SENet);
* ``conformer``: MP-SENet's Conformer with a residual around it.

Multi-head attention (MambAttention, Kühne et al. 2025;
`models/mambattention_block.py` of NikolaiKyhne/MambAttention) adds ``x + MHA(LN(x))`` to each
pass. With ``attention="shared"`` one module (``attention``) serves both
passes of the block. ``"separate"`` gives two modules (``time_attention``,
``freq_attention``; the "no weight sharing" ablation) and ``"none"`` none.
``attention_position`` is ``"before"`` (MambAttention) or ``"after"`` the
sequence model. ``axis_order="freq_first"`` swaps the two passes (another
ablation).
"""
import torch
import torch.nn.functional as F
from torch import nn

from ..nn import MambaBlock
from ..nn.cpu_attention import multi_head_attention
from ..nn.streaming import active_stream


class AttentionModule(nn.Module):
    """``MHA(LN(x))`` with the official names ``layernorm`` and ``attn``.

    ``batch_first=False`` reproduces MP-SENet's official Conformer, whose
    attention (lacking ``batch_first``) treats the B*F (or B*T) axis as the
    sequence: it attends across the wrong axis. We default to the intended
    axis; pass False only to reproduce released MP-SENet weights exactly.
    """

    def __init__(self, dim, n_head=8, dropout=0.0, batch_first=True):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, n_head, dropout=dropout, batch_first=batch_first)
        self.layernorm = nn.LayerNorm(dim)

    def forward(self, x, causal=False):
        """``x`` ``[N, L, dim]`` -> ``MHA(LN(x))``; ``causal``: frame t sees
        frames <= t.

        ``nn.MultiheadAttention``'s own forward is bypassed (its parameters
        are used as they are): without autograd it takes a fast path that
        materialises every ``L x L`` score matrix, five times slower on CPU
        than ``scaled_dot_product_attention``'s flash kernel at MambAttention's
        8-dimensional heads, and the compiled kernel of
        :func:`~se_mamba.nn.cpu_attention.multi_head_attention` is faster
        still for inference on CPU (docs/performance.md). Same arithmetic.
        """
        x = self.layernorm(x)
        a = self.attn
        if not a.batch_first:  # the module reads [L, N, dim]
            x = x.transpose(0, 1)
        y = multi_head_attention(F.linear(x, a.in_proj_weight, a.in_proj_bias), a.num_heads, causal,
                                 a.dropout if self.training else 0.0)
        y = F.linear(y, a.out_proj.weight, a.out_proj.bias)
        return y if a.batch_first else y.transpose(0, 1)


class Transpose(nn.Module):
    """Swap two axes (einops' ``Rearrange('b n c -> b c n')`` in the originals;
    kept as a module so that Sequential indices match their checkpoints)."""

    def __init__(self, a=1, b=2):
        super().__init__()
        self.a, self.b = a, b

    def forward(self, x):
        return x.transpose(self.a, self.b)


class FeedForwardModule(nn.Module):
    def __init__(self, dim, mult=4, dropout=0.0):
        super().__init__()
        self.ffm = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim * mult), nn.SiLU(),
                                 nn.Dropout(dropout), nn.Linear(dim * mult, dim), nn.Dropout(dropout))

    def forward(self, x):
        return self.ffm(x)


class ConformerConvModule(nn.Module):
    def __init__(self, dim, expansion_factor=2, kernel_size=31, dropout=0.0):
        super().__init__()
        inner = dim * expansion_factor
        self.ccm = nn.Sequential(
            nn.LayerNorm(dim), Transpose(1, 2), nn.Conv1d(dim, inner * 2, 1), nn.GLU(dim=1),
            nn.Conv1d(inner, inner, kernel_size, padding=(kernel_size - 1) // 2, groups=inner),
            nn.BatchNorm1d(inner), nn.SiLU(), nn.Conv1d(inner, dim, 1), Transpose(1, 2),
            nn.Dropout(dropout))

    def forward(self, x):
        return self.ccm(x)


class ConformerBlock(nn.Module):
    """x + ½FFN -> x + MHA -> x + conv module -> x + ½FFN -> LayerNorm (MP-SENet)."""

    def __init__(self, dim, n_head=4, ffm_mult=4, ccm_expansion_factor=2, ccm_kernel_size=31,
                 ffm_dropout=0.2, attn_dropout=0.2, ccm_dropout=0.0, attn_batch_first=True):
        super().__init__()
        self.ffm1 = FeedForwardModule(dim, ffm_mult, ffm_dropout)
        self.attn = AttentionModule(dim, n_head, attn_dropout, batch_first=attn_batch_first)
        self.ccm = ConformerConvModule(dim, ccm_expansion_factor, ccm_kernel_size, ccm_dropout)
        self.ffm2 = FeedForwardModule(dim, ffm_mult, ffm_dropout)
        self.post_norm = nn.LayerNorm(dim)

    def forward(self, x):
        x = x + 0.5 * self.ffm1(x)
        x = x + self.attn(x)
        x = x + self.ccm(x)
        x = x + 0.5 * self.ffm2(x)
        return self.post_norm(x)


class BiLSTM(nn.Module):
    """(Bi)LSTM sequence model with a ``[B, L, out_features]`` output."""

    def __init__(self, dim, hidden, bidirectional=True):
        super().__init__()
        self.lstm = nn.LSTM(dim, hidden, batch_first=True, bidirectional=bidirectional)
        self.out_features = hidden * (2 if bidirectional else 1)

    def forward(self, x):
        stream = active_stream() if self.lstm.bidirectional is False else None
        if stream is None:
            return self.lstm(x)[0]
        # causal LSTM over time, streaming: (h, c) carried between calls
        y, stream[self] = self.lstm(x, stream.get(self))
        return y


def attends_over_time(model):
    """True when ``model`` has attention along time (MambAttention family,
    MP-SENet, LSTM-Attention): its cost and memory grow with the square of
    the input length, so long inputs need short chunks."""
    return any(isinstance(m, TFBlock) and (m.attention_kind != "none" or m.sequence == "conformer")
               for m in model.modules())


SEQUENCE_KINDS = ("mamba", "lstm", "conformer")
ATTENTION_KINDS = ("none", "shared", "separate")


class TFBlock(nn.Module):
    """Time pass then frequency pass over ``[B, C, T, F]``.

    Arguments
    ---------
    channels : int
        Feature size C (64 in every paper configuration).
    sequence : str
        ``"mamba"``, ``"lstm"`` or ``"conformer"``.
    attention, attention_position, axis_order : str
        See the module docstring (MambAttention and its ablations).
    causal : bool
        Uni-directional sequence model over time and causal time attention;
        the frequency pass stays within a frame.
    mamba, lstm, conformer : dict
        Keyword arguments of the chosen sequence model.

    Example
    -------
    >>> blk = TFBlock(16, mamba=dict(d_state=8, expand=2))
    >>> blk(torch.randn(1, 16, 10, 7)).shape
    torch.Size([1, 16, 10, 7])
    """

    def __init__(self, channels=64, sequence="mamba", attention="none", attention_heads=8,
                 attention_position="before", axis_order="time_first", causal=False,
                 mamba=None, lstm=None, conformer=None):
        super().__init__()
        if sequence not in SEQUENCE_KINDS:
            raise ValueError(f"sequence={sequence!r}: expected one of {SEQUENCE_KINDS}")
        if attention not in ATTENTION_KINDS:
            raise ValueError(f"attention={attention!r}: expected one of {ATTENTION_KINDS}")
        if attention_position not in ("before", "after"):
            raise ValueError(f"attention_position={attention_position!r}: expected 'before' or 'after'")
        if axis_order not in ("time_first", "freq_first"):
            raise ValueError(f"axis_order={axis_order!r}: expected 'time_first' or 'freq_first'")
        if causal and sequence == "conformer":
            raise ValueError("the Conformer (MP-SENet) block has no causal variant")
        self.sequence = sequence
        self.attention_kind = attention
        self.attention_position = attention_position
        self.axis_order = axis_order
        self.causal = causal

        def seq(time_axis):
            uni = causal and time_axis
            if sequence == "mamba":
                return MambaBlock(channels, bidirectional=not uni, **(mamba or {}))
            if sequence == "lstm":
                return BiLSTM(channels, bidirectional=not uni, **(lstm or {"hidden": 101}))
            return ConformerBlock(channels, **(conformer or {}))

        setattr(self, f"time_{sequence}", seq(True))
        setattr(self, f"freq_{sequence}", seq(False))
        if attention == "shared":
            self.attention = AttentionModule(channels, attention_heads)
        elif attention == "separate":
            self.time_attention = AttentionModule(channels, attention_heads)
            self.freq_attention = AttentionModule(channels, attention_heads)
        if sequence != "conformer":
            t_out = getattr(self, f"time_{sequence}").out_features
            f_out = getattr(self, f"freq_{sequence}").out_features
            self.tlinear = nn.ConvTranspose1d(t_out, channels, 1, stride=1)
            self.flinear = nn.ConvTranspose1d(f_out, channels, 1, stride=1)

    def _attention(self, axis):
        if self.attention_kind == "shared":
            return self.attention
        if self.attention_kind == "separate":
            return getattr(self, f"{axis}_attention")
        return None

    def _pass(self, axis, x):
        attn = self._attention(axis)
        causal = attn is not None and self.causal and axis == "time"
        if causal and active_stream() is not None:
            raise RuntimeError("streaming a causal model with time attention needs a key/value "
                               "cache, which se_mamba does not implement; enhance offline instead")
        if attn is not None and self.attention_position == "before":
            x = x + attn(x, causal)
        y = getattr(self, f"{axis}_{self.sequence}")(x)
        if self.sequence == "conformer":
            x = x + y
        else:
            # the official 1x1 ConvTranspose1d (its weight [in, out, 1] loads
            # as is) applied as the matrix product it is, on the channels-last
            # sequence: conv_transpose1d wants [B, C, L], and the two
            # transposes and its backward cost far more than the product
            # (docs/performance.md)
            proj = self.tlinear if axis == "time" else self.flinear
            x = x + F.linear(y, proj.weight[:, :, 0].t(), proj.bias)
        if attn is not None and self.attention_position == "after":
            x = x + attn(x, causal)
        return x

    def forward(self, x):
        axes = ("time", "freq") if self.axis_order == "time_first" else ("freq", "time")
        for axis in axes:
            x = self._axis_pass(axis, x)
        # channels-last: the frequency pass's buffer as it is, and the next
        # block's passes gather rows of C contiguous values instead of
        # transposing the whole map (a generic 4-D transpose runs at well under
        # 1 GB/s here)
        return x.contiguous(memory_format=torch.channels_last)

    def _axis_pass(self, axis, x):
        """One pass over ``x`` ``[B, C, T, F]`` (any strides); returns a
        ``[B, C, T, F]`` view of a channels-last buffer.

        Without autograd the sequences go through in tiles of about
        ``TILE_TOKENS`` frames: every pass is independent per sequence, and
        the Mamba layer's ``[tokens, 4 C]`` intermediates of a whole 10 s
        input (160 MB each) miss every cache and are freshly mapped, page by
        page, on each allocation (docs/performance.md).
        """
        b, c = x.shape[:2]
        order, inverse = ((0, 3, 2, 1), (0, 3, 2, 1)) if axis == "time" else ((0, 2, 3, 1), (0, 3, 1, 2))
        xs = x.permute(order)  # [B, S sequences, L, C]
        n_seq, length = xs.shape[1:3]
        per = n_seq if self._untiled() else max(1, TILE_TOKENS // (b * length))
        if per >= n_seq:
            y = self._pass(axis, xs.reshape(b * n_seq, length, c)).view(b, n_seq, length, c)
        else:
            y = x.new_empty(b, n_seq, length, c)
            for s0 in range(0, n_seq, per):
                piece = xs[:, s0:s0 + per].contiguous()
                y[:, s0:s0 + per] = self._pass(axis, piece.view(-1, length, c)).view(piece.shape)
        return y.permute(inverse)

    def _untiled(self):
        # autograd keeps every tile's activations anyway; BatchNorm in training
        # mode needs the whole batch; a stream keys its carried state by module
        return torch.is_grad_enabled() or self.training or active_stream() is not None


# Frames per tile of sequences when a TFBlock runs without autograd (2048 to
# 32768 were within noise of one another: docs/performance.md).
TILE_TOKENS = 8192
