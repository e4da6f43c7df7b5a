"""Mamba's dt_proj product with its CPU weight gradient (se_mamba/nn/low_rank_linear.py)
against an explicit float64 sum over tokens, gradcheck, and the Mamba layer's own gradients."""
import pytest
import torch
import torch.nn.functional as F

from se_mamba.nn.low_rank_linear import low_rank_linear
from se_mamba.nn.mamba import Mamba


@pytest.mark.parametrize("rank,out", [(1, 32), (2, 64), (4, 256)])
def test_weight_and_input_gradients_match_the_sums_over_tokens(rank, out):
    g = torch.Generator().manual_seed(0)
    # a strided input, like Mamba's dt (a slice of x_proj's output)
    x_dbl = torch.randn(3, 37, rank + 5, generator=g, dtype=torch.float64)
    x = x_dbl[..., :rank].requires_grad_()
    w = torch.randn(out, rank, generator=g, dtype=torch.float64, requires_grad=True)
    grad_out = torch.randn(3, 37, out, generator=g, dtype=torch.float64)
    y = low_rank_linear(x, w)
    assert y.grad_fn is not None and "LowRankLinear" in type(y.grad_fn).__name__
    assert torch.equal(y, F.linear(x, w))
    gx, gw = torch.autograd.grad(y, (x, w), grad_out)
    ref_w = torch.zeros(out, rank, dtype=torch.float64)
    ref_x = torch.zeros(3, 37, rank, dtype=torch.float64)
    for b in range(3):
        for t in range(37):
            ref_w += torch.outer(grad_out[b, t], x[b, t].detach())
            ref_x[b, t] = w.detach().t() @ grad_out[b, t]
    assert (gw - ref_w).abs().max() <= 1e-12 * ref_w.abs().max()
    assert (gx - ref_x).abs().max() <= 1e-12 * ref_x.abs().max()
    assert gw.is_contiguous() and gx.shape == x.shape


def test_gradcheck():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 9, 3, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(7, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(low_rank_linear, (x, w))


def test_weight_without_gradient_or_under_autocast_is_plain_linear():
    x = torch.randn(2, 5, 3, requires_grad=True)
    w = torch.randn(8, 3)
    assert "LowRankLinear" not in type(low_rank_linear(x, w).grad_fn).__name__
    w.requires_grad_()
    with torch.no_grad():
        assert low_rank_linear(x, w).grad_fn is None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = low_rank_linear(x, w)
    assert y.dtype == torch.bfloat16 and "LowRankLinear" not in type(y.grad_fn).__name__


def test_mamba_layer_gradients_match_plain_linear(monkeypatch):
    """The layer's parameter gradients with the low-rank path equal those of
    F.linear (its autograd) to float32 rounding; the forward is unchanged."""
    torch.manual_seed(0)
    layer = Mamba(d_model=16, d_state=8)
    h = torch.randn(2, 50, 16)

    def grads():
        layer.zero_grad()
        y = layer(h)
        y.square().mean().backward()
        return y.detach(), {n: p.grad.clone() for n, p in layer.named_parameters()}

    y_new, g_new = grads()
    monkeypatch.setattr("se_mamba.nn.mamba.low_rank_linear", F.linear)
    y_old, g_old = grads()
    assert torch.equal(y_new, y_old)
    for name in g_old:
        scale = g_old[name].abs().max()
        assert (g_new[name] - g_old[name]).abs().max() <= 1e-5 * scale, name
