"""The model zoo: exact sizes, official state-dict layout, shapes, causality,
weight sharing, PCS, registry and YAML."""
import glob
import os

import pytest
import torch
from hyperpyyaml import load_hyperpyyaml

from se_mamba.models import (build_model, list_models, load_official_checkpoint,
                             perceptual_contrast_stretch)
from se_mamba.models.pcs import pcs_gains, stretch_magnitude
from se_mamba.nn.spectral import SpectralFrontEnd

def n_params(m):
    return sum(p.numel() for p in m.parameters())


def small(name, **kw):
    """Small configurations of the same classes (fast on CPU)."""
    base = {"channels": 8, "num_blocks": 2}
    if name.startswith(("semamba_a", "semamba_c", "mambattention")):
        base["mamba"] = {"d_state": 4, "expand": 2}
    if name.startswith(("mambattention", "lstm_attention")):
        base["attention_heads"] = 2
    if name.startswith("lstm"):
        base["lstm"] = {"hidden": 6}
    if name == "mpsenet":
        base["conformer"] = {"n_head": 2}
    if name == "semamba_basic":
        base = {"hidden": 16, "d_state": 4}
    if name in ("sbm", "sbm_causal", "mamba_base"):
        base = {"backbone": {"hidden": 16, "num_layers": 1, "full_res_channels": 8, "mamba": {"d_state": 4}}}
    if name == "sb_ncsnpp":
        base = {"backbone": {"channels": 8, "channel_mult": [1, 2], "attention": True}, "sb_steps": 2}
    return build_model(name, **{**base, **kw})


# ----------------------------------------------------------------- sizes
def test_semamba_advanced_exact_parameter_counts():
    m = build_model("semamba_advanced")
    assert n_params(m) == 2_258_769
    assert n_params(m.dense_encoder) == 382_592
    assert n_params(m.mask_decoder) == 382_287
    assert n_params(m.phase_decoder) == 382_338
    assert all(n_params(b) == 277_888 for b in m.TSMamba)
    assert n_params(m.TSMamba[0].time_mamba.forward_blocks[0].mixer) == 65_280


def test_mambattention_and_ablation_parameter_counts():
    assert n_params(build_model("mambattention")) == 2_325_841
    assert n_params(build_model("mambattention_attn_after")) == 2_325_841
    assert n_params(build_model("mambattention_freq_first")) == 2_325_841
    no_share = n_params(build_model("mambattention_no_sharing"))
    assert no_share == 2_325_841 + 4 * 16_768 and round(no_share / 1e6, 2) == 2.39
    assert n_params(build_model("mpsenet")) == 2_048_849


# --------------------------------------------------- official state-dict names
SEMAMBA_BLOCK_KEYS = [  # the official checkpoints' names, per TF block (written out, not derived)
    "time_mamba.forward_blocks.0.mixer.A_log", "time_mamba.forward_blocks.0.mixer.D",
    "time_mamba.forward_blocks.0.mixer.in_proj.weight", "time_mamba.forward_blocks.0.mixer.conv1d.weight",
    "time_mamba.forward_blocks.0.mixer.conv1d.bias", "time_mamba.forward_blocks.0.mixer.x_proj.weight",
    "time_mamba.forward_blocks.0.mixer.dt_proj.weight", "time_mamba.forward_blocks.0.mixer.dt_proj.bias",
    "time_mamba.forward_blocks.0.mixer.out_proj.weight", "time_mamba.forward_blocks.0.norm.weight",
]


def expected_semamba_keys(n_blocks=4, attention=False):
    keys = []
    for i in range(n_blocks):
        p = f"{'TFMambAttention' if attention else 'TSMamba'}.{i}."
        for axis in ("time_mamba", "freq_mamba"):
            for branch in ("forward_blocks", "backward_blocks"):
                keys += [p + k.replace("time_mamba", axis).replace("forward_blocks", branch)
                         for k in SEMAMBA_BLOCK_KEYS]
        keys += [p + "tlinear.weight", p + "tlinear.bias", p + "flinear.weight", p + "flinear.bias"]
        if attention:
            keys += [p + "attention.layernorm.weight", p + "attention.layernorm.bias",
                     p + "attention.attn.in_proj_weight", p + "attention.attn.in_proj_bias",
                     p + "attention.attn.out_proj.weight", p + "attention.attn.out_proj.bias"]
    enc = ["dense_encoder.dense_conv_1.0.weight", "dense_encoder.dense_conv_1.0.bias",
           "dense_encoder.dense_conv_1.1.weight", "dense_encoder.dense_conv_1.1.bias",
           "dense_encoder.dense_conv_1.2.weight",
           "dense_encoder.dense_conv_2.0.weight", "dense_encoder.dense_conv_2.0.bias",
           "dense_encoder.dense_conv_2.1.weight", "dense_encoder.dense_conv_2.1.bias",
           "dense_encoder.dense_conv_2.2.weight"]

    def dense(prefix):
        return [f"{prefix}.dense_block.dense_block.{i}.{j}.{w}" for i in range(4)
                for j, ws in ((0, ("weight", "bias")), (1, ("weight", "bias")), (2, ("weight",)))
                for w in ws]

    mask = dense("mask_decoder") + [
        "mask_decoder.mask_conv.0.weight", "mask_decoder.mask_conv.0.bias",
        "mask_decoder.mask_conv.1.weight", "mask_decoder.mask_conv.1.bias",
        "mask_decoder.mask_conv.2.weight", "mask_decoder.mask_conv.2.bias",
        "mask_decoder.mask_conv.3.weight", "mask_decoder.mask_conv.4.weight",
        "mask_decoder.mask_conv.4.bias", "mask_decoder.lsigmoid.slope"]
    phase = dense("phase_decoder") + [
        "phase_decoder.phase_conv.0.weight", "phase_decoder.phase_conv.0.bias",
        "phase_decoder.phase_conv.1.weight", "phase_decoder.phase_conv.1.bias",
        "phase_decoder.phase_conv.2.weight", "phase_decoder.phase_conv_r.weight",
        "phase_decoder.phase_conv_r.bias", "phase_decoder.phase_conv_i.weight",
        "phase_decoder.phase_conv_i.bias"]
    return set(enc + dense("dense_encoder") + keys + mask + phase)


def test_semamba_state_dict_names_are_official():
    sd = build_model("semamba_advanced").state_dict()
    assert set(sd) == expected_semamba_keys()
    assert tuple(sd["mask_decoder.lsigmoid.slope"].shape) == (201, 1)
    assert tuple(sd["TSMamba.0.tlinear.weight"].shape) == (128, 64, 1)  # ConvTranspose1d(128, 64, 1)
    assert tuple(sd["dense_encoder.dense_conv_2.0.weight"].shape) == (64, 64, 1, 3)


def test_mambattention_state_dict_names_are_official():
    sd = build_model("mambattention").state_dict()
    assert set(sd) == expected_semamba_keys(attention=True) and len(sd) == 289


def test_official_checkpoint_loads_strict(tmp_path):
    """A file saved like the originals' ({'generator': sd}, DDP 'module.'
    prefixes allowed) loads through the documented helper, strict."""
    for name in ("semamba_advanced", "mambattention", "mpsenet"):
        m = small(name)
        path = tmp_path / f"{name}.pth"
        torch.save({"generator": {"module." + k: v for k, v in m.state_dict().items()},
                    "steps": 10}, path)
        kw = {"mamba": {"d_state": 4, "expand": 2}} if "mamba" in name else {}
        if name == "mambattention":
            kw["attention_heads"] = 2
        if name == "mpsenet":
            kw["conformer"] = {"n_head": 2, "attn_batch_first": True}
        m2 = load_official_checkpoint(str(path), **kw)
        assert type(m2) is type(m)
        for (k1, v1), (k2, v2) in zip(m.state_dict().items(), m2.state_dict().items()):
            assert k1 == k2 and torch.equal(v1, v2)
    sem = small("semamba_advanced")
    torch.save(sem.state_dict(), tmp_path / "bare.pth")  # bare state dict, d_state inferred
    assert isinstance(load_official_checkpoint(str(tmp_path / "bare.pth")), type(sem))


def test_official_checkpoint_errors_are_one_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pth: no such checkpoint file"):
        load_official_checkpoint(str(tmp_path / "missing.pth"))
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pth: not a readable torch checkpoint"):
        load_official_checkpoint(str(tmp_path / "junk.pth"))
    torch.save({"generator": {"foo.weight": torch.zeros(1)}}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="not a SEMamba, MambAttention or MP-SENet generator"):
        load_official_checkpoint(str(tmp_path / "other.pth"))


# ----------------------------------------------------------- shapes/lengths
@pytest.mark.parametrize("seconds", [1.0, 2.37, 0.1])
@pytest.mark.parametrize("name", ["semamba_advanced", "semamba_causal", "mambattention", "mpsenet",
                                  "lstm_attention", "semamba_basic"])
def test_output_length_equals_input(name, seconds):
    m = small(name).eval()
    n = int(seconds * 16000)
    with torch.no_grad():
        y = m.enhance(torch.randn(2, n) * 0.1)
    assert y.shape == (2, n) and torch.isfinite(y).all()


def test_forward_layouts_follow_the_originals():
    m = small("semamba_advanced").eval()
    fe = SpectralFrontEnd()
    mag, pha, com = fe.stft(torch.randn(1, 8000))
    assert mag.shape == (1, 201, 81)
    out_mag, out_pha, out_com = m(mag, pha)
    assert out_mag.shape == mag.shape and out_pha.shape == pha.shape and out_com.shape == (1, 201, 81, 2)
    assert torch.allclose(out_com[..., 0], out_mag * torch.cos(out_pha))
    assert (out_pha.abs() <= torch.pi + 1e-6).all()  # atan2 range
    # magnitude mask in (0, beta=2) times the noisy magnitude
    ratio = out_mag / mag.clamp_min(1e-6)
    assert (ratio >= 0).all() and (ratio <= 2.0 + 1e-5).all()


def test_front_end_round_trip_and_normalisation():
    fe = SpectralFrontEnd()
    x = torch.randn(3, 12345)
    mag, pha, _ = fe.stft(x)
    assert torch.allclose(fe.istft(mag, pha, length=12345), x, atol=1e-4)
    # identity network: enhance() returns the input (normalisation undone)
    from se_mamba.nn.spectral import amplitude_normalise

    norm, xs = amplitude_normalise(x)
    assert torch.allclose(xs.pow(2).mean(-1), torch.ones(3), atol=1e-4)
    assert torch.allclose(xs / norm, x, atol=1e-6)


# ------------------------------------------------------------- causality
@pytest.mark.parametrize("name", ["semamba_causal", "semamba_basic"])
def test_causal_models_ignore_the_future(name):
    """Perturbing input frames >= t0 leaves output frames < t0 unchanged (the
    network), and samples before the perturbation minus one window unchanged
    (waveform, without the whole-file gain)."""
    torch.manual_seed(1)
    m = small(name).eval()
    fe = SpectralFrontEnd()
    wav = torch.randn(1, 16000) * 0.1
    wav2 = wav.clone()
    s0 = 9000
    wav2[:, s0:] += torch.randn(1, 16000 - s0)
    with torch.no_grad():
        if name == "semamba_basic":
            y1, y2 = m.enhance(wav), m.enhance(wav2)
        else:
            y1, y2 = m.enhance(wav, normalise=False), m.enhance(wav2, normalise=False)
            mag, pha, _ = fe.stft(wav)
            mag2, pha2, _ = fe.stft(wav2)
            t0 = (s0 - fe.n_fft // 2) // fe.hop_length  # first frame touching the change
            o1, o2 = m(mag, pha)[0], m(mag2, pha2)[0]
            assert torch.equal(o1[..., :t0], o2[..., :t0])
            assert not torch.allclose(o1[..., t0:], o2[..., t0:])
    cut = s0 - fe.n_fft
    assert torch.allclose(y1[:, :cut], y2[:, :cut], atol=1e-6)
    assert not torch.allclose(y1[:, s0:], y2[:, s0:])


def test_noncausal_model_sees_the_future():
    m = small("semamba_advanced").eval()
    fe = SpectralFrontEnd()
    mag, pha, _ = fe.stft(torch.randn(1, 8000))
    mag2 = mag.clone()
    mag2[..., 60:] += 1.0
    with torch.no_grad():
        assert not torch.allclose(m(mag, pha)[0][..., :40], m(mag2, pha)[0][..., :40])


# -------------------------------------------------------- weight sharing
def test_attention_is_shared_within_a_block_not_across():
    m = small("mambattention")
    blk = m.TFMambAttention[0]
    assert not hasattr(blk, "time_attention") and not hasattr(blk, "freq_attention")
    assert m.TFMambAttention[0].attention is not m.TFMambAttention[1].attention
    n_attn = sum(1 for mod in blk.modules() if isinstance(mod, torch.nn.MultiheadAttention))
    assert n_attn == 1  # one parameter set per block
    # the time pass alone and the frequency pass alone both send gradient to it
    x = torch.randn(1, 8, 6, 5)
    b, c, t, f = x.shape
    w = blk.attention.attn.in_proj_weight
    seq_t = x.permute(0, 3, 2, 1).reshape(b * f, t, c)
    seq_f = x.permute(0, 2, 3, 1).reshape(b * t, f, c)
    gt = torch.autograd.grad(blk._pass("time", seq_t).pow(2).sum(), w)[0]
    gf = torch.autograd.grad(blk._pass("freq", seq_f).pow(2).sum(), w)[0]
    assert gt.abs().sum() > 0 and gf.abs().sum() > 0 and not torch.allclose(gt, gf)


def test_no_sharing_ablation_has_two_attention_modules():
    blk = small("mambattention_no_sharing").TFMambAttention[0]
    assert not hasattr(blk, "attention")
    assert blk.time_attention is not blk.freq_attention


def test_attention_order_and_axis_order_change_the_function():
    torch.manual_seed(0)
    x = torch.randn(1, 8, 6, 5)
    outs = {}
    for name in ("mambattention", "mambattention_attn_after", "mambattention_freq_first"):
        torch.manual_seed(0)
        blk = small(name).TFMambAttention[0].eval()
        with torch.no_grad():
            outs[name] = blk(x)
    assert not torch.allclose(outs["mambattention"], outs["mambattention_attn_after"])
    assert not torch.allclose(outs["mambattention"], outs["mambattention_freq_first"])


def test_mpsenet_attention_axis():
    """batch_first (ours) attends along the time axis within one sequence; the
    official non-batch-first module mixes different sequences (B*F axis)."""
    from se_mamba.models.tf_block import AttentionModule

    torch.manual_seed(0)
    ours = AttentionModule(8, 2, batch_first=True).eval()
    official = AttentionModule(8, 2, batch_first=False).eval()
    official.load_state_dict(ours.state_dict())
    x = torch.randn(3, 7, 8)  # 3 sequences of 7 frames
    x2 = x.clone()
    x2[1] += 1.0  # change sequence 1 only
    with torch.no_grad():
        assert torch.equal(ours(x)[0], ours(x2)[0])  # other sequences unaffected
        assert not torch.allclose(official(x)[0], official(x2)[0])  # leaks across sequences


# ------------------------------------------------------------------- PCS
def test_pcs_gains_per_bin():
    g = pcs_gains()
    assert g.shape == (201,)
    assert torch.all(g[:3] == 1.0) and torch.all(g[10:110] == 1.4)
    assert g[3] == pytest.approx(1.070175439) and g[4] == pytest.approx(1.070175439)
    assert g[9] == pytest.approx(1.287719298) and g[110] == pytest.approx(1.322807018)
    assert g[189] == pytest.approx(1.161403509) and g[200] == pytest.approx(1.077192982)


def test_pcs_applies_the_gain_in_the_log1p_domain():
    """Per bin b: expm1(g_b * log1p(|X|)), written out here bin by bin; the
    analysis/synthesis around it is an exact round trip (unit gains)."""
    mag = torch.rand(201, 30, dtype=torch.float64) * 5
    out = stretch_magnitude(mag)
    table = {0: 1.0, 2: 1.0, 3: 1.070175439, 7: 1.182456140, 9: 1.287719298, 10: 1.4,
             109: 1.4, 110: 1.322807018, 159: 1.238596491, 160: 1.161403509, 200: 1.077192982}
    for b, g in table.items():
        assert torch.allclose(out[b], torch.expm1(g * torch.log1p(mag[b])), rtol=1e-12)
    x = torch.randn(2, 12345, dtype=torch.float64) * 0.1
    same = perceptual_contrast_stretch(x, normalise_peak=False, gains=torch.ones(201, dtype=torch.float64))
    assert torch.allclose(same, x, atol=1e-10)
    # a stretch raises loud bins more than quiet ones: the output is not a scaled input
    y = perceptual_contrast_stretch(x, normalise_peak=False)
    assert y.shape == x.shape and not torch.allclose(y / y.norm(), x / x.norm(), atol=1e-3)
    y = perceptual_contrast_stretch(torch.randn(2, 8000))
    assert torch.allclose(y.abs().amax(-1), torch.ones(2, dtype=y.dtype))


# ----------------------------------------------------- registry and YAML
def test_registry_rejects_unknown_names_and_arguments():
    with pytest.raises(ValueError, match="unknown model 'semamba_xl'; available:"):
        build_model("semamba_xl")
    with pytest.raises(ValueError, match="model 'mpsenet'"):
        build_model("mpsenet", no_such_argument=1)
    with pytest.raises(ValueError, match="no causal variant"):
        build_model("mpsenet", causal=True)


def test_build_spec_spells_out_every_argument_and_rebuilds_the_same_model(monkeypatch):
    """A packed model stores build_spec: with every default written down, the
    same model comes back even after a registry default changes."""
    from se_mamba.models import registry

    for name in list_models():
        model = build_model(name)
        again = build_model(**model.build_spec)
        assert repr(again) == repr(model), name
        assert {k: v.shape for k, v in again.state_dict().items()} == \
            {k: v.shape for k, v in model.state_dict().items()}, name
    spec = build_model("semamba_advanced", channels=8, num_blocks=1).build_spec
    assert spec["n_fft"] == 400 and spec["mamba"] == {"d_state": 16, "d_conv": 4, "expand": 4, "n_layer": 1,
                                                      "norm_eps": 1e-5}
    # a later release that changes the paper default does not change the packed model
    cls, defaults, desc = registry.MODELS["semamba_advanced"]
    monkeypatch.setitem(registry.MODELS, "semamba_advanced", (cls, {**defaults, "mamba": {"expand": 2}}, desc))
    assert build_model("semamba_advanced", channels=8, num_blocks=1).TSMamba[0].time_mamba.forward_blocks[0] \
        .mixer.d_inner == 16
    assert build_model(**spec).TSMamba[0].time_mamba.forward_blocks[0].mixer.d_inner == 32


def test_build_spec_spells_out_the_inner_defaults_too(monkeypatch):
    """Nested options left at None meant "the inner class's defaults" (the SBM
    backbone and its Mamba layers, the STFT representation, the Conformer): a
    pack then changed meaning when one of those changed. The spec writes them
    down, so a changed inner default leaves a packed model as it was."""
    from se_mamba.bridge import backbone
    from se_mamba.models import tf_block
    from se_mamba.nn.spectral import CompressedComplexSpec

    def shapes(m):
        return {k: tuple(v.shape) for k, v in m.state_dict().items()}

    small = {"sbm": {"backbone": {"hidden": 8, "num_layers": 1}}, "mamba_base": {"backbone": {"hidden": 8}},
             "mpsenet": {"channels": 8, "num_blocks": 1}}
    specs = {n: build_model(n, **kw).build_spec for n, kw in small.items()}
    before = {n: shapes(build_model(**spec)) for n, spec in specs.items()}
    assert specs["sbm"]["representation"] == {"n_fft": 510, "hop_length": 128, "alpha": 0.5, "beta": 0.15}
    # a later release changes inner defaults: the SBM's Mamba width, the
    # representation's FFT size, the Conformer's convolution kernel
    monkeypatch.setitem(backbone.SBM_MAMBA, "expand", 3)
    monkeypatch.setattr(CompressedComplexSpec.__init__, "__defaults__", (254, 128, 0.5, 0.15))
    d = list(tf_block.ConformerBlock.__init__.__defaults__)
    d[2] = 15  # ccm_kernel_size
    monkeypatch.setattr(tf_block.ConformerBlock.__init__, "__defaults__", tuple(d))
    for n, kw in small.items():
        assert shapes(build_model(n, **kw)) != before[n], n  # the change is real
        assert shapes(build_model(**specs[n])) == before[n], n  # and the pack does not see it


@pytest.mark.parametrize("name", sorted(list_models()))
def test_every_registry_model_trains_forward_and_backward(name):
    """Each registry name, at small sizes of the same classes, runs a waveform
    forward pass and a backward pass that reaches (almost) every parameter."""
    model = small(name)
    model.train()
    wav = torch.randn(2, 3200) * 0.1
    out = model.enhance(wav)
    out.pow(2).mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert out.shape == wav.shape
    assert sum(g is not None and g.abs().sum() > 0 for g in grads) > 0.9 * len(grads)


def test_pcs_is_usable_from_yaml():
    hp = load_hyperpyyaml("""
pcs_target: !name:se_mamba.models.pcs.perceptual_contrast_stretch
    normalise_peak: False
""")
    x = torch.randn(4000, dtype=torch.float64) * 0.1
    assert torch.allclose(hp["pcs_target"](x), perceptual_contrast_stretch(x, normalise_peak=False))


@pytest.mark.parametrize("name", sorted(list_models()))
def test_a_registry_name_is_its_class_plus_the_arguments_that_differ(name):
    """The constructor defaults are the paper configuration: building the class
    directly with the variant's arguments gives the registry's model, weight for
    weight under the same seed (one home for a model's configuration)."""
    from se_mamba.models.registry import MODELS

    cls, differ, _ = MODELS[name]
    torch.manual_seed(0)
    a = build_model(name)
    torch.manual_seed(0)
    b = cls(**differ)
    sa, sb_ = a.state_dict(), b.state_dict()
    assert sa.keys() == sb_.keys() and all(torch.equal(sa[k], sb_[k]) for k in sa)
    for attr in ("sb_steps", "sampler", "t_eps", "causal", "input_normalisation"):
        assert getattr(a, attr, None) == getattr(b, attr, None)
