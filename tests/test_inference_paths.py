"""The inference-only paths of the generators (docs/performance.md) compute
what the autograd paths compute.

Without autograd a ``TFBlock`` runs its sequences in tiles, a ``DenseBlock``
fills one buffer instead of concatenating, and attention goes straight to
``scaled_dot_product_attention``. The references here are the paths the
models take with autograd (whole passes, ``torch.cat``) and
``nn.MultiheadAttention``'s own forward.
"""
import pytest
import torch

from se_mamba.models import tf_block
from se_mamba.models.codec import DenseBlock
from se_mamba.models.registry import build_model
from se_mamba.models.tf_block import AttentionModule, TFBlock

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
