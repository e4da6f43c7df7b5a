"""A bias-free linear layer from a few input features to many outputs (Mamba's
``dt_proj``: rank 1-4 to 32-256 channels) whose weight gradient is computed
in the layout the CPU's matrix product handles well, for training on the CPU.

``F.linear``'s backward computes the weight gradient as ``grad_out^T @ x``:
``[out, tokens] @ [tokens, rank]``, a product with a huge inner dimension and
an output only ``rank`` columns wide. On the CPU that ran at about 1 GFLOP/s
(``[256, 128400] @ [128400, 4]``, 16 calls per paper SEMamba training step:
4.4-6.8 s of it in two profiles). The same numbers as
``(x^T @ grad_out)^T``, ``[rank, tokens] @ [tokens, out]``, read ``grad_out``
row by row into a ``[rank, out]`` block: 0.5 s for the 16 calls
(docs/performance.md, fifth round). The forward pass and the input gradient
are the same products as ``F.linear``'s and its backward's.

>>> import torch
>>> x = torch.randn(2, 50, 3, dtype=torch.float64, requires_grad=True)
>>> w = torch.randn(16, 3, dtype=torch.float64, requires_grad=True)
>>> y = low_rank_linear(x, w)
>>> torch.equal(y, torch.nn.functional.linear(x, w))
True
>>> gx, gw = torch.autograd.grad(y.sin().sum(), (x, w))
>>> rx, rw = torch.autograd.grad(torch.nn.functional.linear(x, w).sin().sum(), (x, w))
>>> torch.allclose(gw, rw) and torch.allclose(gx, rx)
True
"""
import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from .cpu_training import cpu_weight_grad_wanted


class _LowRankLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight):
        ctx.save_for_backward(x, weight)
        return F.linear(x, weight)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        g = grad_out.reshape(-1, grad_out.shape[-1])
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = (g @ weight).view(x.shape)
        if ctx.needs_input_grad[1]:
            # [rank, tokens] @ [tokens, out], then transposed: the long operand
            # is read row by row (see the module docstring)
            grad_w = (x.reshape(-1, x.shape[-1]).t() @ g).t().contiguous()
        return grad_x, grad_w


def low_rank_linear(x, weight):
    """``F.linear(x, weight)``; when autograd will need the weight gradient on
    the CPU in float32 or float64 (no autocast), that gradient is computed as
    ``(x^T @ grad_out)^T`` (module docstring)."""
    if cpu_weight_grad_wanted(x, weight) and x.dtype == weight.dtype:
        return _LowRankLinear.apply(x, weight)
    return F.linear(x, weight)
