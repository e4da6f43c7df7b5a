"""The Mamba layer: mamba-ssm parity (names, shapes, init), exactness of the
whole layer against a reference, causality, streaming and backend choice."""
import math
import os
import subprocess
import sys

import pytest
import torch

from reference_mamba import mamba_reference, rel_err
from se_mamba.nn import Block, Mamba, MambaBlock, RMSNorm
from se_mamba.nn.backend import resolve_backend

# mamba_ssm.Mamba(d_model=64, d_state=16, d_conv=4, expand=4): names and shapes
# (mamba-ssm `mamba_ssm/modules/mamba_simple.py`), written out here independently of the implementation.
MAMBA_SSM_LAYOUT_64_16_4_4 = {
    "A_log": (256, 16),
    "D": (256,),
    "in_proj.weight": (512, 64),
    "conv1d.weight": (256, 1, 4),
    "conv1d.bias": (256,),
    "x_proj.weight": (36, 256),
    "dt_proj.weight": (256, 4),
    "dt_proj.bias": (256,),
    "out_proj.weight": (64, 256),
}


def test_state_dict_layout_matches_mamba_ssm():
    m = Mamba(64, d_state=16, d_conv=4, expand=4)
    assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == MAMBA_SSM_LAYOUT_64_16_4_4
    assert list(m.state_dict())[:2] == ["A_log", "D"]  # own parameters first, as in mamba-ssm
    assert sum(p.numel() for p in m.parameters()) == 65280  # 65,280 per SEMamba mixer


def test_constructor_defaults_match_mamba_ssm():
    m = Mamba(24)
    assert (m.d_state, m.d_conv, m.expand, m.d_inner, m.dt_rank) == (16, 4, 2, 48, 2)
    assert m.in_proj.bias is None and m.out_proj.bias is None and m.conv1d.bias is not None
    assert Mamba(24, bias=True).in_proj.bias is not None
    assert Mamba(24, conv_bias=False).conv1d.bias is None
    assert Mamba(100, dt_rank=7).dt_rank == 7


def test_initialisation_matches_mamba_ssm():
    torch.manual_seed(3)
    m = Mamba(64, d_state=16, expand=4, dt_min=0.001, dt_max=0.1)
    assert torch.equal(m.A_log, torch.log(torch.arange(1, 17).float()).repeat(256, 1))
    assert torch.equal(m.D, torch.ones(256))
    dt = torch.nn.functional.softplus(m.dt_proj.bias)  # inverse-softplus init
    assert dt.min() >= 0.001 * (1 - 1e-5) and dt.max() <= 0.1 * (1 + 1e-5)
    assert dt.log().std() > 0.5  # log-uniform spread, not a constant
    std = m.dt_rank**-0.5
    assert m.dt_proj.weight.abs().max() <= std and m.dt_proj.weight.abs().max() > 0.8 * std
    mc = Mamba(64, dt_init="constant", dt_scale=2.0)
    assert torch.allclose(mc.dt_proj.weight, torch.full_like(mc.dt_proj.weight, 2.0 * 4**-0.5))
    assert getattr(m.A_log, "_no_weight_decay", False) and getattr(m.D, "_no_weight_decay", False)
    with pytest.raises(NotImplementedError):
        Mamba(8, dt_init="normal")


def _random_state_dict(m, gen):
    """A state dict with every parameter randomised (as after training)."""
    sd = {}
    for k, v in m.state_dict().items():
        x = torch.randn(v.shape, generator=gen, dtype=torch.float64) * 0.3
        if k == "A_log":
            x = torch.log(torch.rand(v.shape, generator=gen, dtype=torch.float64) * 4 + 0.05)
        sd[k] = x
    return sd


@pytest.mark.parametrize("backend", ["fused", "torch"])
@pytest.mark.parametrize("bias", [False, True])
def test_layer_equals_reference_outputs_and_all_gradients(backend, bias):
    gen = torch.Generator().manual_seed(7)
    m = Mamba(20, d_state=6, d_conv=4, expand=2, bias=bias, backend=backend).double()
    sd = _random_state_dict(m, gen)
    m.load_state_dict(sd, strict=True)  # loads like a mamba-ssm checkpoint
    x = torch.randn(3, 47, 20, generator=gen, dtype=torch.float64, requires_grad=True)
    ref_p = {k: v.clone().requires_grad_() for k, v in sd.items()}
    xr = x.detach().clone().requires_grad_()
    ref = mamba_reference(ref_p, xr, d_state=6, d_conv=4, dt_rank=m.dt_rank)
    out = m(x)
    assert rel_err(out, ref) < 1e-10
    gout = torch.randn_like(ref)
    names = list(sd)
    g_ref = torch.autograd.grad((ref * gout).sum(), [xr] + [ref_p[k] for k in names])
    params = dict(m.named_parameters())
    g = torch.autograd.grad((out * gout).sum(), [x] + [params[k] for k in names])
    for name, a, b in zip(["input"] + names, g, g_ref):
        assert rel_err(a, b) < 1e-10, f"gradient of {name}"


@pytest.mark.parametrize("backend", ["fused", "torch"])
def test_layer_float32_close_to_float64(backend):
    torch.manual_seed(0)
    m = Mamba(64, d_state=16, expand=4, backend=backend)
    x = torch.randn(2, 321, 64)
    out = m(x)
    ref = m.double()(x.double())
    assert out.dtype == torch.float32 and rel_err(out, ref) < 1e-4


@pytest.mark.parametrize("backend", ["fused", "torch"])
def test_layer_is_causal(backend):
    m = Mamba(16, d_state=8, backend=backend)
    x = torch.randn(2, 60, 16)
    y = m(x)
    x2 = x.clone()
    x2[:, 35:] = torch.randn(2, 25, 16) * 10
    y2 = m(x2)
    assert torch.equal(y[:, :35], y2[:, :35])
    assert not torch.allclose(y[:, 35:], y2[:, 35:])


@pytest.mark.parametrize("backend", ["fused", "torch"])
@pytest.mark.parametrize("pieces", [[50], [1, 2, 47], [17, 3, 30], [2, 2, 2, 44]])
def test_streaming_pieces_equal_whole(backend, pieces):
    """Carrying MambaState across pieces (even pieces shorter than d_conv)
    reproduces the whole-sequence output."""
    m = Mamba(16, d_state=8, backend=backend).double()
    x = torch.randn(2, sum(pieces), 16, dtype=torch.float64)
    whole = m(x)
    state, outs, t = None, [], 0
    for n in pieces:
        y, state = m(x[:, t:t + n], state=state, return_state=True)
        outs.append(y)
        t += n
    assert rel_err(torch.cat(outs, 1), whole) < 1e-12


def test_layer_deterministic():
    m = Mamba(32, expand=4)
    x = torch.randn(3, 100, 32, requires_grad=True)
    y1 = m(x)
    g1 = torch.autograd.grad(y1.sum(), [x, m.A_log])
    y2 = m(x)
    g2 = torch.autograd.grad(y2.sum(), [x, m.A_log])
    assert torch.equal(y1, y2) and all(torch.equal(a, b) for a, b in zip(g1, g2))


def test_rmsnorm_formula_and_layout():
    n = RMSNorm(10, eps=1e-5)
    assert list(n.state_dict()) == ["weight"] and n.bias is None
    with torch.no_grad():
        n.weight.copy_(torch.linspace(0.5, 2, 10))
    x = torch.randn(4, 7, 10)
    expect = x / torch.sqrt((x * x).mean(-1, keepdim=True) + 1e-5) * n.weight
    assert torch.allclose(n(x), expect, atol=1e-6)


def test_block_is_pre_norm_residual():
    blk = Block(16, d_state=8)
    assert set(k.split(".")[0] for k in blk.state_dict()) == {"mixer", "norm"}
    x = torch.randn(2, 12, 16)
    assert torch.allclose(blk(x), x + blk.mixer(blk.norm(x)))


def test_mamba_block_bidirectional_and_names():
    mb = MambaBlock(16, d_state=8, expand=4)
    keys = set(mb.state_dict())
    assert "forward_blocks.0.mixer.in_proj.weight" in keys
    assert "backward_blocks.0.norm.weight" in keys
    assert "forward_blocks.0.mixer.A_log" in keys and len(keys) == 2 * 10
    x = torch.randn(2, 30, 16)
    y = mb(x)
    fwd = mb.forward_blocks[0](x)
    bwd = torch.flip(mb.backward_blocks[0](torch.flip(x, [1])), [1])
    assert y.shape == (2, 30, 32) and torch.allclose(y, torch.cat([fwd, bwd], -1))
    # the backward branch sees the future: not causal
    x2 = x.clone()
    x2[:, 20:] += 1
    assert not torch.allclose(mb(x2)[:, :20], y[:, :20])


def test_mamba_block_causal_and_streaming():
    mb = MambaBlock(16, d_state=8, n_layer=2, bidirectional=False).double()
    assert not hasattr(mb, "backward_blocks") and mb.out_features == 16
    x = torch.randn(2, 40, 16, dtype=torch.float64)
    y = mb(x)
    x2 = x.clone()
    x2[:, 25:] = 0
    assert torch.equal(mb(x2)[:, :25], y[:, :25])
    y1, s = mb(x[:, :13], return_state=True)
    y2 = mb(x[:, 13:], state=s)
    assert rel_err(torch.cat([y1, y2], 1), y) < 1e-12
    with pytest.raises(ValueError, match="causal"):
        MambaBlock(16)(x.float(), return_state=True)


def test_mamba_block_init_rescales_out_proj():
    torch.manual_seed(0)
    mb = MambaBlock(64, expand=4, n_layer=4)
    w = torch.cat([b.mixer.out_proj.weight.flatten() for b in mb.forward_blocks])
    bound = 1 / math.sqrt(256) / math.sqrt(4)  # kaiming-uniform(a=sqrt 5) / sqrt(n_layer)
    assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound


# ----------------------------------------------------------------- backends
def test_backend_resolution(monkeypatch):
    monkeypatch.delenv("SE_MAMBA_BACKEND", raising=False)
    assert resolve_backend("cpu") == "fused"
    assert resolve_backend("cpu", "torch") == "torch"
    monkeypatch.setenv("SE_MAMBA_BACKEND", "torch")
    assert resolve_backend("cpu") == "torch"
    assert resolve_backend("cpu", "fused") == "fused"  # argument beats environment
    assert Mamba(8).active_backend() == "torch"
    monkeypatch.setenv("SE_MAMBA_BACKEND", "nope")
    with pytest.raises(ValueError, match="SE_MAMBA_BACKEND='nope' is not a Mamba backend"):
        resolve_backend("cpu")
    with pytest.raises(RuntimeError, match="needs CUDA tensors"):
        resolve_backend("cpu", "mamba_ssm")
    with pytest.raises(RuntimeError, match="CPU-only"):
        resolve_backend("cuda", "fused")


def test_auto_uses_mamba_ssm_for_cuda_when_importable(monkeypatch):
    import se_mamba.nn.backend as be

    monkeypatch.setattr(be, "mamba_ssm_ops", lambda: object())
    assert be.resolve_backend("cuda") == "mamba_ssm"
    monkeypatch.setattr(be, "mamba_ssm_ops", lambda: None)
    assert be.resolve_backend("cuda") == "torch"
    with pytest.raises(RuntimeError, match="pip install 'se-mamba\\[cuda\\]'"):
        be.resolve_backend("cuda", "mamba_ssm")


def test_fallback_without_compiler_warns_and_runs():
    """Where the kernel cannot be built the layer still runs (torch backend)."""
    code = (
        "import warnings, torch\n"
        "from se_mamba.nn import Mamba\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    m = Mamba(8)\n"
        "    y = m(torch.randn(1, 5, 8))\n"
        "print(m.active_backend(), tuple(y.shape), any('pure-PyTorch' in str(x.message) for x in w))\n"
    )
    env = dict(os.environ, PATH="/nonexistent", CXX="no-such-compiler-xyz")
    env.pop("SE_MAMBA_BACKEND", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "torch (1, 5, 8) True"


# ---------------------------------------------------------------- CUDA paths
class FakeMambaSSM:
    """mamba-ssm's selective_scan_interface API (channels-first) over our
    PyTorch scan, for the CUDA code paths on a machine without CUDA. Like the
    real module without causal-conv1d: ``causal_conv1d_cuda`` is None and
    ``mamba_inner_fn`` fails."""

    causal_conv1d_cuda = None

    def __init__(self):
        self.scan_calls = 0

    def selective_scan_fn(self, u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                          return_last_state=False):
        from se_mamba.nn.selective_scan import selective_scan_fn

        self.scan_calls += 1
        t = lambda x: None if x is None else x.transpose(1, 2)  # noqa: E731
        res = selective_scan_fn(t(u), t(delta), A, t(B), t(C), D, t(z), delta_bias, delta_softplus,
                                return_last_state=return_last_state, backend="torch")
        return (t(res[0]), res[1]) if return_last_state else t(res)

    def mamba_inner_fn(self, *args, **kwargs):
        raise AssertionError("causal_conv1d_cuda is not available. Please install causal-conv1d.")


@pytest.fixture
def fake_mamba_ssm(monkeypatch):
    import se_mamba.nn.backend as backend
    import se_mamba.nn.mamba as mamba_mod

    fake = FakeMambaSSM()
    monkeypatch.setattr(backend, "mamba_ssm_ops", lambda: fake)
    backend.causal_conv1d_available.cache_clear()
    monkeypatch.setattr(mamba_mod, "resolve_backend", lambda device, name=None: "mamba_ssm")
    yield fake
    backend.causal_conv1d_available.cache_clear()


def test_mamba_ssm_without_causal_conv1d_and_streaming(fake_mamba_ssm):
    """Without causal-conv1d the layer does not call mamba_inner_fn (which would
    fail) but our conv + mamba-ssm's scan; streaming calls (a carried state,
    which mamba-ssm's kernel cannot take) run our scan: both equal ours."""
    torch.manual_seed(0)
    layer = Mamba(d_model=16, d_state=8, expand=2, backend="torch")
    x = torch.randn(2, 40, 16)
    with torch.no_grad():
        ref = layer._forward_ours(x, None, False, "torch")
        whole = layer(x)
        assert fake_mamba_ssm.scan_calls == 1
        first, state = layer(x[:, :15], return_state=True)
        second, _ = layer(x[:, 15:], state=state, return_state=True)
    assert torch.allclose(whole, ref, atol=1e-5)
    assert torch.allclose(torch.cat([first, second], 1), ref, atol=1e-5)
    assert fake_mamba_ssm.scan_calls == 2  # the first piece (no state in); not the continued one


def test_cuda_without_mamba_ssm_warns_once(monkeypatch):
    import warnings

    import se_mamba.nn.backend as backend

    monkeypatch.setattr(backend, "mamba_ssm_ops", lambda: None)
    backend.warn_slow_cuda_scan.cache_clear()
    with pytest.warns(RuntimeWarning, match=r"pip install 'se-mamba\[cuda\]'"):
        assert backend.resolve_backend("cuda") == "torch"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert backend.resolve_backend("cuda") == "torch"  # once per process
    backend.warn_slow_cuda_scan.cache_clear()
