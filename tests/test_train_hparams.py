"""The training YAMLs build the models and settings they claim (paper sizes, originals' optimiser)."""
import os

import pytest
import torch
from hyperpyyaml import load_hyperpyyaml

ROOT = os.path.join(os.path.dirname(__file__), "..")
FULL = os.path.join(ROOT, "hparams", "train", "magphase.yaml")
# Parameter counts: the papers' (SEMamba 2.25M, MambAttention 2.33M: the official
# code's exact counts) and, for the other models, docs/model_card.md's table
PARAMS = {"semamba_advanced": 2_258_769, "semamba_causal": 1_981_009, "mambattention": 2_325_841,
          "mambattention_attn_after": 2_325_841, "mambattention_freq_first": 2_325_841,
          "mambattention_no_sharing": 2_392_913, "mpsenet": 2_048_849, "lstm_senet": 2_330_641,
          "lstm_attention": 2_397_713}
MAGPHASE = ["semamba_advanced", "semamba_causal", "mambattention", "mambattention_attn_after",
            "mambattention_no_sharing", "mambattention_freq_first", "mpsenet", "lstm_senet", "lstm_attention"]


def load(path, **over):
    with open(path) as f:
        return load_hyperpyyaml(f, {"data_folder": "/d", "output_folder": "/o", **over})


@pytest.mark.parametrize("name", MAGPHASE)
def test_full_size_yaml_builds_the_paper_model(name):
    hp = load(FULL, model_name=name)
    assert sum(p.numel() for p in hp["generator"].parameters()) == PARAMS[name]
    assert sum(p.numel() for p in hp["discriminator"].parameters()) == 181_650


def test_full_size_yaml_has_the_originals_training_settings():
    hp = load(FULL)
    opt = hp["g_opt_class"]([torch.nn.Parameter(torch.zeros(1))])
    g = opt.param_groups[0]
    assert (g["lr"], g["betas"], g["weight_decay"]) == (5e-4, (0.8, 0.99), 0.01)
    loss = hp["loss"]
    assert loss.weights == {"time": 0.2, "magnitude": 0.9, "complex": 0.1, "phase": 0.3, "consistency": 0.1}
    assert hp["metric_weight"] == 0.05 and hp["segment"] == 32000
    assert hp["pcs_target"] is None and hp["train_normalisation"] == "rms" and hp["sample_rate"] == 16000
    assert loss.asymmetry == 1.0  # the originals' symmetric magnitude MSE
    assert hp["skip_nonfinite_grads"] is True and hp["max_steps"] is None
    assert hp["brain_class"].__name__ == "MetricGANBrain"
    # MP-SENet has no consistency term; PCS on as a target transform
    assert load(FULL, model_name="mpsenet", consistency_weight=0.0)["loss"].weights["consistency"] == 0.0
    from se_mamba.models.pcs import perceptual_contrast_stretch

    assert load(FULL, pcs=True)["pcs_target"] is perceptual_contrast_stretch


def test_demo_yaml_sets_the_magnitude_asymmetry():
    """The demo trains the asymmetric magnitude loss (2.0, recipes/mini/README.md); the top-level
    key is the one run.sh overrides reach."""
    mini = os.path.join(ROOT, "hparams", "train", "mini_semamba.yaml")
    assert load(mini)["loss"].asymmetry == 2.0
    assert load(mini, magnitude_asymmetry=3.0)["loss"].asymmetry == 3.0


# (protocol, training utterances): batch, epochs, validation interval, seed, steps
# SEMamba recipes/SEMamba_advanced/SEMamba_advanced.yaml on VoiceBank-DEMAND (11,572);
# MambAttention checkpoints/MambAttention_seed3441_VB-DemandEx.yaml on VB-DemandEx (10,842)
PROTOCOLS = {("semamba", 11_572): (4, 200, 1000, 1234, 578_600),
             ("mambattention", 10_842): (8, 400, 250, 3441, 542_000)}


@pytest.mark.parametrize("protocol, n_train", list(PROTOCOLS))
def test_protocols_are_the_originals(protocol, n_train):
    batch, epochs, valid_every, seed, steps = PROTOCOLS[(protocol, n_train)]
    hp = load(FULL, protocol=protocol, model_name="mambattention")
    assert (hp["batch_size"], hp["number_of_epochs"], hp["valid_every"], hp["seed"]) == (batch, epochs,
                                                                                       valid_every, seed)
    assert hp["epoch_counter"].limit == epochs and hp["train_loader_kwargs"]["drop_last"] is True
    assert epochs * (n_train // batch) == steps  # the step counts docs/training.md states
    # any single setting still overrides the protocol's
    assert load(FULL, protocol=protocol, batch_size=16)["batch_size"] == 16


def test_pcs_flag_must_be_a_boolean():
    # the official code's string flag turned "--pcs False" into PCS on
    with pytest.raises(ValueError, match="pcs must be True or False"):
        load(FULL, pcs="False")


SB_FULL = os.path.join(ROOT, "hparams", "train", "sb.yaml")
SB_MINI = os.path.join(ROOT, "hparams", "train", "mini_sb.yaml")
SB_MODELS = ["sbm", "sbm_causal", "sb_ncsnpp", "mamba_base"]
# docs/bridge.md's parameter table
SB_PARAMS = {"sbm": 1_017_314, "sbm_causal": 853_474, "sb_ncsnpp": 1_479_202, "mamba_base": 950_626}
SB_SMALL = {"sbm": 369_586, "sb_ncsnpp": 306_930, "mamba_base": 332_082}


@pytest.mark.parametrize("name", SB_MODELS)
def test_sb_yamls_build_the_documented_sizes(name):
    """sb.yaml builds the registry default; mini_sb.yaml the CPU sizes of its size table."""
    from se_mamba.models import build_model

    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    hp = load(SB_FULL, model_name=name)
    assert count(hp["generator"]) == SB_PARAMS[name] == count(build_model(name))
    assert count(hp["ema"].model) == SB_PARAMS[name]
    if name in SB_SMALL:  # docs/bridge.md states these counts
        assert count(load(SB_MINI, model_name=name)["generator"]) == SB_SMALL[name]
    opt = hp["g_opt_class"]([torch.nn.Parameter(torch.zeros(1))])
    assert opt.param_groups[0]["lr"] == 1e-4 and hp["ema"].decay == 0.999
    assert hp["loss"].weights == {"complex": 1.0, "magnitude": 1.0, "time": 0.001}
    assert 1 + hp["segment"] // 128 == 256  # 256 STFT frames (hop 128, centred)
