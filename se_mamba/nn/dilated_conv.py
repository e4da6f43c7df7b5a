"""A dilated 2-D convolution whose weight gradient is computed as matrix
products over shifted views of the input, for training on the CPU.

The dense blocks of SEMamba, MambAttention and MP-SENet dilate their 3x3
convolutions in time (2, 4, 8). oneDNN, which PyTorch uses for convolutions
on the CPU, has no JIT kernel for the weight gradient of a dilated
convolution on AVX2 machines: it falls back to im2col + GEMM
(``ONEDNN_VERBOSE=1`` prints ``x64:gemm:jit ... backward_weights``), which
writes a 9x copy of the input and ran at about a quarter of the machine's
matrix throughput (docs/performance.md).

With stride 1 and "same" width (the output as wide as the input), tap
``(a, b)`` pairs output position ``(i, j)`` with input position
``(i + a*dh - ph, j + b*dw - pw)``: in the flattened ``H*W`` index that is one
constant shift. So the gradient of tap ``(a, b)`` is one batched product of
a contiguous slice of the output gradient with a shifted slice of the input,
read in place. Near the row ends the flat shift pairs a column with the
neighbouring row's other end; those few pairs (at most ``|shift|`` per row)
are subtracted. The forward pass and the input gradient stay oneDNN's (its
JIT kernels handle dilation there), so outputs are bit-for-bit those of
``F.conv2d``.

>>> import torch
>>> x = torch.randn(2, 6, 17, 9, dtype=torch.float64, requires_grad=True)
>>> w = torch.randn(4, 6, 3, 3, dtype=torch.float64, requires_grad=True)
>>> y = dilated_conv2d(x, w, None, (4, 1), (4, 1))
>>> ref = torch.nn.functional.conv2d(x, w, None, padding=(4, 1), dilation=(4, 1))
>>> torch.equal(y, ref)
True
>>> g = torch.autograd.grad(y.square().sum(), w)[0]
>>> torch.allclose(g, torch.autograd.grad(ref.square().sum(), w)[0])
True
"""
import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from .cpu_training import cpu_weight_grad_wanted


def conv2d_weight_grad(x, grad_out, kernel_size, padding, dilation):
    """``d loss / d weight`` of a stride-1, ungrouped ``conv2d(x, weight)``
    whose output ``grad_out`` is as wide as ``x``.

    ``x``: ``[N, C, H, W]``; ``grad_out``: ``[N, O, Ho, W]``; returns
    ``[O, C, kh, kw]``.
    """
    n, c, h, w = x.shape
    o, ho = grad_out.shape[1], grad_out.shape[2]
    if grad_out.shape[3] != w:
        raise ValueError(f"the flat-shift weight gradient needs the output as wide as the input, got {grad_out.shape[3]} and {w}")
    xf = x.reshape(n, c, h * w)
    gf = grad_out.reshape(n, o, ho * w)
    grad = x.new_zeros(o, c, *kernel_size)
    for a in range(kernel_size[0]):
        sh = a * dilation[0] - padding[0]  # input row = output row + sh
        i0, i1 = max(0, -sh), min(ho, h - sh)
        if i1 <= i0:
            continue
        for b in range(kernel_size[1]):
            sw = b * dilation[1] - padding[1]  # input column = output column + sw
            if abs(sw) >= w:
                continue
            # output flat range whose shifted partners stay inside rows i0+sh .. i1+sh
            s0, s1 = i0 * w + max(0, -sw), i1 * w - max(0, sw)
            off = sh * w + sw
            g = torch.bmm(gf[:, :, s0:s1], xf[:, :, s0 + off:s1 + off].transpose(1, 2)).sum(0)
            if i1 - i0 > 1 and sw < 0:
                # columns j < -sw of rows i0+1 .. i1-1 met the previous input row's last columns
                g -= torch.einsum("noij,ncij->oc", grad_out[:, :, i0 + 1:i1, :-sw],
                                  x[:, :, i0 + sh:i1 - 1 + sh, w + sw:])
            elif i1 - i0 > 1 and sw > 0:
                # columns j >= w - sw of rows i0 .. i1-2 met the next input row's first columns
                g -= torch.einsum("noij,ncij->oc", grad_out[:, :, i0:i1 - 1, w - sw:],
                                  x[:, :, i0 + 1 + sh:i1 + sh, :sw])
            grad[:, :, a, b] = g
    return grad


class _DilatedConv2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, padding, dilation):
        ctx.save_for_backward(x, weight)
        ctx.padding, ctx.dilation, ctx.has_bias = padding, dilation, bias is not None
        return F.conv2d(x, weight, bias, 1, padding, dilation)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        grad_out = grad_out.contiguous()
        grad_x = grad_b = grad_w = None
        if need_x:
            # data only: asked for the bias too, oneDNN runs its weight kernel for it
            grad_x = torch.ops.aten.convolution_backward(
                grad_out, x, weight, None, [1, 1], list(ctx.padding), list(ctx.dilation), False, [0, 0], 1,
                [True, False, False])[0]
        if need_b and ctx.has_bias:
            grad_b = grad_out.sum((0, 2, 3))
        if need_w:
            grad_w = conv2d_weight_grad(x.contiguous(), grad_out, weight.shape[2:], ctx.padding, ctx.dilation)
        return grad_x, grad_w, grad_b, None, None


def dilated_conv2d(x, weight, bias, padding, dilation):
    """``F.conv2d(x, weight, bias, 1, padding, dilation)``; when autograd will
    need the weight gradient of a dilated convolution on the CPU in float32 or
    float64 (no autocast, output as wide as the input), that gradient comes
    from :func:`conv2d_weight_grad`."""
    padding, dilation = tuple(padding), tuple(dilation)
    kw = weight.shape[3]
    use = (cpu_weight_grad_wanted(x, weight) and dilation != (1, 1) and x.dim() == 4
           and 2 * padding[1] == dilation[1] * (kw - 1))
    if use:
        return _DilatedConv2d.apply(x, weight, bias, padding, dilation)
    return F.conv2d(x, weight, bias, 1, padding, dilation)
