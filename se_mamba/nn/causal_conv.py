"""Mamba's depthwise causal convolution over time followed by SiLU.

Channels-last in and out (``[B, L, d]``, the layout of the rest of the layer).
On CPU the fused kernel (``csrc/mamba_cpu.cpp``, loaded with the scan) does
both in one pass each way; PyTorch's ``conv1d`` wants ``[B, d, L]``, and the
two transposes, the SiLU and their backward passes (a strided
``silu_backward`` among them) were a large share of a training step of the
demo model (the profiles in ``docs/bench_train_step.md``). Elsewhere, and
with ``backend="torch"``, it is ``nn.Conv1d``'s computation.

Example
-------
>>> x = torch.randn(2, 10, 8)
>>> w, b = torch.randn(8, 1, 4), torch.randn(8)
>>> y = causal_conv1d_silu(x, w, b)
>>> y.shape
torch.Size([2, 10, 8])
>>> ref = causal_conv1d_silu(x, w, b, backend="torch")
>>> bool(torch.allclose(y, ref, atol=1e-5))
True
"""
import torch
import torch.nn.functional as F

from .scan_kernel import load_kernel

__all__ = ["causal_conv1d_silu"]


class _FusedConvSiLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, context):
        w2 = weight.reshape(weight.shape[0], -1).contiguous()
        ctx.save_for_backward(x, w2, bias, context)
        ctx.weight_shape = weight.shape
        return load_kernel().conv_silu_fwd(x, w2, bias, context)

    @staticmethod
    def backward(ctx, gy):
        x, w2, bias, context = ctx.saved_tensors
        gx, gw, gb, gctx = load_kernel().conv_silu_bwd(x, w2, bias, context, gy.contiguous())
        return (gx, gw.view(ctx.weight_shape), gb if bias is not None else None,
                gctx if context is not None else None)


def _torch_conv_silu(x, weight, bias, context):
    L = x.shape[1]
    if context is None:  # zero left context: pad both sides, keep the first L
        xc = F.conv1d(x.transpose(1, 2), weight, bias, padding=weight.shape[-1] - 1,
                      groups=x.shape[2])[..., :L]
    else:
        xc = F.conv1d(torch.cat([context, x], 1).transpose(1, 2), weight, bias, groups=x.shape[2])
    return F.silu(xc).transpose(1, 2).contiguous()


def causal_conv1d_silu(x, weight, bias=None, context=None, backend="fused"):
    """``silu(conv1d(x))`` over time, causal and depthwise.

    Arguments
    ---------
    x : torch.Tensor
        ``[B, L, d]``.
    weight, bias : torch.Tensor
        ``nn.Conv1d(d, d, K, groups=d)``'s ``[d, 1, K]`` weight and ``[d]`` bias.
    context : torch.Tensor, optional
        ``[B, K - 1, d]``: the inputs before ``x`` (a streaming state); zeros
        if ``None``.
    backend : str
        ``"fused"`` runs the C++ kernel on CPU tensors when it is available;
        anything else, or another device, runs PyTorch's ``conv1d``.
    """
    tensors = [t for t in (x, weight, bias, context) if t is not None]
    if (backend == "fused" and x.device.type == "cpu" and weight.shape[-1] > 1
            and all(t.dtype == x.dtype for t in tensors) and load_kernel() is not None):
        return _FusedConvSiLU.apply(x.contiguous(), weight, bias,
                                    None if context is None else context.contiguous())
    return _torch_conv_silu(x, weight, bias, context)
