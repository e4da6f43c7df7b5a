"""SB models (SBM, SB-NCSN++, Mamba-base), their loss, EMA, BridgeBrain and the mini_reverb recipe."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml

from se_mamba.brains.ema import EMA
from se_mamba.losses import BridgeLoss
from se_mamba.models import build_model
from se_mamba.bridge.backbone import SBMBackbone

ROOT = os.path.join(os.path.dirname(__file__), "..")
SB_YAML = os.path.join(ROOT, "hparams", "train", "mini_sb.yaml")
TINY_SBM = {"backbone": {"hidden": 16, "num_layers": 1, "full_res_channels": 8, "mamba": {"d_state": 4}}}
# three levels: attention at 1/4 resolution. At 1/2 (two levels) a 2.7 s test
# utterance has 21,600 positions, and one network call took 3.2 s instead of 0.3
TINY_NCSN = {"backbone": {"channels": 8, "channel_mult": [1, 2, 2], "attention": True}}


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def cspec(B=1, F=256, T=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(B, F, T, generator=g), torch.randn(B, F, T, generator=g))


# ------------------------------------------------------------ architecture
def test_default_sizes_are_the_documented_ones():
    # docs/bridge.md states these counts
    assert n_params(build_model("sbm")) == 1_017_314
    assert n_params(build_model("sbm_causal")) == 853_474
    assert n_params(build_model("mamba_base")) == 950_626
    assert n_params(build_model("sb_ncsnpp")) == 1_479_202


@pytest.mark.parametrize("compress", [(2, 2), (1, 2), (3, 1)])
def test_causal_backbone_is_causal_and_the_default_is_not(compress):
    torch.manual_seed(0)
    causal = SBMBackbone(hidden=16, num_layers=2, compress=compress, full_res_channels=8,
                         mamba={"d_state": 4}, causal=True).eval()
    x, y, t = cspec(T=21), cspec(T=21, seed=1), torch.full((1,), 0.7)
    k = 9
    x2, y2 = x.clone(), y.clone()
    x2[..., k + 1:] += 3 * cspec(T=21 - k - 1, seed=2)
    y2[..., k + 1:] -= 2 * cspec(T=21 - k - 1, seed=3)
    with torch.no_grad():
        a, b = causal(x, y, t), causal(x2, y2, t)
    assert torch.allclose(a[..., : k + 1], b[..., : k + 1], atol=1e-5)   # the past is untouched
    assert (a[..., k + 1:] - b[..., k + 1:]).abs().max() > 1e-3          # the future does change
    bidi = SBMBackbone(hidden=16, num_layers=2, compress=compress, full_res_channels=8,
                       mamba={"d_state": 4}).eval()
    with torch.no_grad():
        assert (bidi(x, y, t)[..., :k + 1] - bidi(x2, y2, t)[..., :k + 1]).abs().max() > 1e-3


def test_time_embedding_is_a_fixed_buffer_and_conditions_the_output():
    m = build_model("sbm", **TINY_SBM).eval()
    names = dict(m.named_parameters())
    assert "net.time_embedding.W" in m.state_dict() and "net.time_embedding.W" not in names
    y = cspec()
    with torch.no_grad():
        assert (m(y, y, torch.ones(1)) - m(y, y, torch.full((1,), 0.3))).abs().max() > 1e-4
    # every layer (and the full-band block) has its own projection of the embedding
    assert all(layer.emb_proj is not None for layer in m.net.layers) and m.net.fullband.emb_proj is not None


def test_mamba_base_sees_only_y():
    m = build_model("mamba_base", **TINY_SBM).eval()
    assert m.net.time_embedding is None and not m.is_bridge
    y = cspec()
    with torch.no_grad():
        assert torch.equal(m(cspec(seed=5), y, torch.ones(1)), m(y, y, torch.full((1,), 0.2)))


@pytest.mark.parametrize("name, kw", [("sbm", TINY_SBM), ("sb_ncsnpp", TINY_NCSN), ("mamba_base", TINY_SBM)])
def test_enhance_keeps_length_level_and_is_deterministic(name, kw):
    torch.manual_seed(0)
    m = build_model(name, **kw).eval()
    wav = torch.randn(2, 5003) * 0.1
    with torch.no_grad():
        a = m.enhance(wav, steps=1) if m.is_bridge else m.enhance(wav)
        b = m.enhance(wav, steps=1) if m.is_bridge else m.enhance(wav)
        louder = m.enhance(10 * wav, steps=1) if m.is_bridge else m.enhance(10 * wav)
    assert a.shape == wav.shape and torch.equal(a, b)
    # peak normalisation in, gain back out: the output scales with the input.
    # The tolerance is relative to the output's peak: 10 * x / peak rounds
    # differently from x / peak in float32, and the U-Net carries that ulp-level
    # difference to ~2e-6 of the peak (an element-wise rtol failed on AMD CPUs
    # where outputs cross zero); a missing or wrong gain is off by the peak itself.
    assert (louder - 10 * a).abs().max() <= 1e-5 * (10 * a).abs().max()
    assert m.enhance(wav[0]).shape == (5003,)


def test_one_step_is_the_network_on_y_at_t_equal_1():
    torch.manual_seed(0)
    m = build_model("sbm", **TINY_SBM).eval()
    y = cspec()
    with torch.no_grad():
        assert torch.equal(m.enhance_spec(y, steps=1), m.net(y, y, torch.ones(1)))
        ode = m.enhance_spec(y, steps=3, sampler="ode")
        s1 = m.enhance_spec(y, steps=3, sampler="sde", generator=torch.Generator().manual_seed(4))
        s2 = m.enhance_spec(y, steps=3, sampler="sde", generator=torch.Generator().manual_seed(4))
    assert torch.equal(s1, s2) and not torch.equal(ode, s1)


def test_training_draw_times_and_bridge_sample():
    m = build_model("sbm", t_eps=0.05, **TINY_SBM)
    x0, y = cspec(B=64), cspec(B=64, seed=1)
    g = torch.Generator().manual_seed(0)
    x_t, t = m.training_draw(x0, y, generator=g)
    assert t.min() >= 0.05 and t.max() <= 1.0 and t.std() > 0.1
    # z is complex standard normal: given t, x_t - mean has variance std_t^2 (real + imag)
    w0, wy, std = (v.float() for v in m.schedule.marginal(t))
    resid = (x_t - w0[:, None, None] * x0 - wy[:, None, None] * y) / std[:, None, None]
    assert resid.abs().pow(2).mean().item() == pytest.approx(1.0, rel=0.02)
    xb, tb = build_model("mamba_base", **TINY_SBM).training_draw(x0, y)
    assert torch.equal(xb, y) and torch.all(tb == 1)


def test_registry_and_options_errors():
    with pytest.raises(ValueError, match="sampler must be"):
        build_model("sbm", sampler="heun", **TINY_SBM)
    with pytest.raises(ValueError, match="unknown SB schedule"):
        build_model("sbm", schedule={"name": "cosine"}, **TINY_SBM)
    with pytest.raises(ValueError, match="not divisible by the frequency compression"):
        SBMBackbone(n_freq=255)
    from se_mamba.inference import MambaEnhancer

    with pytest.raises(ValueError, match="Schrödinger-bridge models only, not to SEMamba"):
        MambaEnhancer.from_model(build_model("semamba_advanced", channels=4, num_blocks=1), sb_steps=5)
    assert MambaEnhancer.from_model(build_model("sbm", **TINY_SBM), sb_steps=5, sampler="sde").options == \
        {"steps": 5, "sampler": "sde"}


def test_one_step_at_an_earlier_time_is_the_network_at_that_time():
    """t_max (the SBM paper's check of a one-step model at t = 0.5 / 0.8): one
    step from t is the network's estimate net(y, y, t), through every layer
    down to MambaEnhancer."""
    from se_mamba.inference import MambaEnhancer

    torch.manual_seed(0)
    model = build_model("sbm", **TINY_SBM).eval()
    y = torch.randn(1, 256, 20, dtype=torch.cfloat)
    with torch.no_grad():
        for t in (0.5, 0.8):
            assert torch.equal(model.enhance_spec(y, t_max=t), model.net(y, y, torch.full((1,), t)))
        assert not torch.equal(model.enhance_spec(y, t_max=0.5), model.enhance_spec(y))
        x = torch.randn(1, 8000) * 0.1
        enh = MambaEnhancer.from_model(model, t_max=0.5)
        assert torch.equal(enh.enhance_batch(x), model.enhance(x, t_max=0.5))
    with pytest.raises(ValueError, match="t_max must be in"):
        MambaEnhancer.from_model(model, t_max=1.5)
    with pytest.raises(ValueError, match="Schrödinger-bridge models only"):
        MambaEnhancer.from_model(build_model("semamba_advanced", channels=4, num_blocks=1), t_max=0.5)


# ------------------------------------------------------------ loss and EMA
def test_bridge_loss_against_hand_values():
    est = torch.tensor([[1 + 1j, 0j]])
    ref = torch.tensor([[1 + 0j, 2j]])
    loss = BridgeLoss(complex=1.0, magnitude=0.5, time=0.1)
    total, parts = loss(est, ref, torch.tensor([0.5, -0.5]), torch.tensor([0.0, 0.0]))
    # complex: (|i|^2 + |-2i|^2) / 2 = 2.5; magnitude: ((sqrt2 - 1)^2 + 4) / 2; time: 0.5
    mag = ((2 ** 0.5 - 1) ** 2 + 4) / 2
    assert parts["complex"] == pytest.approx(2.5) and parts["magnitude"] == pytest.approx(mag)
    assert parts["time"] == pytest.approx(0.5)
    assert float(total) == pytest.approx(2.5 + 0.5 * mag + 0.05)
    with pytest.raises(ValueError, match="needs est_wav"):
        loss(est, ref)


def test_ema_ramps_then_follows_the_decay():
    net = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(0.0)
    ema = EMA(net, decay=0.9)
    for n in range(30):
        with torch.no_grad():
            net.weight.fill_(1.0)
        before = float(ema.model.weight)
        ema.update(net)
        d = min(0.9, (1 + n) / (10 + n))
        assert float(ema.model.weight) == pytest.approx(d * before + (1 - d))
    assert not any(p.requires_grad for p in ema.model.parameters())
    restored = EMA(net, decay=0.9)
    restored.load_state_dict(ema.state_dict())
    assert int(restored.updates) == 30
    # torch's AveragedModel does the averaging (the one kept implementation)
    assert isinstance(ema, torch.optim.swa_utils.AveragedModel)


# ------------------------------------------------------------------ brain
@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    from se_mamba.data.mini_corpus import CorpusConfig, generate

    root = str(tmp_path_factory.mktemp("corpus"))
    generate(root, CorpusConfig(seed=5, n_train=4, n_valid=2, n_test=2, reverb_prob=1.0), progress=False)
    return root


def tiny_sizes(name):
    return {name: TINY_NCSN if name == "sb_ncsnpp" else TINY_SBM}


@pytest.mark.parametrize("name", ["sbm", "sb_ncsnpp"])
def test_sb_training_step_under_bf16_autocast(tiny_corpus, tmp_path, name):
    """--precision bf16 reaches the SB networks, whose complex output is built in float32."""
    with open(SB_YAML) as f:
        hp = load_hyperpyyaml(f, {"data_folder": tiny_corpus, "output_folder": str(tmp_path), "model_name": name,
                                  "model_sizes": tiny_sizes(name)})
    from se_mamba.brains import BridgeBrain
    from se_mamba.dataio import make_dataset

    seen = []
    hp["generator"].net.register_forward_hook(
        lambda m, a, out: seen.append((torch.get_autocast_dtype("cpu"), torch.is_autocast_enabled("cpu"),
                                       out.dtype)))
    brain = BridgeBrain(modules=hp["modules"], hparams=hp, run_opts={"device": "cpu", "precision": "bf16"},
                    checkpointer=None)
    brain.init_optimizers()
    batch = next(iter(sb.dataio.dataloader.make_dataloader(
        make_dataset(hp["train_manifest"], tiny_corpus, segment=8000), batch_size=2)))
    brain.step += 1
    loss = brain.fit_batch(batch)
    assert seen == [(torch.bfloat16, True, torch.complex64)]
    assert torch.isfinite(loss) and brain.optimizer_step == 1 and brain.skipped_steps == 0


@pytest.mark.parametrize("name", ["sbm", "sb_ncsnpp", "mamba_base"])
def test_few_sb_training_steps_lower_the_loss(tiny_corpus, tmp_path, name):
    torch.manual_seed(0)
    with open(SB_YAML) as f:
        hp = load_hyperpyyaml(f, {"data_folder": tiny_corpus, "output_folder": str(tmp_path), "model_name": name,
                                  "model_sizes": tiny_sizes(name), "lr": 0.003})
    from se_mamba.brains import BridgeBrain
    from se_mamba.dataio import make_dataset

    brain = BridgeBrain(modules=hp["modules"], hparams=hp, run_opts={"device": "cpu"}, checkpointer=None)
    brain.init_optimizers()
    ds = make_dataset(hp["train_manifest"], tiny_corpus, segment=8000)
    batch = next(iter(sb.dataio.dataloader.make_dataloader(ds, batch_size=2)))
    model = brain.modules.generator

    def fixed_loss():
        # the same t and z every time: a loss that can only move with the weights
        torch.manual_seed(123)
        with torch.no_grad():
            return float(brain.generator_loss(brain.compute_forward(batch, sb.Stage.TRAIN))[0])

    before = fixed_loss()
    model.train()
    for _ in range(15):
        brain.fit_batch(batch)
    model.eval()
    after = fixed_loss()
    assert brain.skipped_steps == 0 and brain.optimizer_step == 15
    assert int(hp["ema"].updates) == 15
    assert after < 0.8 * before, (before, after)
    # the EMA weights moved away from the initial weights, towards the trained ones
    w0 = next(hp["ema"].model.parameters())
    assert not torch.equal(w0, next(model.parameters()))


def test_mini_reverb_recipe_trains_enhances_with_sb_steps_and_packs(tmp_path):
    """Stages 1-4 and 6 of recipes/mini_reverb on a tiny corpus, SB-NCSN++ at 3 SDE steps."""
    env = dict(os.environ, N_TRAIN="4", N_VALID="2", N_TEST="2", PRETRAINED_DIR=str(tmp_path / "pretrained"))
    run = os.path.join(ROOT, "recipes", "mini_reverb", "run.sh")
    common = ["--data_dir", str(tmp_path / "data"), "--exp_dir", str(tmp_path / "exp"), "--python", sys.executable]
    sizes = json.dumps(tiny_sizes("sb_ncsnpp"))
    train = ["bash", run, "--model", "sb_ncsnpp", "--stage", "1", "--stop_stage", "3", *common, "--",
             "--number_of_epochs=1", "--batch_size=2", "--segment=8000", f"--model_sizes={sizes}"]
    out = subprocess.run(train, capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    exp = tmp_path / "exp" / "sb_ncsnpp"
    assert "sb_ncsnpp" in (exp / "hyperparams.yaml").read_text()
    sde = ["bash", run, "--model", "sb_ncsnpp", "--stage", "3", "--stop_stage", "4", "--sb_steps", "3",
           "--sampler", "sde", *common]
    out = subprocess.run(sde, capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    enhanced = json.loads((exp / "enhanced" / "test_sde3" / "enhanced.json").read_text())
    assert len(enhanced) == 2
    assert "| si_sdr |" in (exp / "RESULTS_test_sde3.md").read_text()
    # the SDE noise is seeded per utterance: a fresh run gives the same samples (not the same
    # bytes: libsndfile stamps float WAVs with the time in their PEAK chunk)
    import soundfile as sf

    first = {u: sf.read(v["enhanced_wav"])[0] for u, v in enhanced.items()}
    (exp / "enhanced" / "test_sde3" / ".checkpoint").unlink()
    out = subprocess.run(sde[:6] + ["--stop_stage", "3"] + sde[8:], capture_output=True, text=True, env=env,
                         timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert all(np.array_equal(sf.read(v["enhanced_wav"])[0], first[u]) for u, v in enhanced.items())
    # stage 6 packs the EMA weights; the packed model reproduces the experiment
    pack = subprocess.run(["bash", run, "--model", "sb_ncsnpp", "--stage", "6", "--stop_stage", "6", *common],
                          capture_output=True, text=True, env=env, timeout=600)
    assert pack.returncode == 0, pack.stderr[-3000:]
    from se_mamba.recipe.enhance import load_experiment

    with open(tmp_path / "pretrained" / "hyperparams.yaml") as f:
        hp = load_hyperpyyaml(f)
    hp["pretrainer"].set_collect_in(str(tmp_path / "collect"))
    hp["pretrainer"].collect_files(default_source=str(tmp_path / "pretrained"))
    hp["pretrainer"].load_collected()
    trained, _ = load_experiment(str(exp))
    x = torch.randn(1, 8000) * 0.1
    with torch.no_grad():
        assert torch.equal(hp["model"].eval().enhance(x, steps=2), trained.enhance(x, steps=2))
    ema_state = torch.load(next((exp / "save").glob("CKPT*")) / "ema.ckpt")
    weights = {k[len("module."):]: v for k, v in ema_state.items() if k.startswith("module.")}
    assert weights.keys() == trained.state_dict().keys()
    assert all(torch.equal(v, trained.state_dict()[k]) for k, v in weights.items())


def test_the_old_brain_name_of_packages_made_before_the_rename_still_resolves():
    """Packages packed before the rename name ``se_mamba.brains.SBBrain`` in
    their training configuration; it resolves to BridgeBrain, with a warning."""
    import os

    from hyperpyyaml import load_hyperpyyaml

    import se_mamba.brains as brains

    old = os.path.join(os.path.dirname(__file__), "data", "packed", "mini_reverb_sbm", "train_hyperparams.yaml")
    with open(old) as f:
        assert "!name:se_mamba.brains.SBBrain" in f.read()
    with pytest.warns(DeprecationWarning, match="BridgeBrain"):
        cls = load_hyperpyyaml("brain_class: !name:se_mamba.brains.SBBrain\n")["brain_class"]
    assert cls is brains.BridgeBrain
    with pytest.raises(AttributeError):
        brains.NoSuchBrain  # noqa: B018
