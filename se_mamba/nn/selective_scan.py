"""Exact selective scan on CPU: fused C++ kernel, with a pure-PyTorch fallback.

Both compute the recurrence of ``mamba_ssm``'s ``selective_scan_ref``::

    delta = softplus(delta + delta_bias)            (if delta_softplus)
    h_t   = exp(delta_t * A) * h_{t-1} + delta_t * u_t * B_t
    y_t   = <h_t, C_t> + D * u_t
    out_t = y_t * silu(z_t)                          (if z is given)

but in the **channels-last** layout that ``Mamba`` produces naturally:
``u, delta, z: [B, L, d]``, ``B, C: [B, L, N]``, ``A: [d, N]``, ``D,
delta_bias: [d]``, optional initial state ``h0: [B, d, N]``.

Neither backend ever materialises a ``B*L*d*N`` tensor:

* ``fused`` (default): ``csrc/mamba_cpu.cpp``, vectorised over
  channels, state kept in cache; its backward recomputes chunks of 16 steps
  from stored chunk-boundary states and runs the adjoint recurrence.
* ``torch``: the same chunked algorithm with PyTorch ops (chunks of
  ``chunk`` steps, a few in-place ops per step, a hand-written backward);
  works without any compiler.

Example
-------
>>> import torch
>>> from se_mamba.nn.selective_scan import selective_scan_fn
>>> u, dt = torch.randn(2, 50, 8), torch.rand(2, 50, 8)
>>> A = -torch.rand(8, 4) - 0.5
>>> B, C = torch.randn(2, 50, 4), torch.randn(2, 50, 4)
>>> y = selective_scan_fn(u, dt, A, B, C, backend="torch")
>>> y.shape
torch.Size([2, 50, 8])
"""
import functools
import logging

import torch
import torch.nn.functional as F

from .scan_kernel import load_kernel

logger = logging.getLogger(__name__)

__all__ = ["selective_scan_fn", "scan_backend_available"]


# --------------------------------------------------------------------------
# pure-PyTorch chunked scan
# --------------------------------------------------------------------------
def _chunk_terms(u, delta, A, B, t0, t1):
    """Decays exp(delta A) and inputs delta*u*B for steps t0..t1: [B, K, d, N]."""
    dl = delta[:, t0:t1]
    decay = torch.exp(dl.unsqueeze(-1) * A)
    drive = (dl * u[:, t0:t1]).unsqueeze(-1) * B[:, t0:t1].unsqueeze(2)
    return decay, drive


class _ChunkedScan(torch.autograd.Function):
    """y_t = <h_t, C_t> with states recomputed chunk by chunk in the backward."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, h0, chunk):
        Bsz, L, d = u.shape
        h = u.new_zeros(Bsz, d, A.shape[1]) if h0 is None else h0.clone()
        y = u.new_empty(Bsz, L, d)
        ckpts = []
        for t0 in range(0, L, chunk):
            t1 = min(L, t0 + chunk)
            ckpts.append(h.clone())
            decay, drive = _chunk_terms(u, delta, A, B, t0, t1)
            states = torch.empty_like(decay)
            for k in range(t1 - t0):  # three ops a step: the sequential core
                h.mul_(decay[:, k]).add_(drive[:, k])
                states[:, k] = h
            y[:, t0:t1] = torch.einsum("bkdn,bkn->bkd", states, C[:, t0:t1])
        # (an empty sequence has no chunk: keep one state so shapes stay valid)
        ctx.save_for_backward(u, delta, A, B, C, torch.stack(ckpts or [h.clone()]))
        ctx.chunk = chunk
        ctx.has_h0 = h0 is not None
        return y, h

    @staticmethod
    def backward(ctx, dy, dlast):
        u, delta, A, B, C, ckpts = ctx.saved_tensors
        chunk = ctx.chunk
        L = u.shape[1]
        du, ddelta = torch.empty_like(u), torch.empty_like(delta)
        dB, dC = torch.empty_like(B), torch.empty_like(C)
        dA = torch.zeros_like(A)
        # mu carries exp(delta_{t+1} A) * lambda_{t+1}; a gradient on the last
        # state enters the adjoint there.
        mu = torch.zeros_like(ckpts[0]) if dlast is None else dlast.clone()
        dy = dy.contiguous()
        for c in reversed(range((L + chunk - 1) // chunk)):
            t0 = c * chunk
            t1 = min(L, t0 + chunk)
            K = t1 - t0
            decay, drive = _chunk_terms(u, delta, A, B, t0, t1)
            prev = torch.empty_like(decay)  # h_{t-1} for each step of the chunk
            h = ckpts[c].clone()
            for k in range(K):
                prev[:, k] = h
                h.mul_(decay[:, k]).add_(drive[:, k])
            states = torch.cat([prev[:, 1:], h.unsqueeze(1)], 1)
            g = dy[:, t0:t1]
            lam = g.unsqueeze(-1) * C[:, t0:t1].unsqueeze(2)  # g_t C_t, then + mu
            for k in reversed(range(K)):
                lam[:, k].add_(mu)
                mu = decay[:, k] * lam[:, k]
            dl, uc, Bc = delta[:, t0:t1], u[:, t0:t1], B[:, t0:t1]
            dC[:, t0:t1] = torch.einsum("bkdn,bkd->bkn", states, g)
            dB[:, t0:t1] = torch.einsum("bkdn,bkd->bkn", lam, dl * uc)
            lamB = torch.einsum("bkdn,bkn->bkd", lam, Bc)
            du[:, t0:t1] = lamB * dl
            q = lam * prev * decay  # dL/d(decay) * decay
            ddelta[:, t0:t1] = lamB * uc + torch.einsum("bkdn,dn->bkd", q, A)
            dA += torch.einsum("bkdn,bkd->dn", q, dl)
        dh0 = mu if ctx.has_h0 else None
        return du, ddelta, dA, dB, dC, dh0, None


def _torch_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, h0, chunk):
    if delta_bias is not None:
        delta = delta + delta_bias
    if delta_softplus:
        delta = F.softplus(delta)
    y, last = _ChunkedScan.apply(u, delta, A, B, C, h0, chunk)
    if D is not None:
        y = y + u * D
    if z is not None:
        y = y * F.silu(z)
    return y, last


# --------------------------------------------------------------------------
# fused C++ scan
# --------------------------------------------------------------------------
class _FusedScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus, h0, grad):
        # ``grad`` is decided by the caller: inside forward, needs_input_grad
        # is True under no_grad too, and the checkpoints (one activation's
        # worth of memory) would be written for nothing.
        kernel = load_kernel()
        out, last, ckpt = kernel.scan_fwd(u, delta, A, B, C, D, z, delta_bias, delta_softplus, h0, grad)
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, h0, ckpt if grad else None)
        ctx.delta_softplus = delta_softplus
        ctx.mark_non_differentiable(last)
        return out, last

    @staticmethod
    def backward(ctx, dout, _dlast):
        u, delta, A, B, C, D, z, delta_bias, h0, ckpt = ctx.saved_tensors
        du, ddelta, dA, dB, dC, dD, dz, dh0, dbias = load_kernel().scan_bwd(
            u, delta, A, B, C, D, z, delta_bias, ctx.delta_softplus, h0, ckpt, dout.contiguous()
        )
        return (
            du,
            ddelta,
            dA,
            dB,
            dC,
            dD if D is not None else None,
            dz if z is not None else None,
            dbias if delta_bias is not None else None,
            None,
            dh0 if h0 is not None else None,
            None,
        )


def scan_backend_available(backend):
    """Whether ``backend`` ('fused' or 'torch') can run here."""
    if backend == "torch":
        return True
    if backend == "fused":
        return load_kernel() is not None
    raise ValueError(f"unknown scan backend {backend!r}; expected 'fused' or 'torch'")


def selective_scan_fn(
    u,
    delta,
    A,
    B,
    C,
    D=None,
    z=None,
    delta_bias=None,
    delta_softplus=False,
    h0=None,
    return_last_state=False,
    backend="fused",
    chunk=8,
):
    """Selective scan (channels-last), exact to mamba-ssm's reference recurrence.

    Arguments
    ---------
    u, delta : torch.Tensor
        ``[B, L, d]`` input and (pre-bias, pre-softplus) step size.
    A : torch.Tensor
        ``[d, N]`` state matrix (negative for a stable scan).
    B, C : torch.Tensor
        ``[B, L, N]`` input-dependent input and output projections.
    D, delta_bias : torch.Tensor, optional
        ``[d]`` skip connection and step-size bias.
    z : torch.Tensor, optional
        ``[B, L, d]`` gate; the output is multiplied by ``silu(z)``.
    delta_softplus : bool
        Apply softplus to ``delta + delta_bias``.
    h0 : torch.Tensor, optional
        ``[B, d, N]`` initial state (streaming); differentiable.
    return_last_state : bool
        Also return the final state ``[B, d, N]`` (not differentiable).
    backend : str
        ``"fused"`` (C++; falls back to ``"torch"`` if it cannot be built),
        ``"torch"``, or ``"mamba_ssm"`` (mamba-ssm's CUDA scan kernel; it takes
        no initial state, so a call with ``h0`` runs ``"torch"``).
    chunk : int
        Steps per chunk of the ``"torch"`` backend.

    Returns
    -------
    torch.Tensor ``[B, L, d]`` (and the last state if requested).
    """
    dtype = u.dtype
    args = [t.contiguous() if t is not None else None for t in (u, delta, A, B, C, D, z, delta_bias)]
    args += [bool(delta_softplus), h0.contiguous() if h0 is not None else None]
    if any(isinstance(t, torch.Tensor) and t.dtype != dtype for t in args):
        # one dtype in the kernel: promote like mamba-ssm does (A, D are fp32)
        dtype = torch.promote_types(dtype, A.dtype)
        args = [t.to(dtype) if isinstance(t, torch.Tensor) else t for t in args]
    if backend == "fused" and load_kernel() is None:
        backend = "torch"
    if backend == "mamba_ssm" and h0 is not None:
        _note_stateful_fallback()
        backend = "torch"  # mamba-ssm's kernel cannot start from a carried state
    if backend == "mamba_ssm":
        return _mamba_ssm_scan(*args[:8], bool(delta_softplus), return_last_state)
    if backend == "fused":
        grad = torch.is_grad_enabled() and any(isinstance(t, torch.Tensor) and t.requires_grad for t in args)
        out, last = _FusedScan.apply(*args, grad)
    elif backend == "torch":
        out, last = _torch_scan(*args, chunk=chunk)
    else:
        raise ValueError(f"unknown scan backend {backend!r}; expected 'fused', 'torch' or 'mamba_ssm'")
    return (out, last) if return_last_state else out


@functools.lru_cache(maxsize=None)
def _note_stateful_fallback():
    logger.info("streaming Mamba calls carry a state that mamba-ssm's scan kernel cannot take: "
                "they run se_mamba's PyTorch scan (the offline calls keep mamba-ssm)")


def _mamba_ssm_scan(u, delta, A, B, C, D, z, delta_bias, softplus, return_last_state):
    """mamba-ssm's ``selective_scan_fn`` (channels-first) on our channels-last tensors."""
    from .backend import mamba_ssm_ops

    t = lambda x: None if x is None else x.transpose(1, 2).contiguous()  # noqa: E731
    res = mamba_ssm_ops().selective_scan_fn(t(u), t(delta), A, t(B), t(C), D, t(z), delta_bias=delta_bias,
                                            delta_softplus=softplus, return_last_state=return_last_state)
    if return_last_state:
        out, last = res
        return out.transpose(1, 2), last
    return res.transpose(1, 2)
