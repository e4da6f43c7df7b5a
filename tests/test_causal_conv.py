"""Mamba's causal depthwise convolution + SiLU: the fused kernel against a
float64 step-by-step reference, values and every gradient."""
import pytest
import torch

from reference_mamba import rel_err
from se_mamba.nn.causal_conv import causal_conv1d_silu
from se_mamba.nn.mamba import Mamba, MambaState
from se_mamba.nn.scan_kernel import load_kernel

TOL = {torch.float64: 1e-12, torch.float32: 1e-5}


def conv_silu_reference(x, weight, bias, context):
    """silu(bias + sum_k w[:, k] x[t - (K-1) + k]), one time step at a time."""
    B, L, d = x.shape
    K = weight.shape[-1]
    past = torch.zeros(B, K - 1, d, dtype=x.dtype) if context is None else context
    xs = torch.cat([past, x], 1)
    out = []
    for t in range(L):
        pre = bias + sum(weight[:, 0, k] * xs[:, t + k] for k in range(K))
        out.append(pre * torch.sigmoid(pre))
    return torch.stack(out, 1)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("shape", [(2, 1, 8, 4), (3, 37, 70, 4), (2, 2, 33, 5), (4, 50, 32, 3)],
                         ids=lambda s: "B%dL%dd%dK%d" % s)
@pytest.mark.parametrize("with_context", [False, True])
def test_fused_matches_reference(dtype, shape, with_context):
    assert load_kernel() is not None
    B, L, d, K = shape
    g = torch.Generator().manual_seed(7)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    ref_ins = [r(B, L, d), r(d, 1, K), r(d), r(B, K - 1, d) if with_context else None]
    ref_ins = [t.requires_grad_() if t is not None else None for t in ref_ins]
    ins = [t.detach().to(dtype).requires_grad_() if t is not None else None for t in ref_ins]
    gout = r(B, L, d)
    ref = conv_silu_reference(*ref_ins)
    out = causal_conv1d_silu(*ins, backend="fused")
    assert out.dtype == dtype and out.shape == (B, L, d)
    assert rel_err(out, ref) < TOL[dtype]
    live = [i for i, t in enumerate(ref_ins) if t is not None]
    ref_g = torch.autograd.grad((ref * gout).sum(), [ref_ins[i] for i in live])
    got_g = torch.autograd.grad((out * gout.to(dtype)).sum(), [ins[i] for i in live])
    for i, a, b in zip(live, got_g, ref_g):
        assert rel_err(a, b) < TOL[dtype], f"gradient of input {i}"


def test_silu_is_accurate_over_the_whole_float_range():
    """The kernel's sigmoid uses a division-free reciprocal: within 2 ulp of
    float64 for pre-activations down to -69 (where the sigmoid reaches the
    kernel's floor of 1e-30), below that no larger than |x| * 1.1e-30, and
    finite everywhere."""
    x = torch.linspace(-100, 100, 200001, dtype=torch.float64).float()
    d = x.numel()
    w = torch.zeros(d, 1, 2)
    w[:, 0, 1] = 1.0  # pre_t = x_t
    out = causal_conv1d_silu(x.view(1, 1, d), w, None, backend="fused").flatten().double()
    xd = x.double()
    ref = xd * torch.sigmoid(xd)
    assert torch.isfinite(out).all()
    normal = (xd >= -69) & (xd != 0)
    assert ((out[normal] - ref[normal]).abs() / ref[normal].abs()).max() < 2 * torch.finfo(torch.float32).eps
    assert (out[~normal].abs() <= xd[~normal].abs() * 1.1e-30).all()


@pytest.mark.parametrize("return_state", [False, True])
def test_mamba_layer_fused_and_torch_convolutions_agree(return_state):
    torch.manual_seed(0)
    fused = Mamba(24, d_state=8, expand=2, backend="fused").double()
    plain = Mamba(24, d_state=8, expand=2, backend="torch").double()
    plain.load_state_dict(fused.state_dict())
    x = torch.randn(3, 40, 24, dtype=torch.float64, requires_grad=True)
    state = None
    if return_state:  # a carried convolution context and scan state
        state = MambaState(conv=torch.randn(3, 3, 48, dtype=torch.float64),
                           ssm=torch.randn(3, 48, 8, dtype=torch.float64))
    y1, y2 = fused(x, state=state), plain(x, state=state)
    assert rel_err(y1, y2) < 1e-10
    g1 = torch.autograd.grad(y1.square().sum(), [x, fused.conv1d.weight, fused.conv1d.bias])
    g2 = torch.autograd.grad(y2.square().sum(), [x, plain.conv1d.weight, plain.conv1d.bias])
    for a, b in zip(g1, g2):
        assert rel_err(a, b) < 1e-10


def test_kernel_rejects_mismatched_inputs():
    k = load_kernel()
    x = torch.randn(2, 5, 8)
    with pytest.raises(RuntimeError, match="w must be"):
        k.conv_silu_fwd(x, torch.randn(7, 4), None, None)
    with pytest.raises(RuntimeError, match="ctx must be"):
        k.conv_silu_fwd(x, torch.randn(8, 4), None, torch.randn(2, 2, 8))
    with pytest.raises(RuntimeError, match="bias must be"):
        k.conv_silu_fwd(x, torch.randn(8, 4), torch.randn(8, dtype=torch.float64), None)
