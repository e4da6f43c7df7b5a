"""RMSNorm as in ``mamba_ssm.ops.triton.layer_norm.RMSNorm`` (weight only)."""
import torch
from torch import nn


class RMSNorm(nn.Module):
    """Root-mean-square normalisation over the last dimension.

    ``y = x / sqrt(mean(x^2) + eps) * weight``, computed in float32 at least
    (as mamba-ssm does), with a ``weight`` parameter and no bias, so official
    SEMamba checkpoints (``...forward_blocks.0.norm.weight``) load.

    Example
    -------
    >>> norm = RMSNorm(8)
    >>> norm(torch.ones(2, 3, 8)).shape
    torch.Size([2, 3, 8])
    """

    def __init__(self, hidden_size, eps=1e-5, device=None, dtype=None):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(hidden_size, device=device, dtype=dtype))
        self.register_parameter("bias", None)

    def forward(self, x):
        xf = x.to(torch.promote_types(x.dtype, torch.float32))
        y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (y * self.weight).to(x.dtype)

    def extra_repr(self):
        return f"{self.weight.shape[0]}, eps={self.eps}"
