"""Time-frequency convolutions shared by the model zoo and the SB networks:
"same" padding, left-only in time when causal (output frame t sees frames <= t)."""
from torch import nn

from .dilated_conv import dilated_conv2d
from .streaming import active_stream, time_left_context


class DilatedConv2d(nn.Conv2d):
    """``nn.Conv2d`` (stride 1, ungrouped, same parameters and names) whose
    weight gradient in CPU training comes from
    :func:`~se_mamba.nn.dilated_conv.conv2d_weight_grad`: oneDNN's own is
    several times slower for dilated kernels on AVX2 machines."""

    def forward(self, x):
        return dilated_conv2d(x, self.weight, self.bias, self.padding, self.dilation)


class TimeCausalConv2d(nn.Conv2d):
    """Conv2d on ``[B, C, T, F]`` padded on the left in time only.

    Parameters are those of ``nn.Conv2d`` (names ``weight``, ``bias``).
    Under a :class:`~se_mamba.nn.streaming.StreamState` the left context is
    the previous call's last frames instead of zeros.
    """

    def __init__(self, in_ch, out_ch, kernel_size, dilation=(1, 1)):
        pad_f = (kernel_size[1] - 1) * dilation[1] // 2
        super().__init__(in_ch, out_ch, kernel_size, dilation=dilation, padding=(0, pad_f))
        self.left = (kernel_size[0] - 1) * dilation[0]

    def forward(self, x):
        if active_stream() is None:
            # offline: pad both ends by `left` and keep the first T output
            # frames (frame t then sees input frames t - left .. t), instead
            # of copying the whole input behind `left` zero frames; the
            # `left` extra frames cost ~1 % more arithmetic
            y = dilated_conv2d(x, self.weight, self.bias, (self.left, self.padding[1]), self.dilation)
            return y.narrow(2, 0, x.shape[2])
        return super().forward(time_left_context(self, x, self.left, dim=2))


def conv_tf(in_ch, out_ch, kernel_size, dilation=(1, 1), causal=False):
    """A (time, freq) conv with "same" padding, left-only in time when causal."""
    if causal and kernel_size[0] > 1:
        return TimeCausalConv2d(in_ch, out_ch, kernel_size, dilation)
    padding = tuple((k - 1) * d // 2 for k, d in zip(kernel_size, dilation))
    conv = DilatedConv2d if tuple(dilation) != (1, 1) else nn.Conv2d
    return conv(in_ch, out_ch, kernel_size, dilation=dilation, padding=padding)
