"""Metrics against independent references: the VoiceBank golden file, hand-computed values."""
import csv
import os

import numpy as np
import pytest
import soundfile as sf

from se_mamba.metrics.composite import composite, llr_frames, segmental_snr, wss_frames
from se_mamba.metrics.intrusive import pesq_score, si_sdr

VB = os.path.join(os.path.dirname(__file__), "data", "voicebank")


def golden_rows():
    with open(os.path.join(VB, "noisy_reference_metrics.tsv")) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def vb_pair(uid):
    clean, fs = sf.read(os.path.join(VB, "clean", uid + ".wav"))
    noisy, _ = sf.read(os.path.join(VB, "noisy", uid + ".wav"))
    return clean, noisy, fs


@pytest.fixture(scope="module")
def golden_scores():
    from se_mamba.metrics.intrusive import stoi_score

    out = {}
    for row in golden_rows():
        clean, noisy, fs = vb_pair(row["id"])
        out[row["id"]] = (row, composite(clean, noisy, fs, "faithful"), composite(clean, noisy, fs, "paper"),
                          stoi_score(clean, noisy, fs))
    return out


def test_faithful_mode_reproduces_the_reference_metrics(golden_scores):
    """noisy_reference_metrics.tsv: the Loizou port validated against MATLAB (15 utterances)."""
    assert len(golden_scores) == 15
    for uid, (ref, ours, _, stoi) in golden_scores.items():
        assert ours["error"] == ""
        assert ours["pesq_wb"] == pytest.approx(float(ref["pesq_wb"]), abs=1e-3), uid
        assert ours["ssnr"] == pytest.approx(float(ref["ssnr"]), abs=1e-3), uid
        for m in ("csig", "cbak", "covl"):
            assert ours[m] == pytest.approx(float(ref[m]), abs=2e-3), (uid, m)
        assert stoi == pytest.approx(float(ref["stoi"]), abs=1e-3), uid


def test_paper_mode_differs_only_through_wss_and_inflates_the_composites(golden_scores):
    diffs = []
    for uid, (_, faithful, paper, _) in golden_scores.items():
        # equal but for composite.m's eps (2^-52), which only the faithful mode adds
        assert paper["llr"] == pytest.approx(faithful["llr"], rel=1e-9)
        assert paper["ssnr"] == pytest.approx(faithful["ssnr"], rel=1e-9)
        assert paper["wss"] < faithful["wss"], uid  # float input: more bands at the floor
        diffs.append(paper["covl"] - faithful["covl"])
    # README of the samples: float input inflates CSIG/CBAK/COVL by about 0.08
    assert 0.03 < np.mean(diffs) < 0.15, diffs


def test_segmental_snr_of_a_known_mixture():
    """A stationary mixture at 10 dB SNR has ~10 dB in every frame; clipping at -10 / 35 dB."""
    rng = np.random.default_rng(0)
    ref = rng.standard_normal(16000)
    noise = rng.standard_normal(16000)
    noise *= np.sqrt(np.sum(ref ** 2) / np.sum(noise ** 2) / 10)
    assert segmental_snr(ref, ref + noise) == pytest.approx(10.0, abs=0.5)
    assert segmental_snr(ref, ref) == pytest.approx(35.0)  # perfect: clipped at 35 dB
    assert segmental_snr(ref, ref + 100 * noise) == pytest.approx(-10.0)  # clipped at -10 dB
    # hand computation of one frame: frame 0 of a constant signal with half the amplitude
    x = np.ones(4800)
    w = 0.5 * (1 - np.cos(2 * np.pi * np.arange(1, 481) / 481))
    es, en = np.sum((w * 1.0) ** 2), np.sum((w * 0.5) ** 2)
    assert segmental_snr(x, 0.5 * x) == pytest.approx(10 * np.log10(es / en), abs=1e-9)  # 6.02 dB


def test_llr_and_wss_are_zero_for_identical_signals_and_llr_is_scale_invariant():
    rng = np.random.default_rng(1)
    x = np.convolve(rng.standard_normal(8000), [1, 0.9, 0.5], mode="same")
    assert np.allclose(llr_frames(x, x), 0.0) and np.allclose(wss_frames(x, x), 0.0)
    y = x + 0.1 * rng.standard_normal(8000)
    assert np.allclose(llr_frames(x, y), llr_frames(3 * x, 3 * y))
    assert np.all(llr_frames(x, y) > 0)  # the reference's own LPC minimises its prediction error


def test_si_sdr_hand_values_and_invariances():
    t = np.arange(16000)
    ref = np.sin(t * 0.05)
    noise = np.cos(t * 0.3)
    # orthogonal (to numerical precision) components: SI-SDR = 10 log10(|a ref|^2 / |b noise|^2)
    expected = 10 * np.log10(np.sum(ref ** 2) / np.sum((0.1 * noise) ** 2))
    assert si_sdr(ref, ref + 0.1 * noise) == pytest.approx(expected, abs=0.05)
    est = ref + 0.1 * noise
    assert si_sdr(ref, 7.0 * est) == pytest.approx(si_sdr(ref, est), abs=1e-9)  # scale
    assert si_sdr(ref, est + 0.5) == pytest.approx(si_sdr(ref, est), abs=1e-6)  # mean removed
    assert si_sdr(ref, ref) > 100


def test_pesq_of_identical_signals_is_the_maximum():
    clean, _, fs = vb_pair("p232_003")
    score, err = pesq_score(clean, clean, fs, "wb")
    assert err == "" and score == pytest.approx(4.644, abs=1e-3)


def test_composite_reports_a_failed_pesq_instead_of_a_number():
    clean, _, fs = vb_pair("p232_003")
    out = composite(clean, np.zeros_like(clean), fs)
    assert np.isnan(out["pesq_wb"]) and np.isnan(out["csig"]) and "pesq_wb" in out["error"]
    with pytest.raises(ValueError, match="composite mode"):
        composite(clean, clean, fs, mode="matlab")
