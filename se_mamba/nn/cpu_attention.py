"""Multi-head attention for inference on CPU through the compiled kernel
(``csrc/attention_cpu.cpp``, built and loaded with the scan by
:mod:`se_mamba.nn.scan_kernel`).

At MambAttention's heads of 8 channels PyTorch's CPU flash kernel spends
most of its time on bookkeeping around products whose inner dimension is 8;
the kernel computes the same softmax attention as one vectorised loop over
keys per query (docs/performance.md).

It applies only to heads of at most ``KERNEL_MAX_HEAD`` channels and where
nothing needs its gradient or dropout: CPU, float32 or float64, no autograd,
and the Mamba backend not forced to ``torch`` (which means: no compiled
code). Everything else takes
``torch.nn.functional.scaled_dot_product_attention``.
"""
import math

import torch
import torch.nn.functional as F

from .backend import requested_backend
from .scan_kernel import load_kernel

__all__ = ["multi_head_attention"]

# Heads up to this size take the kernel: faster than the flash kernel at
# MambAttention's 8 channels per head, slower at MP-SENet's 16, where the
# flash kernel's blocked products pay off (benchmarks/bench_attention.py,
# docs/bench_attention.md).
KERNEL_MAX_HEAD = 8


def _kernel_applies(qkv, heads, dropout):
    if dropout or qkv.device.type != "cpu" or qkv.dtype not in (torch.float32, torch.float64):
        return False
    if qkv.shape[-1] // (3 * heads) > KERNEL_MAX_HEAD:
        return False
    if torch.is_grad_enabled() and qkv.requires_grad:
        return False
    return requested_backend() != "torch" and load_kernel() is not None


def multi_head_attention(qkv, heads, causal=False, dropout=0.0):
    """``qkv`` ``[N, L, 3 E]`` (q, k, v side by side, each ``heads`` heads of
    ``E / heads`` channels, as ``nn.MultiheadAttention``'s in-projection
    writes them) -> ``[N, L, E]``, the heads side by side.

    Softmax attention with the scale ``1 / sqrt(E / heads)``; ``causal``:
    query ``i`` sees keys ``<= i``; ``dropout`` applies to the attention
    weights (training only).

    >>> qkv = torch.randn(2, 5, 3 * 16, dtype=torch.float64)
    >>> out = multi_head_attention(qkv, heads=2, causal=True)
    >>> q, k, v = qkv.view(2, 5, 3, 2, 8).permute(2, 0, 3, 1, 4)
    >>> ref = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(2, 5, 16)
    >>> bool(torch.allclose(out, ref, rtol=1e-12, atol=1e-12))
    True
    """
    n, length, three_e = qkv.shape
    dim = three_e // 3
    if _kernel_applies(qkv, heads, dropout):
        return load_kernel().attention_fwd(qkv.contiguous(), heads, causal, 1.0 / math.sqrt(dim // heads))
    q, k, v = qkv.view(n, length, 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
    y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=causal)
    return y.transpose(1, 2).reshape(n, length, dim)
