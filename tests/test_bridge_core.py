"""Schrödinger-bridge core: marginals and samplers against their definitions."""
import math

import pytest
import torch

from se_mamba.bridge import SBVE, SBVP, SBGmax, build_schedule, sample
from se_mamba.bridge.samplers import ode_step, sde_step

SCHEDULES = [SBVE(), SBVE(k=3.0, c=0.2), SBVP(), SBGmax()]
IDS = ["ve", "ve2", "vp", "gmax"]


@pytest.mark.parametrize("sch", SCHEDULES, ids=IDS)
def test_marginal_ends_at_x0_and_y(sch):
    x0, y = torch.randn(3, 50, dtype=torch.float64), torch.randn(3, 50, dtype=torch.float64)
    z = torch.randn(3, 50, dtype=torch.float64)
    assert torch.allclose(sch.sample_xt(x0, y, torch.zeros(3), z), x0, atol=1e-12)
    assert torch.allclose(sch.sample_xt(x0, y, torch.ones(3), z), y, atol=1e-12)


def test_ve_marginal_matches_the_closed_form_and_monte_carlo():
    sch, t = SBVE(k=2.6, c=0.4), 0.37
    s2 = lambda u: 0.4 * (2.6 ** (2 * u) - 1) / (2 * math.log(2.6))  # Jukić et al. 2024, SB-VE
    w0, wy, std = (float(v) for v in sch.marginal(torch.tensor(t)))
    sb2 = s2(1) - s2(t)
    assert w0 == pytest.approx(sb2 / s2(1)) and wy == pytest.approx(s2(t) / s2(1))
    assert std == pytest.approx(math.sqrt(sb2 * s2(t) / s2(1)))
    g = torch.Generator().manual_seed(0)
    x0, y = torch.full((200_000,), 0.3, dtype=torch.float64), torch.full((200_000,), -1.2, dtype=torch.float64)
    draws = sch.sample_xt(x0, y, torch.full((200_000,), t), torch.randn(200_000, generator=g, dtype=torch.float64))
    assert float(draws.mean()) == pytest.approx(0.3 * w0 - 1.2 * wy, abs=4 * std / 200_000 ** 0.5)
    assert float(draws.std()) == pytest.approx(std, rel=0.01)


def test_vp_alpha_and_sigma_from_their_integrals():
    sch, t = SBVP(beta_0=0.1, beta_1=3.0, c=0.5), 0.6
    s = torch.linspace(0, t, 20001, dtype=torch.float64)
    beta = 0.1 + s * (3.0 - 0.1)
    B = torch.cumulative_trapezoid(beta, s)
    alpha = torch.exp(-0.5 * torch.cat([torch.zeros(1, dtype=torch.float64), B]))
    # sigma_t^2 = int g^2 / alpha^2 with g^2 = c beta
    sigma2 = torch.trapezoid(0.5 * beta / alpha ** 2, s)
    assert float(sch.alpha(torch.tensor(t))) == pytest.approx(float(alpha[-1]), rel=1e-6)
    assert float(sch.sigma2(torch.tensor(t))) == pytest.approx(float(sigma2), rel=1e-6)


def test_gmax_sigma_is_the_integral_of_g_squared():
    sch, t = SBGmax(beta_0=0.05, beta_1=20.0), 0.7
    s = torch.linspace(0, t, 20001, dtype=torch.float64)
    g2 = 0.05 + s * (20.0 - 0.05)  # Bridge-gmax: g^2 linear in t, f = 0
    assert float(sch.sigma2(torch.tensor(t, dtype=torch.float64))) == pytest.approx(float(torch.trapezoid(g2, s)), rel=1e-8)
    assert float(sch.alpha(torch.tensor(t))) == 1.0
    assert isinstance(build_schedule("sbgmax", beta_1=10.0), SBGmax)


T_EPS = 0.03


def recording_oracle(x0, calls):
    """A network that knows x0 and records the states and times it is asked about."""
    def net(x_t, y_, t):
        calls.append((x_t.clone(), t.clone()))
        return x0
    return net


def check_ode_visits_the_bridge_means(sch, steps):
    """With the true x0, the ODE from x_T = y visits exactly the bridge means
    (std 0 at T: the ODE keeps the noise it starts with)."""
    x0, y = torch.randn(2, 64, dtype=torch.float64), torch.randn(2, 64, dtype=torch.float64)
    calls = []
    out = sample(recording_oracle(x0, calls), y, sch, steps=steps, sampler="ode", t_eps=T_EPS)
    assert torch.equal(out, x0) and len(calls) == steps
    grid = torch.linspace(1.0, T_EPS, steps + 1, dtype=torch.float64)
    for (x_t, t), t_i in zip(calls, grid):
        assert torch.allclose(t, torch.full_like(t, float(t_i)))
        w0, wy, _ = sch.marginal(t_i)
        assert torch.allclose(x_t, w0 * x0 + wy * y, atol=1e-9), float(t_i)


@pytest.mark.parametrize("sch", SCHEDULES, ids=IDS)
@pytest.mark.parametrize("steps", [1, 2, 5])
def test_ode_sampler_visits_the_bridge_means_with_an_oracle(sch, steps):
    check_ode_visits_the_bridge_means(sch, steps)


def test_a_wrong_ode_step_fails_the_oracle_check(monkeypatch):
    """The oracle check sees the intermediate maths: a step with one wrong
    coefficient (ours, mutated) fails it; the last step alone would not."""
    import se_mamba.bridge.samplers as samplers

    right = samplers.ode_step

    def mutated(schedule, x_t, y, x0_hat, t, s):
        return right(schedule, x_t, y, x0_hat, t, s) + 0.05 * (y - x0_hat)

    monkeypatch.setattr(samplers, "ode_step", mutated)
    check_ode_visits_the_bridge_means(SBVE(), 1)  # one step never calls it
    with pytest.raises(AssertionError):
        check_ode_visits_the_bridge_means(SBVE(), 5)


def mc_marginal_check(sch, x_s, x0, y, s, n):
    w0, wy, std = (float(v) for v in sch.marginal(torch.tensor(s, dtype=torch.float64)))
    mean = w0 * x0 + wy * y
    assert float(x_s.mean()) == pytest.approx(mean, abs=5 * std / n ** 0.5)
    assert float(x_s.std()) == pytest.approx(std, rel=0.02)


@pytest.mark.parametrize("sch", SCHEDULES, ids=IDS)
def test_sde_step_keeps_the_bridge_marginal_monte_carlo(sch):
    """A bridge draw at t, moved by one SDE step with the true x0, is a bridge
    draw at s: mean and std of 200k draws (the step is exact, not first-order,
    for the true x0)."""
    n, x0, y, t, s = 200_000, 0.3, -1.2, 0.8, 0.35
    g = torch.Generator().manual_seed(0)
    X0, Y = torch.full((n,), x0, dtype=torch.float64), torch.full((n,), y, dtype=torch.float64)
    x_t = sch.sample_xt(X0, Y, torch.full((n,), t), torch.randn(n, generator=g, dtype=torch.float64))
    x_s = sde_step(sch, x_t, Y, X0, torch.tensor(t), torch.tensor(s), generator=g)
    mc_marginal_check(sch, x_s, x0, y, s, n)
    with pytest.raises(AssertionError):  # a step with the wrong noise scale is caught
        mc_marginal_check(sch, 0.9 * (x_s - x_s.mean()) + x_s.mean(), x0, y, s, n)


@pytest.mark.parametrize("sch", SCHEDULES, ids=IDS)
def test_sde_sampler_states_are_bridge_draws_with_an_oracle(sch):
    n, steps, x0v, yv = 100_000, 4, 0.3, -1.2
    x0, y = torch.full((n, 1), x0v, dtype=torch.float64), torch.full((n, 1), yv, dtype=torch.float64)
    calls = []
    out = sample(recording_oracle(x0, calls), y, sch, steps=steps, sampler="sde", t_eps=T_EPS,
                 generator=torch.Generator().manual_seed(2))
    assert torch.equal(out, x0) and len(calls) == steps
    grid = torch.linspace(1.0, T_EPS, steps + 1, dtype=torch.float64)
    for (x_t, _), t_i in list(zip(calls, grid))[1:]:  # t_0 = T is y itself
        mc_marginal_check(sch, x_t, x0v, yv, float(t_i), n)


def test_the_network_is_never_asked_below_t_eps():
    calls = []
    sample(recording_oracle(torch.zeros(1, 8), calls), torch.ones(1, 8), SBVE(), steps=50, t_eps=T_EPS)
    times = [float(t) for _, t in calls]
    assert times[0] == 1.0 and min(times) > T_EPS and len(times) == 50


def test_sbm_built_directly_is_the_registry_bridge():
    from se_mamba.models import build_model
    from se_mamba.bridge import SBM

    direct, registry = SBM(backbone={"hidden": 8, "num_layers": 1}), build_model("sbm", backbone={"hidden": 8,
                                                                                                   "num_layers": 1})
    assert direct.is_bridge and registry.is_bridge
    assert vars(direct.schedule) == vars(registry.schedule) == {"k": 2.6, "c": 0.4}


@pytest.mark.parametrize("sch", SCHEDULES, ids=IDS)
def test_ode_step_moves_a_bridge_sample_along_the_bridge(sch):
    x0, y, z = (torch.randn(4, 32, dtype=torch.float64) for _ in range(3))
    t, s = 0.8, 0.3
    x_t = sch.sample_xt(x0, y, torch.full((4,), t), z)
    x_s = ode_step(sch, x_t, y, x0, torch.tensor(t), torch.tensor(s))
    assert torch.allclose(x_s, sch.sample_xt(x0, y, torch.full((4,), s), z), atol=1e-10)


def test_one_step_is_the_network_on_y_at_t1_and_sde_is_seeded():
    y = torch.randn(1, 16)
    net = lambda x, y_, t: 0.5 * x + t.view(-1, 1)
    assert torch.allclose(sample(net, y, SBVE(), steps=1), 0.5 * y + 1.0)
    a = sample(net, y, SBVE(), steps=4, sampler="sde", generator=torch.Generator().manual_seed(3))
    b = sample(net, y, SBVE(), steps=4, sampler="sde", generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="unknown SB schedule"):
        build_schedule("gmax")  # the name is "sbgmax"
    with pytest.raises(ValueError, match="sampler must be"):
        sample(net, y, SBVE(), sampler="euler")


def test_compressed_complex_representation_round_trips():
    from se_mamba.nn.spectral import CompressedComplexSpec

    rep = CompressedComplexSpec()
    wav = torch.randn(2, 16003, dtype=torch.float64) * 0.1
    wav[1, 5000:9000] = 0.0  # silent stretch: no NaN from the phase of zero bins
    spec = rep(wav)
    assert spec.shape == (2, 256, 126) and torch.isfinite(torch.view_as_real(spec)).all()
    # compression: |spec| = beta |X|^alpha
    x = torch.stft(wav, 510, 128, window=torch.hann_window(510, dtype=torch.float64), return_complex=True)
    assert torch.allclose(spec.abs(), 0.15 * x.abs() ** 0.5)
    out = rep.inverse(spec, wav.shape[-1])
    assert out.shape == wav.shape and torch.allclose(out, wav, atol=1e-9)
    scale, n, c = CompressedComplexSpec.peak_normalise(wav, 2 * wav)
    assert torch.allclose(n.abs().amax(-1), torch.ones(2, dtype=torch.float64)) and torch.allclose(c, 2 * n)


def test_fourier_time_embedding_is_fixed_not_trained():
    from se_mamba.bridge.embedding import GaussianFourierEmbedding

    emb = GaussianFourierEmbedding(64, 32, generator=torch.Generator().manual_seed(0))
    assert "W" in dict(emb.named_buffers()) and "W" not in dict(emb.named_parameters())
    w = emb.W.clone()
    opt = torch.optim.SGD(emb.parameters(), lr=0.1)
    emb(torch.rand(4) + 0.01).sum().backward()
    opt.step()
    assert torch.equal(emb.W, w)  # an optimiser step leaves the projection alone
    t = torch.tensor([0.25])
    f = emb.features(t)
    expected = 2 * math.pi * math.log(0.25) * w
    assert torch.allclose(f, torch.cat([torch.sin(expected), torch.cos(expected)])[None])
    # a reloaded model gets the same W from the state dict
    other = GaussianFourierEmbedding(64, 32, generator=torch.Generator().manual_seed(5))
    other.load_state_dict(emb.state_dict())
    assert torch.equal(other(t), emb(t))
