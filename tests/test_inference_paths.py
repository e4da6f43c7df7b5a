"""The faster paths of the generators (docs/performance.md) compute what
the plain formulations compute.

Without autograd a ``TFBlock`` runs its sequences in tiles, a ``DenseBlock``
fills one buffer instead of concatenating, and attention goes straight to
``scaled_dot_product_attention``. The references here are the paths the
models take with autograd (whole passes, ``torch.cat``) and
``nn.MultiheadAttention``'s own forward. The causal codec's per-frame norm
and left-padded convolution are checked against their formulas.
"""
import pytest
import torch
import torch.nn.functional as F

from se_mamba.models import tf_block
from se_mamba.models.codec import DenseBlock, FrameNorm2d
from se_mamba.models.registry import build_model
from se_mamba.models.tf_block import AttentionModule, TFBlock
from se_mamba.nn.conv import TimeCausalConv2d

SMALL = dict(channels=16, num_blocks=2, mamba=dict(d_state=8, expand=2))


def rel(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


def both_paths(module, *args):
    """(no-autograd output, autograd output) of ``module`` in eval mode."""
    module.eval()
    with torch.no_grad():
        fast = module(*args)
    with torch.enable_grad():
        ref = module(*args).detach()
    return fast, ref


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(causal=True),
    dict(attention="shared"),
    dict(attention="shared", causal=True),
    dict(attention="separate", attention_position="after", axis_order="freq_first"),
    dict(sequence="conformer", conformer=dict(n_head=2)),
    dict(sequence="lstm", lstm=dict(hidden=12)),
])
def test_tiled_block_equals_the_whole_pass(monkeypatch, kwargs):
    """Tiles of 37 frames (sequences of 13 and 9 frames: uneven tiles and a
    remainder), a batch of two: the same output as the whole pass."""
    monkeypatch.setattr(tf_block, "TILE_TOKENS", 37)
    torch.manual_seed(0)
    kwargs = {"mamba": dict(d_state=8, expand=2), "attention_heads": 2, **kwargs}
    blk = TFBlock(16, **kwargs)
    x = torch.randn(2, 16, 13, 9)
    fast, ref = both_paths(blk, x)
    assert fast.shape == ref.shape == x.shape
    assert rel(fast, ref) < 1e-6


def test_tiles_really_split_the_sequences(monkeypatch):
    """The tiled path is taken: each Mamba call sees at most one tile."""
    monkeypatch.setattr(tf_block, "TILE_TOKENS", 40)
    blk = TFBlock(16, mamba=dict(d_state=8, expand=2)).eval()
    seen = []
    blk.time_mamba.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[0] * i[0].shape[1]))
    with torch.no_grad():
        blk(torch.randn(1, 16, 13, 9))
    assert len(seen) == 3 and max(seen) <= 40  # 9 sequences of 13 frames: 3 per tile


@pytest.mark.parametrize("causal", [False, True])
def test_dense_block_buffer_equals_concatenation(causal):
    torch.manual_seed(0)
    blk = DenseBlock(8, depth=4, causal=causal)
    fast, ref = both_paths(blk, torch.randn(1, 8, 20, 11))
    assert torch.equal(fast, ref)


@pytest.mark.parametrize("batch_first, causal", [(True, False), (True, True), (False, False)])
def test_attention_equals_multihead_attention(batch_first, causal):
    """Values and gradients against ``nn.MultiheadAttention``'s own forward
    (the causal mask as a boolean ``attn_mask``, True = masked; the
    wrong-axis MP-SENet attention has no causal use)."""
    torch.manual_seed(0)
    m = AttentionModule(16, 4, dropout=0.0, batch_first=batch_first)
    x = torch.randn(3, 10, 16, requires_grad=True)
    mask = torch.ones(10, 10, dtype=torch.bool).triu(1) if causal else None
    ours = m(x, causal)
    h = m.layernorm(x)
    ref = m.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
    assert rel(ours, ref) < 1e-6
    g = torch.randn_like(ours)
    grads = torch.autograd.grad(ours, [x, m.attn.in_proj_weight, m.attn.out_proj.weight], g)
    grads_ref = torch.autograd.grad(ref, [x, m.attn.in_proj_weight, m.attn.out_proj.weight], g)
    for a, b in zip(grads, grads_ref):
        assert rel(a, b) < 1e-5
    m.eval()
    with torch.no_grad():  # the path nn.MultiheadAttention takes a fast path on
        h = m.layernorm(x)
        assert rel(m(x, causal), m.attn(h, h, h, attn_mask=mask, need_weights=False)[0]) < 1e-6


@pytest.mark.parametrize("name", ["semamba_advanced", "semamba_causal", "mpsenet", "mambattention"])
def test_paper_models_enhance_alike_on_both_paths(monkeypatch, name):
    """Whole paper-layout generators (small sizes), tiled as a 10 s input is."""
    monkeypatch.setattr(tf_block, "TILE_TOKENS", 300)
    torch.manual_seed(0)
    kwargs = dict(SMALL)
    if name == "mpsenet":
        kwargs.pop("mamba")
        kwargs["conformer"] = dict(n_head=2)
    model = build_model(name, **kwargs).eval()
    wav = torch.randn(1, 4000) * 0.1
    with torch.no_grad():
        fast = model.enhance(wav)
    with torch.enable_grad():
        ref = model.enhance(wav).detach()
    assert rel(fast, ref) < 1e-5


def test_frame_norm_is_the_per_frame_formula():
    torch.manual_seed(0)
    norm = FrameNorm2d(3).double()
    with torch.no_grad():
        norm.weight.uniform_(0.5, 2.0)
        norm.bias.uniform_(-1.0, 1.0)
    x = torch.randn(2, 3, 5, 7, dtype=torch.float64) * 3 + 1
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    ref = (x - mean) / torch.sqrt(var + 1e-5) * norm.weight.view(3, 1, 1) + norm.bias.view(3, 1, 1)
    assert torch.allclose(norm(x), ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dilation", [1, 2, 8])
def test_time_causal_conv_is_a_left_padded_convolution(dilation):
    """Offline: the convolution of the input behind (k - 1) * dilation zero
    frames, values and gradients."""
    torch.manual_seed(0)
    conv = TimeCausalConv2d(4, 5, (3, 3), dilation=(dilation, 1)).double()
    x = torch.randn(2, 4, 20, 9, dtype=torch.float64, requires_grad=True)
    y = conv(x)
    ref = F.conv2d(F.pad(x, (0, 0, 2 * dilation, 0)), conv.weight, conv.bias, padding=(0, 1),
                   dilation=(dilation, 1))
    assert y.shape == ref.shape == (2, 5, 20, 9)
    assert torch.allclose(y, ref, rtol=1e-12, atol=1e-12)
    g = torch.randn_like(y)
    for a, b in zip(torch.autograd.grad(y, [x, conv.weight], g), torch.autograd.grad(ref, [x, conv.weight], g)):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-12)


def sdpa_reference(qkv, heads, causal):
    n, length, three_e = qkv.shape
    q, k, v = qkv.double().view(n, length, 3, heads, three_e // 3 // heads).permute(2, 0, 3, 1, 4)
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal).transpose(1, 2).reshape(n, length, -1)


@pytest.mark.parametrize("n, length, heads, head, causal", [
    (3, 1, 2, 8, False), (3, 7, 2, 8, True), (2, 201, 8, 8, False), (2, 37, 8, 8, True),
    (2, 33, 1, 5, False), (2, 17, 3, 16, True)])
def test_attention_kernel_equals_sdpa(n, length, heads, head, causal):
    """The compiled inference attention (csrc/attention_cpu.cpp) against
    ``scaled_dot_product_attention`` in float64: lengths that are not whole
    blocks of 16 keys, one key, causal rows, the head size it is built for (8)
    and others (its generic loop)."""
    from se_mamba.nn.scan_kernel import load_kernel

    kernel = load_kernel()
    torch.manual_seed(0)
    for dtype, tol in ((torch.float64, 1e-13), (torch.float32, 2e-6)):
        qkv = torch.randn(n, length, 3 * heads * head, dtype=dtype) * 3  # peaked softmax rows too
        out = kernel.attention_fwd(qkv, heads, causal, head ** -0.5)
        assert out.dtype == dtype and out.shape == (n, length, heads * head)
        assert rel(out.double(), sdpa_reference(qkv, heads, causal)) < tol


def test_attention_kernel_runs_for_inference_only(monkeypatch):
    """``multi_head_attention`` calls the kernel without autograd at heads of
    up to 8 channels, and ``scaled_dot_product_attention`` when a gradient is
    needed, for larger heads (slower there), with dropout, or with the
    ``torch`` backend; the outputs agree either way."""
    from se_mamba.nn import cpu_attention
    from se_mamba.nn.scan_kernel import load_kernel

    calls = []

    class Counting:
        def attention_fwd(self, *args):
            calls.append(args[1:])
            return load_kernel().attention_fwd(*args)

    monkeypatch.setattr(cpu_attention, "load_kernel", lambda: Counting())
    qkv = torch.randn(2, 9, 3 * 16, requires_grad=True)
    with torch.no_grad():
        fast = cpu_attention.multi_head_attention(qkv, 2, causal=True)
    assert calls == [(2, True, pytest.approx(8 ** -0.5, rel=1e-15))]
    slow = cpu_attention.multi_head_attention(qkv, 2, causal=True)
    assert slow.grad_fn is not None and len(calls) == 1
    assert rel(fast, slow.detach()) < 1e-6
    with torch.no_grad():
        cpu_attention.multi_head_attention(qkv, 1, causal=True)  # 16 channels per head
        cpu_attention.multi_head_attention(qkv, 2, dropout=0.1)
        monkeypatch.setenv("SE_MAMBA_BACKEND", "torch")
        cpu_attention.multi_head_attention(qkv, 2)
    assert len(calls) == 1
