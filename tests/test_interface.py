"""The model interface (se_mamba.interface.EnhancementModel): what every model
family offers the Brains, the recipes, MambaEnhancer and StreamingEnhancer."""
import pytest
import torch
from torch import nn

from se_mamba.interface import EnhancementModel
from se_mamba.models import build_model, list_models

TINY = {
    "semamba_advanced": dict(channels=4, num_blocks=1, mamba={"expand": 1}),
    "semamba_causal": dict(channels=4, num_blocks=1, mamba={"expand": 1}),
    "semamba_basic": dict(hidden=8, d_state=4),
    "mambattention": dict(channels=8, num_blocks=1, attention_heads=2),
    "mpsenet": dict(channels=8, num_blocks=1),
    "sbm": dict(backbone={"hidden": 8, "num_layers": 1}),
    "sbm_causal": dict(backbone={"hidden": 8, "num_layers": 1}),
    "mamba_base": dict(backbone={"hidden": 8, "num_layers": 1}),
}
STREAMABLE = {"semamba_causal", "semamba_basic", "sbm_causal"}


def tiny(name):
    torch.manual_seed(0)
    return build_model(name, **TINY.get(name, {})).eval()


@pytest.mark.parametrize("name", list_models())
def test_every_registry_model_implements_the_interface(name):
    m = build_model(name)
    assert isinstance(m, EnhancementModel)
    assert m.input_normalisation in (None, "rms", "peak")
    # the streaming capability is the model's answer, and it is right for the registry's causal models
    assert (m.streaming_problem() is None) == (name in STREAMABLE), m.streaming_problem()
    # bridge models take sampling options, every other model none
    assert bool(m.sampling_options) == m.is_bridge
    assert m.build_spec["name"] == name


def test_a_model_without_the_network_mapping_cannot_be_built():
    class Incomplete(EnhancementModel):
        stream_front_end = None

    with pytest.raises(TypeError, match="spectral_map"):
        Incomplete()


@pytest.mark.parametrize("name", sorted(TINY))
def test_enhance_returns_to_the_input_level(name):
    """The normalisation enhance() applies is undone: an input 4x louder (a power
    of two, so the normalised network input is the same bits) gives exactly a 4x
    louder output for a normalising model. (A random-weight network's phase output
    is ill-conditioned, so near-equal inputs would not do.)"""
    m = tiny(name)
    x = 0.05 * torch.randn(2, 4000)
    kw = {"steps": 1} if m.is_bridge else {}
    with torch.no_grad():
        y, y4 = m.enhance(x, **kw), m.enhance(4 * x, **kw)
    assert y.shape == x.shape
    if m.input_normalisation is not None:
        assert torch.equal(y4, 4 * y)
        gain, xn = m.normalise(x)
        assert torch.allclose(m.denormalise(xn, gain), x, rtol=1e-6, atol=1e-9)
    else:
        assert m.normalise(x)[0] is None


@pytest.mark.parametrize("kind, expect", [("rms", lambda x: x.pow(2).mean(-1)), ("peak", lambda x: x.abs().amax(-1))])
def test_normalise_applies_the_named_gain_to_the_targets_too(kind, expect):
    m = tiny("semamba_advanced" if kind == "rms" else "sbm")
    noisy, clean = 0.3 * torch.randn(3, 2000), 0.1 * torch.randn(3, 2000)
    gain, noisy_n, clean_n = m.normalise(noisy, clean)
    assert torch.allclose(expect(noisy_n), torch.ones(3), rtol=1e-5)  # unit mean power / unit peak
    assert torch.allclose(clean_n / clean, noisy_n / noisy, rtol=1e-5)  # the same gain


def test_an_option_the_model_does_not_take_is_a_one_line_error():
    with pytest.raises(ValueError, match=r"^SEMamba takes no option steps \(its sampling options: none\)$"):
        tiny("semamba_advanced").enhance(torch.randn(1600), steps=2)
    with pytest.raises(ValueError, match="takes no option sampler"):  # predictive: no bridge, no sampler
        tiny("mamba_base").enhance(torch.randn(1600), sampler="sde")
    tiny("sbm").enhance(torch.randn(1600), steps=2, sampler="sde", generator=torch.Generator().manual_seed(0))


def test_interfaces_refuse_what_is_not_an_enhancement_model():
    from se_mamba.inference import MambaEnhancer, StreamingEnhancer

    with pytest.raises(TypeError, match="MambaEnhancer needs an se_mamba EnhancementModel, got Linear"):
        MambaEnhancer.from_model(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="streaming needs an se_mamba EnhancementModel"):
        StreamingEnhancer(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="^SEMamba is not causal"):
        StreamingEnhancer(tiny("semamba_advanced"))


@pytest.mark.parametrize("yaml_name, brain, good, bad", [
    ("mini_semamba.yaml", "SEBrain", "rms", None),      # the pipeline applies the model's RMS gain
    ("mini_sb.yaml", "BridgeBrain", None, "rms"),       # the Brain peak-normalises each crop itself
])
def test_training_normalisation_must_be_the_models(tmp_path, yaml_name, brain, good, bad):
    """A Brain stops at the start of fit when the training inputs would be
    normalised differently from the model's inference (the PCS-target bug's kind)."""
    import os

    from hyperpyyaml import load_hyperpyyaml

    import se_mamba.brains as brains

    path = os.path.join(os.path.dirname(__file__), "..", "hparams", "train", yaml_name)
    for value, fails in ((good, False), (bad, True)):
        with open(path) as f:
            hp = load_hyperpyyaml(f, {"data_folder": str(tmp_path), "output_folder": str(tmp_path),
                                      "train_normalisation": value})
        b = getattr(brains, brain)(modules=hp["modules"], hparams=hp, run_opts={"device": "cpu"}, checkpointer=None)
        if fails:
            with pytest.raises(ValueError, match=f"^train_normalisation is {bad!r}, but "):
                b.check_train_normalisation()
        else:
            b.check_train_normalisation()
