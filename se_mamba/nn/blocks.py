"""Residual Mamba blocks with the module names of the official SEMamba code.

``Block``: ``x + mixer(norm(x))`` (mamba-ssm's ``Block`` with an RMSNorm and
no MLP), attributes ``mixer`` and ``norm``.

``MambaBlock``: ``forward_blocks`` over the sequence and, when bidirectional,
``backward_blocks`` over the time-reversed sequence, concatenated on the
feature axis (``2 * d_model`` out). With ``bidirectional=False`` the block is
causal: output at step t depends only on inputs up to t, and it can run in
streaming pieces with :class:`~se_mamba.nn.mamba.MambaState`, passed by hand
or carried by an active :class:`~se_mamba.nn.streaming.StreamState`. In our
models a causal block always runs along time; a bidirectional one runs
inside a frame (along frequency) and has nothing to carry.
"""
import math

import torch
from torch import nn

from .mamba import Mamba
from .norm import RMSNorm
from .streaming import active_stream


class Block(nn.Module):
    """Pre-norm residual Mamba block: ``x + mixer(norm(x))``.

    Example
    -------
    >>> blk = Block(16, d_state=8, expand=2)
    >>> blk(torch.randn(2, 10, 16)).shape
    torch.Size([2, 10, 16])
    """

    def __init__(self, d_model, d_state=16, d_conv=4, expand=2, norm_eps=1e-5, layer_idx=None,
                 backend=None):
        super().__init__()
        self.mixer = Mamba(d_model, d_state=d_state, d_conv=d_conv, expand=expand,
                           layer_idx=layer_idx, backend=backend)
        self.norm = RMSNorm(d_model, eps=norm_eps)

    def forward(self, x, state=None, return_state=False):
        if return_state or state is not None:
            y, new_state = self.mixer(self.norm(x), state=state, return_state=True)
            return (x + y, new_state) if return_state else x + y
        return x + self.mixer(self.norm(x))


def mamba_init_(module, n_layer):
    """mamba-ssm's ``_init_weights`` as SEMamba applies it: zero Linear biases
    (except dt_proj's), re-draw ``out_proj.weight`` (kaiming-uniform, a=sqrt 5)
    scaled by 1/sqrt(n_layer)."""
    for m in module.modules():
        if isinstance(m, nn.Linear) and m.bias is not None and not getattr(m.bias, "_no_reinit", False):
            nn.init.zeros_(m.bias)
    for name, p in module.named_parameters():
        if name.endswith("out_proj.weight"):
            nn.init.kaiming_uniform_(p, a=math.sqrt(5))
            with torch.no_grad():
                p /= math.sqrt(n_layer)


class MambaBlock(nn.Module):
    """Bidirectional (default) or causal stack of residual Mamba blocks.

    Arguments
    ---------
    d_model : int
        Feature size of the input ``[B, L, d_model]``.
    n_layer : int
        Residual blocks per direction (SEMamba uses 1).
    bidirectional : bool
        If True, output ``[B, L, 2 * d_model]`` (forward ++ backward branch);
        if False, causal, output ``[B, L, d_model]``.

    Example
    -------
    >>> bi = MambaBlock(16, d_state=8, expand=2)
    >>> bi(torch.randn(2, 10, 16)).shape
    torch.Size([2, 10, 32])
    >>> MambaBlock(16, bidirectional=False)(torch.randn(2, 10, 16)).shape
    torch.Size([2, 10, 16])
    """

    def __init__(self, d_model, d_state=16, d_conv=4, expand=2, n_layer=1, bidirectional=True,
                 norm_eps=1e-5, backend=None):
        super().__init__()
        self.bidirectional = bidirectional
        make = lambda: nn.ModuleList(  # noqa: E731
            Block(d_model, d_state, d_conv, expand, norm_eps, layer_idx=i, backend=backend)
            for i in range(n_layer)
        )
        self.forward_blocks = make()
        if bidirectional:
            self.backward_blocks = make()
        mamba_init_(self, n_layer)

    @property
    def out_features(self):
        return self.forward_blocks[0].norm.weight.shape[0] * (2 if self.bidirectional else 1)

    def forward(self, x, state=None, return_state=False):
        """``state``/``return_state``: streaming, causal blocks only (a list,
        one :class:`MambaState` per layer)."""
        if state is None and not return_state and not self.bidirectional:
            stream = active_stream()
            if stream is not None:
                y, stream[self] = self(x, state=stream.get(self), return_state=True)
                return y
        if state is not None or return_state:
            if self.bidirectional:
                raise ValueError("streaming state needs a causal MambaBlock (bidirectional=False)")
            states = state if state is not None else [None] * len(self.forward_blocks)
            new = []
            for blk, s in zip(self.forward_blocks, states):
                x, s = blk(x, state=s, return_state=True)
                new.append(s)
            return (x, new) if return_state else x
        y = x
        for blk in self.forward_blocks:
            y = blk(y)
        if not self.bidirectional:
            return y
        yb = torch.flip(x, [1])
        for blk in self.backward_blocks:
            yb = blk(yb)
        return torch.cat([y, torch.flip(yb, [1])], dim=-1)
