"""Straightforward sequential references for the tests (float64, autograd).

Written from the equations of mamba-ssm's ``selective_scan_ref`` and its
``Mamba`` slow path, deliberately independent of se_mamba's code: one time
step at a time, the convolution as explicit taps.
"""
import torch
import torch.nn.functional as F


def scan_reference(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, h0=None):
    """Channels-last selective scan, one step at a time. Returns (y, last_state)."""
    if delta_bias is not None:
        delta = delta + delta_bias
    if delta_softplus:
        delta = F.softplus(delta)
    Bsz, L, d = u.shape
    h = torch.zeros(Bsz, d, A.shape[1], dtype=u.dtype) if h0 is None else h0
    ys = []
    # unbind (not slicing) keeps the autograd backward linear in L
    for u_t, dl_t, B_t, C_t in zip(u.unbind(1), delta.unbind(1), B.unbind(1), C.unbind(1)):
        h = torch.exp(dl_t[:, :, None] * A) * h + (dl_t * u_t)[:, :, None] * B_t[:, None, :]
        ys.append((h * C_t[:, None, :]).sum(-1))
    y = torch.stack(ys, 1)
    if D is not None:
        y = y + u * D
    if z is not None:
        y = y * F.silu(z)
    return y, h


def mamba_reference(p, x, d_state, d_conv, dt_rank):
    """mamba_ssm.Mamba forward from a parameter dict ``p`` (state-dict names)."""
    xz = x @ p["in_proj.weight"].T
    if p.get("in_proj.bias") is not None:
        xz = xz + p["in_proj.bias"]
    xi, z = xz.chunk(2, dim=-1)
    L = x.shape[1]
    w = p["conv1d.weight"][:, 0, :]  # [d, K]
    xpad = F.pad(xi, (0, 0, d_conv - 1, 0))  # zeros before t = 0
    conv = sum(w[:, k] * xpad[:, k:k + L, :] for k in range(d_conv))
    if p.get("conv1d.bias") is not None:
        conv = conv + p["conv1d.bias"]
    xi = F.silu(conv)
    dt, Bm, Cm = torch.split(xi @ p["x_proj.weight"].T, [dt_rank, d_state, d_state], dim=-1)
    delta = dt @ p["dt_proj.weight"].T + p["dt_proj.bias"]
    y, _ = scan_reference(xi, delta, -torch.exp(p["A_log"]), Bm, Cm, p["D"], z,
                          delta_softplus=True)
    out = y @ p["out_proj.weight"].T
    if p.get("out_proj.bias") is not None:
        out = out + p["out_proj.bias"]
    return out


def rel_err(a, b):
    """Norm-wise relative error ||a - b|| / ||b|| (0 when both are 0)."""
    a, b = a.detach().double(), b.detach().double()
    nb = b.norm()
    return (a - b).norm().item() / (nb.item() if nb > 0 else 1.0)
