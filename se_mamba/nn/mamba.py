"""The Mamba (S6) layer, a drop-in for ``mamba_ssm.Mamba`` that runs on CPU.

Same constructor arguments, defaults, initialisation, parameter names and
shapes as ``mamba_ssm.modules.mamba_simple.Mamba``, so a mamba-ssm state dict
loads with ``strict=True`` and gives the same outputs. The scan runs on the
backend chosen by :mod:`se_mamba.nn.backend`.
"""
import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .backend import causal_conv1d_available, mamba_ssm_ops, resolve_backend
from .causal_conv import causal_conv1d_silu
from .low_rank_linear import low_rank_linear
from .selective_scan import selective_scan_fn


@dataclass
class MambaState:
    """Streaming state of one Mamba layer between two calls.

    ``conv``: the last ``d_conv - 1`` conv inputs ``[B, d_conv - 1, d_inner]``;
    ``ssm``: the scan state ``[B, d_inner, d_state]``.
    """

    conv: torch.Tensor
    ssm: torch.Tensor


class Mamba(nn.Module):
    """Selective state-space layer (Gu & Dao, 2023).

    Arguments
    ---------
    d_model : int
        Input/output feature size.
    d_state, d_conv, expand, dt_rank, dt_min, dt_max, dt_init, dt_scale,
    dt_init_floor, conv_bias, bias, use_fast_path, layer_idx, device, dtype :
        As in ``mamba_ssm.Mamba`` (``use_fast_path`` is accepted and only
        matters on the mamba_ssm backend).
    backend : str, optional
        ``"auto"``, ``"mamba_ssm"``, ``"fused"`` or ``"torch"``; default from
        ``$SE_MAMBA_BACKEND``, else ``"auto"``.

    Example
    -------
    >>> layer = Mamba(d_model=16, d_state=8, expand=2)
    >>> x = torch.randn(2, 50, 16)
    >>> layer(x).shape
    torch.Size([2, 50, 16])
    """

    def __init__(
        self,
        d_model,
        d_state=16,
        d_conv=4,
        expand=2,
        dt_rank="auto",
        dt_min=0.001,
        dt_max=0.1,
        dt_init="random",
        dt_scale=1.0,
        dt_init_floor=1e-4,
        conv_bias=True,
        bias=False,
        use_fast_path=True,
        layer_idx=None,
        device=None,
        dtype=None,
        backend=None,
    ):
        factory = {"device": device, "dtype": dtype}
        super().__init__()
        self.d_model = d_model
        self.d_state = d_state
        self.d_conv = d_conv
        self.expand = expand
        self.d_inner = int(expand * d_model)
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else dt_rank
        self.use_fast_path = use_fast_path
        self.layer_idx = layer_idx
        self.backend = backend

        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=bias, **factory)
        self.conv1d = nn.Conv1d(
            self.d_inner,
            self.d_inner,
            kernel_size=d_conv,
            groups=self.d_inner,
            padding=d_conv - 1,
            bias=conv_bias,
            **factory,
        )
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False, **factory)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True, **factory)

        # dt_proj: weights preserve variance; bias = softplus^-1 of a dt drawn
        # log-uniformly in [dt_min, dt_max] (mamba-ssm's initialisation).
        dt_init_std = self.dt_rank**-0.5 * dt_scale
        if dt_init == "constant":
            nn.init.constant_(self.dt_proj.weight, dt_init_std)
        elif dt_init == "random":
            nn.init.uniform_(self.dt_proj.weight, -dt_init_std, dt_init_std)
        else:
            raise NotImplementedError(f"dt_init={dt_init!r}: expected 'constant' or 'random'")
        dt = torch.exp(
            torch.rand(self.d_inner, **factory) * (math.log(dt_max) - math.log(dt_min))
            + math.log(dt_min)
        ).clamp(min=dt_init_floor)
        inv_dt = dt + torch.log(-torch.expm1(-dt))
        with torch.no_grad():
            self.dt_proj.bias.copy_(inv_dt)
        self.dt_proj.bias._no_reinit = True

        # S4D-real initialisation: A[d, n] = -(n + 1).
        A = torch.arange(1, d_state + 1, dtype=torch.float32, device=device).repeat(self.d_inner, 1)
        self.A_log = nn.Parameter(torch.log(A))
        self.A_log._no_weight_decay = True
        self.D = nn.Parameter(torch.ones(self.d_inner, device=device))
        self.D._no_weight_decay = True

        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias, **factory)

    # ------------------------------------------------------------------
    def active_backend(self, device_type="cpu"):
        """The backend this layer runs for tensors on ``device_type``."""
        return resolve_backend(device_type, self.backend)

    def forward(self, hidden_states, state: Optional[MambaState] = None, return_state=False):
        """Apply the layer to ``hidden_states`` ``[B, L, d_model]``.

        With ``state`` (from a previous call with ``return_state=True``) the
        sequence continues from where that call stopped: processing a signal
        in consecutive pieces gives the same output as processing it whole.
        """
        backend = resolve_backend(hidden_states.device.type, self.backend)
        if backend == "mamba_ssm" and state is None and not return_state and causal_conv1d_available():
            return self._forward_mamba_ssm(hidden_states)
        # mamba-ssm without causal-conv1d: our conv, its scan kernel; a carried
        # state: our scan (selective_scan_fn picks it)
        return self._forward_ours(hidden_states, state, return_state, backend)

    def _forward_ours(self, h, state, return_state, backend):
        Bsz, L, _ = h.shape
        d = self.d_inner
        # Two half projections give contiguous x and z (no copy of a strided z).
        w, b = self.in_proj.weight, self.in_proj.bias
        x = F.linear(h, w[:d], None if b is None else b[:d])
        z = F.linear(h, w[d:], None if b is None else b[d:])

        # Depthwise causal convolution over time (left context from the state)
        # and mamba-ssm's SiLU after it, in one call.
        # The next call's left context (only when asked: F.pad copies all of x).
        K = self.d_conv
        context = None if state is None else state.conv.to(x.dtype)
        ctx = None
        if return_state:
            ctx = (F.pad(x[:, -(K - 1):], (0, 0, max(0, K - 1 - L), 0)) if state is None
                   else torch.cat([context, x], dim=1)[:, -(K - 1):])
        x = causal_conv1d_silu(x, self.conv1d.weight, self.conv1d.bias, context, backend=backend)

        x_dbl = F.linear(x, self.x_proj.weight)
        dt, Bm, Cm = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        # bias is added inside the scan; low_rank_linear: a faster weight
        # gradient for this rank-to-d_inner product on the CPU (its docstring)
        delta = low_rank_linear(dt, self.dt_proj.weight)
        cdt = torch.promote_types(x.dtype, torch.float32)
        A = -torch.exp(self.A_log.to(cdt))
        y, last = selective_scan_fn(
            x,
            delta,
            A,
            Bm,
            Cm,
            self.D.to(cdt),
            z,
            delta_bias=self.dt_proj.bias.to(cdt),
            delta_softplus=True,
            h0=None if state is None else state.ssm,
            return_last_state=True,
            backend=backend,
        )
        out = self.out_proj(y.to(h.dtype))
        if return_state:
            return out, MambaState(conv=ctx.detach(), ssm=last.detach())
        return out

    def _forward_mamba_ssm(self, h):
        """mamba-ssm's fused CUDA path, called exactly as mamba_ssm.Mamba does."""
        ops = mamba_ssm_ops()
        L = h.shape[1]
        xz = torch.einsum("oi,bli->bol", self.in_proj.weight, h)
        if self.in_proj.bias is not None:
            xz = xz + self.in_proj.bias.to(xz.dtype)[None, :, None]
        A = -torch.exp(self.A_log.float())
        out = ops.mamba_inner_fn(
            xz,
            self.conv1d.weight,
            self.conv1d.bias,
            self.x_proj.weight,
            self.dt_proj.weight,
            self.out_proj.weight,
            self.out_proj.bias,
            A,
            None,
            None,
            self.D.float(),
            delta_bias=self.dt_proj.bias.float(),
            delta_softplus=True,
        )
        assert out.shape[1] == L
        return out

    def extra_repr(self):
        return (f"d_model={self.d_model}, d_state={self.d_state}, d_conv={self.d_conv}, "
                f"expand={self.expand}, dt_rank={self.dt_rank}, backend={self.backend or 'auto'}")
