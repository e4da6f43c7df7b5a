"""The optional metrics (NISQA, SpeechBERTScore): our NISQA against the
original implementation's outputs, SpeechBERTScore against its definition,
and "not available: <reason>" cells (never a zero, never a missing column)
where the models are absent."""
import json
import math
import os

import numpy as np
import pytest
import soundfile as sf
import torch

from reference_nisqa import random_state
from se_mamba.metrics import optional
from se_mamba.metrics.nisqa import DEFAULT_ARGS, NISQADim, predict
from se_mamba.metrics.report import csv_text, markdown_table, score_files, summarise

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


@pytest.fixture(autouse=True)
def fresh_backends(monkeypatch):
    """Each test decides which models exist: no cached scorer, no user paths."""
    monkeypatch.setattr(optional, "_LOADED", {})
    monkeypatch.delenv("SE_MAMBA_NISQA_WEIGHTS", raising=False)
    monkeypatch.setenv("SE_MAMBA_WAVLM_LARGE", "/nonexistent/wavlm_large.pth")


def nisqa_checkpoint(path):
    model = NISQADim(DEFAULT_ARGS)
    torch.save({"args": dict(DEFAULT_ARGS), "model_state_dict": random_state(model, seed=0)}, path)
    return str(path)


def test_nisqa_matches_the_original_implementation(tmp_path):
    """Five outputs equal to those of nisqa/NISQA_lib.py (2.0.post2) on the same
    weights and files (tests/data/nisqa/make_reference.py made the numbers)."""
    with open(os.path.join(DATA, "nisqa", "reference.json")) as f:
        ref = json.load(f)["outputs"]
    model = NISQADim(DEFAULT_ARGS).eval()
    model.load_state_dict(random_state(model, seed=0), strict=True)  # the original's names load as they are
    for rel, want in ref.items():
        x, fs = sf.read(os.path.join(DATA, rel))
        np.testing.assert_allclose(predict(model, DEFAULT_ARGS, x, fs), want, rtol=1e-5, atol=1e-5)
    # the backend reads a checkpoint in the original's format ({"args", "model_state_dict"})
    scorer = optional.NISQA(nisqa_checkpoint(tmp_path / "nisqa.tar"))
    x, fs = sf.read(os.path.join(DATA, "voicebank/noisy/p232_003.wav"))
    assert scorer(x, fs) == pytest.approx(ref["voicebank/noisy/p232_003.wav"][0], abs=1e-5)


def test_nisqa_refuses_another_configuration_and_bad_input():
    with pytest.raises(ValueError, match="unsupported NISQA configuration .*td='lstm'"):
        NISQADim({**DEFAULT_ARGS, "td": "lstm"})
    model = NISQADim(DEFAULT_ARGS).eval()
    with pytest.raises(ValueError, match="too short for NISQA"):
        predict(model, DEFAULT_ARGS, np.zeros(800), 16000)
    with pytest.raises(ValueError, match="too long for NISQA"):
        predict(model, {**DEFAULT_ARGS, "ms_max_segments": 10}, np.random.default_rng(0).standard_normal(16000), 16000)


def tiny_wavlm():
    from torchaudio.models import wavlm_model

    torch.manual_seed(0)
    return wavlm_model(extractor_mode="layer_norm", extractor_conv_layer_config=[(16, 10, 5), (16, 3, 2), (16, 2, 2)],
                       extractor_conv_bias=False, encoder_embed_dim=32, encoder_projection_dropout=0.0,
                       encoder_pos_conv_kernel=16, encoder_pos_conv_groups=4, encoder_num_layers=3,
                       encoder_num_heads=4, encoder_num_buckets=32, encoder_max_distance=100,
                       encoder_attention_dropout=0.0, encoder_ff_interm_features=64, encoder_ff_interm_dropout=0.0,
                       encoder_dropout=0.0, encoder_layer_norm_first=True, encoder_layer_drop=0.0,
                       aux_num_out=None).eval()


def test_speechbertscore_is_the_bertscore_precision_of_the_chosen_layer():
    model = tiny_wavlm()
    sbs = optional.SpeechBERTScore(model=model, layer=2)
    rng = np.random.default_rng(1)
    ref = rng.standard_normal(8000) * 0.1
    est = ref + 0.05 * rng.standard_normal(8000)
    assert sbs(ref, ref) == pytest.approx(1.0, abs=1e-6)
    # independent: layer 2's features straight from the model, frame by frame
    with torch.inference_mode():
        layers, _ = model.extract_features(torch.tensor(np.stack([ref, est]), dtype=torch.float32), num_layers=3)
    f_ref, f_est = layers[1][0], layers[1][1]
    best = [max(float(torch.nn.functional.cosine_similarity(e, r, dim=0)) for r in f_ref) for e in f_est]
    assert sbs(ref, est) == pytest.approx(float(np.mean(best)), abs=1e-5)
    assert sbs(ref, est) < 1.0
    # at another rate it resamples first: 8 kHz input of the same signals scores like 16 kHz
    assert 0.0 < sbs(ref[::2], est[::2], 8000) <= 1.0


def test_missing_or_wrong_weights_are_reasons(tmp_path, monkeypatch):
    assert optional.why_unavailable("speechbertscore") == \
        "not available: SE_MAMBA_WAVLM_LARGE=/nonexistent/wavlm_large.pth: no such file"
    monkeypatch.setattr(optional, "_LOADED", {})
    bad = tmp_path / "wavlm_large.pth"
    torch.save(tiny_wavlm().state_dict(), bad)
    monkeypatch.setenv("SE_MAMBA_WAVLM_LARGE", str(bad))
    assert optional.why_unavailable("speechbertscore").startswith(f"not available: {bad}: not WavLM Large weights")
    assert optional.why_unavailable("nisqa_mos") == "not available: no NISQA weights (set SE_MAMBA_NISQA_WEIGHTS; docs/scoring.md)"
    monkeypatch.setattr(optional, "_LOADED", {})
    monkeypatch.setenv("SE_MAMBA_NISQA_WEIGHTS", str(bad))
    assert optional.why_unavailable("nisqa_mos").startswith(f"not available: {bad}: not loadable as NISQA weights")


def test_unavailable_metrics_are_cells_with_reasons_not_failures_or_zeros(tmp_path, monkeypatch):
    clean = os.path.join(DATA, "voicebank/clean/p232_003.wav")
    noisy = os.path.join(DATA, "voicebank/noisy/p232_003.wav")
    metrics = ("si_sdr", "speechbertscore", "nisqa_mos")
    rows = score_files([("u1", clean, noisy)], metrics, workers=1)
    r = rows[0]
    assert r["error"] == "" and math.isfinite(r["si_sdr"]) and math.isnan(r["nisqa_mos"])
    assert r["unavailable"]["nisqa_mos"].startswith("no NISQA weights")
    text = csv_text(rows, metrics)
    assert ",not available: SE_MAMBA_WAVLM_LARGE=/nonexistent/wavlm_large.pth: no such file," in text
    sums = summarise(rows, metrics)
    assert sums["nisqa_mos"]["failed"] == 0 and sums["nisqa_mos"]["n"] == 0
    table = markdown_table({"noisy": sums}, metrics)
    assert "| nisqa_mos | not available: no NISQA weights" in table
    # with the weights present the column holds the model's number
    monkeypatch.setattr(optional, "_LOADED", {})
    monkeypatch.setenv("SE_MAMBA_NISQA_WEIGHTS", nisqa_checkpoint(tmp_path / "nisqa.tar"))
    with open(os.path.join(DATA, "nisqa", "reference.json")) as f:
        want = json.load(f)["outputs"]["voicebank/noisy/p232_003.wav"][0]
    r = score_files([("u1", clean, noisy)], metrics, workers=1)[0]
    assert r["nisqa_mos"] == pytest.approx(want, abs=1e-5) and "nisqa_mos" not in r.get("unavailable", {})


def test_comparison_table_shows_the_reason(tmp_path):
    from se_mamba.recipe.compare import compare

    d = tmp_path / "m1" / "scores" / "set"
    d.mkdir(parents=True)
    why = "not available: no NISQA weights"
    for kind in ("enhanced", "noisy"):
        (d / f"{kind}.csv").write_text(f"id,dnsmos_ovrl,nisqa_mos,error\nu1,3.0,{why},\nu2,3.5,{why},\n")
    text = compare(str(tmp_path), ["set"], ["A=m1"], param_counts=False)
    assert "| dnsmos_ovrl | nisqa_mos |" in text and f"| 3.250 ± 0.490 | {why} |" in text  # 1.96 x 0.354 / sqrt(2)
