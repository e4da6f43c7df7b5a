"""The training YAMLs build the models and settings they claim (paper sizes, originals' optimiser)."""
import os

import pytest
import torch
from hyperpyyaml import load_hyperpyyaml

ROOT = os.path.join(os.path.dirname(__file__), "..")
FULL = os.path.join(ROOT, "hparams", "train", "magphase.yaml")
# FACTS.md §2, §4, §5
PAPER_PARAMS = {"semamba_advanced": 2_258_769, "mambattention": 2_325_841}
MAGPHASE = ["semamba_advanced", "semamba_causal", "mambattention", "mambattention_attn_after",
            "mambattention_no_sharing", "mambattention_freq_first", "mpsenet", "lstm_senet", "lstm_attention"]


def load(path, **over):
    with open(path) as f:
        return load_hyperpyyaml(f, {"data_folder": "/d", "output_folder": "/o", **over})


@pytest.mark.parametrize("name", MAGPHASE)
def test_full_size_yaml_builds_the_paper_model(name):
    from se_mamba.models import build_model

    hp = load(FULL, model_name=name)
    n = sum(p.numel() for p in hp["generator"].parameters())
    assert n == sum(p.numel() for p in build_model(name).parameters())
    if name in PAPER_PARAMS:
        assert n == PAPER_PARAMS[name]
    if name == "mpsenet":
        assert abs(n - 2_048_849) / 2_048_849 < 0.01
    assert sum(p.numel() for p in hp["discriminator"].parameters()) == 181_650


def test_full_size_yaml_has_the_originals_training_settings():
    hp = load(FULL)
    opt = hp["g_opt_class"]([torch.nn.Parameter(torch.zeros(1))])
    g = opt.param_groups[0]
    assert (g["lr"], g["betas"], g["weight_decay"]) == (5e-4, (0.8, 0.99), 0.01)
    loss = hp["loss"]
    assert loss.weights == {"time": 0.2, "magnitude": 0.9, "complex": 0.1, "phase": 0.3, "consistency": 0.1}
    assert hp["metric_weight"] == 0.05 and hp["segment"] == 32000 and hp["batch_size"] == 4
    assert hp["pcs_target"] is None
    assert hp["brain_class"].__name__ == "MetricGANBrain"
    # MP-SENet has no consistency term; PCS on as a target transform
    assert load(FULL, model_name="mpsenet", consistency_weight=0.0)["loss"].weights["consistency"] == 0.0
    from se_mamba.models.pcs import perceptual_contrast_stretch

    assert load(FULL, pcs=True)["pcs_target"] is perceptual_contrast_stretch


def test_pcs_flag_must_be_a_boolean():
    # the official code's string flag turned "--pcs False" into PCS on
    with pytest.raises(ValueError, match="pcs must be True or False"):
        load(FULL, pcs="False")


SB_FULL = os.path.join(ROOT, "hparams", "train", "sb.yaml")
SB_MINI = os.path.join(ROOT, "hparams", "train", "mini_sb.yaml")
SB_MODELS = ["sbm", "sbm_causal", "sb_ncsnpp", "mamba_base"]


@pytest.mark.parametrize("name", SB_MODELS)
def test_sb_yamls_build_the_documented_sizes(name):
    """sb.yaml builds the registry default; mini_sb.yaml the rows of hparams/models/<name>_small.yaml."""
    from se_mamba.models import build_model

    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    hp = load(SB_FULL, model_name=name)
    assert count(hp["generator"]) == count(build_model(name))
    assert count(hp["ema"].model) == count(hp["generator"])
    small_yaml = os.path.join(ROOT, "hparams", "models", f"{name}_small.yaml")
    if os.path.exists(small_yaml):
        with open(small_yaml) as f:
            assert count(load(SB_MINI, model_name=name)["generator"]) == count(load_hyperpyyaml(f)["model"])
    opt = hp["g_opt_class"]([torch.nn.Parameter(torch.zeros(1))])
    assert opt.param_groups[0]["lr"] == 1e-4 and hp["ema"].decay == 0.999
    assert hp["loss"].weights == {"complex": 1.0, "magnitude": 1.0, "time": 0.001}
    assert 1 + hp["segment"] // 128 == 256  # 256 STFT frames (hop 128, centred)
