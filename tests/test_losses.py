"""Losses against hand computations and the originals' matrix formulas."""
import math

import numpy as np
import pytest
import torch

from se_mamba.losses import (GeneratorLoss, anti_wrap, batch_pesq_targets, complex_loss, magnitude_loss,
                             consistency_loss, discriminator_loss, metric_generator_loss,
                             phase_losses, si_sdr_loss)
from se_mamba.models.discriminator import MetricDiscriminator
from se_mamba.nn.spectral import SpectralFrontEnd


def test_anti_wrap_hand_values():
    x = torch.tensor([0.1, 2 * math.pi + 0.1, -3.5, 4 * math.pi - 0.2, -0.3], dtype=torch.float64)
    expect = torch.tensor([0.1, 0.1, 2 * math.pi - 3.5, 0.2, 0.3], dtype=torch.float64)
    assert torch.allclose(anti_wrap(x), expect, atol=1e-12)


def originals_phase_losses(phase_r, phase_g):
    """The MP-SENet/SEMamba formulation, with its difference matrices."""
    F_, T_ = phase_r.shape[1], phase_r.shape[2]
    gd_m = torch.triu(torch.ones(F_, F_), 1) - torch.triu(torch.ones(F_, F_), 2) - torch.eye(F_)
    iaf_m = torch.triu(torch.ones(T_, T_), 1) - torch.triu(torch.ones(T_, T_), 2) - torch.eye(T_)
    gd_m, iaf_m = gd_m.double(), iaf_m.double()
    aw = lambda x: torch.abs(x - torch.round(x / (2 * np.pi)) * 2 * np.pi)  # noqa: E731
    ip = aw(phase_r - phase_g).mean()
    gd = aw(phase_r.permute(0, 2, 1) @ gd_m - phase_g.permute(0, 2, 1) @ gd_m).mean()
    iaf = aw(phase_r @ iaf_m - phase_g @ iaf_m).mean()
    return ip, gd, iaf


def test_phase_losses_equal_the_matrix_formulation():
    g = torch.Generator().manual_seed(0)
    pr = (torch.rand(2, 9, 7, generator=g, dtype=torch.float64) * 2 - 1) * math.pi
    pg = (torch.rand(2, 9, 7, generator=g, dtype=torch.float64) * 2 - 1) * math.pi
    for ours, ref in zip(phase_losses(pr, pg), originals_phase_losses(pr, pg)):
        assert torch.allclose(ours, ref, atol=1e-12)


def test_phase_losses_zero_for_equal_and_2pi_shifted_phase():
    p = torch.rand(1, 5, 4, dtype=torch.float64) * 6 - 3
    for loss in phase_losses(p, p + 2 * math.pi):
        assert loss.item() == pytest.approx(0.0, abs=1e-12)


def test_complex_and_consistency_hand_values():
    a = torch.tensor([[[[1.0, 2.0]], [[0.0, -1.0]]]])  # [1, 2, 1, 2]
    b = torch.tensor([[[[0.0, 2.0]], [[1.0, 1.0]]]])
    # squared errors 1, 0, 1, 4 -> mean 1.5 -> x2 = 3
    assert complex_loss(a, b).item() == pytest.approx(3.0)
    assert consistency_loss(a, b).item() == pytest.approx(3.0)


def test_consistency_is_zero_for_a_real_signals_stft():
    fe = SpectralFrontEnd()
    x = torch.randn(1, 8000, dtype=torch.float64)
    mag, pha, com = fe.stft(x)
    restft = fe.stft(fe.istft(mag, pha, length=8000))[2]
    assert consistency_loss(com, restft).item() < 1e-18
    noisy_com = com + 0.1 * torch.randn_like(com)  # an arbitrary "prediction"
    restft = fe.stft(fe.istft_ri(noisy_com, length=8000))[2]
    assert consistency_loss(noisy_com, restft).item() > 1e-4


def test_generator_loss_is_the_weighted_sum():
    g = torch.Generator().manual_seed(1)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    clean = {"wav": r(2, 100), "mag": r(2, 5, 4).abs(), "pha": r(2, 5, 4), "com": r(2, 5, 4, 2)}
    est = {"wav": r(2, 100), "mag": r(2, 5, 4).abs(), "pha": r(2, 5, 4), "com": r(2, 5, 4, 2),
           "com_restft": r(2, 5, 4, 2)}
    total, parts = GeneratorLoss()(clean, est)
    ip, gd, iaf = originals_phase_losses(clean["pha"].double(), est["pha"].double())
    expect = (0.2 * (clean["wav"] - est["wav"]).abs().mean()
              + 0.9 * ((clean["mag"] - est["mag"]) ** 2).mean()
              + 0.1 * 2 * ((clean["com"] - est["com"]) ** 2).mean()
              + 0.3 * float(ip + gd + iaf)
              + 0.1 * 2 * ((est["com"] - est["com_restft"]) ** 2).mean())
    assert total.item() == pytest.approx(float(expect), rel=1e-5)
    assert parts["phase"] == pytest.approx(float(ip + gd + iaf), rel=1e-5)
    no_cons, parts2 = GeneratorLoss(consistency=0.0)(clean, {k: v for k, v in est.items() if k != "com_restft"})
    assert "consistency" not in parts2 and no_cons.item() < total.item()
    with_sisdr, parts3 = GeneratorLoss(si_sdr=0.05)(clean, est)
    assert with_sisdr.item() == pytest.approx(total.item() + 0.05 * parts3["si_sdr"], rel=1e-5)
    assert "si_sdr" not in parts


def test_si_sdr_loss_is_minus_the_metric():
    from se_mamba.metrics.intrusive import si_sdr

    g = torch.Generator().manual_seed(3)
    clean = torch.randn(3, 4000, generator=g, dtype=torch.float64)
    est = 0.6 * clean + 0.2 * torch.randn(3, 4000, generator=g, dtype=torch.float64) + 0.3
    expect = -np.mean([si_sdr(clean[i].numpy(), est[i].numpy()) for i in range(3)])
    assert si_sdr_loss(clean, est).item() == pytest.approx(expect, rel=1e-6)
    assert si_sdr_loss(clean, 5 * est).item() == pytest.approx(expect, rel=1e-6)  # scale-invariant


def test_discriminator_size_and_output():
    d = MetricDiscriminator()
    n = sum(p.numel() for p in d.parameters())
    assert n == 181_650  # the official discriminator: ~181.6k
    s = d(torch.rand(3, 201, 40), torch.rand(3, 201, 40))
    assert s.shape == (3, 1) and ((s > 0) & (s < 1)).all()


def test_discriminator_loss_drops_only_failed_items():
    """Real pass scores 0.8; fake pass scores 0.5 and 0.9 for the two items
    whose PESQ exists (item 1 failed and is left out)."""
    def disc(clean, est):
        if est is clean:
            return torch.full((clean.shape[0], 1), 0.8)
        return torch.tensor([[0.5], [0.9]])

    clean = torch.rand(3, 4, 5)
    targets = torch.tensor([0.6, float("nan"), 0.7])
    loss = discriminator_loss(disc, clean, clean + 1, targets)
    real = (0.8 - 1.0) ** 2
    fake = ((0.5 - 0.6) ** 2 + (0.9 - 0.7) ** 2) / 2
    assert loss.item() == pytest.approx(real + fake, rel=1e-5)
    all_failed = discriminator_loss(disc, clean, clean + 1, torch.full((3,), float("nan")))
    assert all_failed.item() == pytest.approx(real, rel=1e-5)
    g = metric_generator_loss(lambda c, e: torch.full((c.shape[0], 1), 0.25), clean, clean)
    assert g.item() == pytest.approx(0.75**2)


def test_batch_pesq_targets_real_speech(voicebank_pair):
    clean, noisy = voicebank_pair
    t = batch_pesq_targets(np.stack([clean, clean, np.zeros_like(clean)]),
                           np.stack([clean, noisy, noisy]))
    assert t[0].item() == pytest.approx((4.644 - 1) / 3.5, abs=2e-3)  # identical: PESQ 4.64
    assert 0.0 < t[1].item() < t[0].item()
    assert math.isnan(t[2].item())  # silent reference: PESQ fails, recorded as NaN


def test_magnitude_asymmetry_weighs_only_suppressed_bins():
    """VoiceFilter-Lite's asymmetric L2: an under-estimate's error is scaled
    before squaring, an over-estimate's is not; 1 is the plain MSE."""
    g = torch.Generator().manual_seed(2)
    clean = torch.rand(2, 5, 4, generator=g)
    est = torch.rand(2, 5, 4, generator=g)
    diff = (clean - est).double()
    under, over = diff.clamp(min=0), diff.clamp(max=0)
    expect = (9 * under ** 2 + over ** 2).mean()
    assert magnitude_loss(clean, est, asymmetry=3.0).item() == pytest.approx(float(expect), rel=1e-6)
    assert magnitude_loss(clean, est, asymmetry=1.0).item() == pytest.approx(float((diff ** 2).mean()), rel=1e-6)
    # through GeneratorLoss: only the magnitude part changes
    wav, pha, com = torch.zeros(2, 100), torch.zeros(2, 5, 4), torch.zeros(2, 5, 4, 2)
    c = {"wav": wav, "mag": clean, "pha": pha, "com": com}
    e = {"wav": wav, "mag": est, "pha": pha, "com": com, "com_restft": com}
    _, plain = GeneratorLoss()(c, e)
    _, asym = GeneratorLoss(asymmetry=3.0)(c, e)
    assert asym["magnitude"] == pytest.approx(float(expect), rel=1e-6)
    assert {k: v for k, v in asym.items() if k != "magnitude"} == {k: v for k, v in plain.items() if k != "magnitude"}
