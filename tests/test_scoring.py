"""The scoring engine and `se-mamba score`: bad input is recorded, never a crash or a silent zero."""
import csv
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from se_mamba.metrics import report
from se_mamba.metrics.report import (METRICS, failure_report, markdown_table, pair_folders, parse_max_failures,
                                     parse_metrics, score_files, score_pair, summarise)

VB = os.path.join(os.path.dirname(__file__), "data", "voicebank")
FAST = ("pesq_wb", "stoi", "si_sdr", "ssnr", "csig")


@pytest.fixture(scope="module")
def clean():
    x, fs = sf.read(os.path.join(VB, "clean", "p232_003.wav"))
    return x


@pytest.mark.parametrize("est_kind, reason", [
    ("nan", "estimate has NaN/inf samples"),
    ("inf", "estimate has NaN/inf samples"),
    ("zeros", "estimate is all zeros"),
])
def test_bad_estimates_are_failures_with_reasons(clean, est_kind, reason):
    est = clean.copy()
    if est_kind == "nan":
        est[100] = np.nan
    elif est_kind == "inf":
        est[5] = np.inf
    else:
        est[:] = 0.0
    row = score_pair(clean, est, metrics=FAST)
    assert row["error"] == reason and all(math.isnan(row[m]) for m in FAST)


def test_silent_reference_and_short_files_are_failures(clean):
    row = score_pair(np.zeros_like(clean), clean, metrics=FAST)
    assert row["error"] == "silent reference" and all(math.isnan(row[m]) for m in FAST)
    row = score_pair(clean[:3000], clean[:3000], metrics=FAST)
    assert row["error"].startswith("too short (3000 samples") and math.isnan(row["pesq_wb"])


def test_files_engine_records_missing_unreadable_and_notes(tmp_path, clean):
    sf.write(tmp_path / "ref.wav", clean, 16000)
    from scipy.signal import resample_poly

    sf.write(tmp_path / "est48k.wav", resample_poly(clean, 3, 1), 48000)  # same signal at 48 kHz
    sf.write(tmp_path / "longer.wav", np.concatenate([clean, np.zeros(160)]), 16000)
    sf.write(tmp_path / "stereo.wav", np.stack([clean, clean], 1), 16000)
    (tmp_path / "broken.wav").write_bytes(b"RIFF....not audio")
    triples = [("ok48", str(tmp_path / "ref.wav"), str(tmp_path / "est48k.wav")),
               ("long", str(tmp_path / "ref.wav"), str(tmp_path / "longer.wav")),
               ("stereo", str(tmp_path / "ref.wav"), str(tmp_path / "stereo.wav")),
               ("broken", str(tmp_path / "ref.wav"), str(tmp_path / "broken.wav")),
               ("noref", None, str(tmp_path / "ref.wav")),
               ("noest", str(tmp_path / "ref.wav"), None),
               ("gone", str(tmp_path / "ref.wav"), str(tmp_path / "gone.wav"))]
    rows = {r["id"]: r for r in score_files(triples, ("pesq_wb", "si_sdr"), workers=1)}
    assert rows["ok48"]["error"] == "" and rows["ok48"]["notes"] == ["resampled 48000 -> 16000 Hz"]
    assert rows["ok48"]["si_sdr"] > 25  # resampled back, it is the reference again
    assert rows["long"]["error"] == "" and "trimmed" in rows["long"]["notes"][0]
    assert rows["long"]["si_sdr"] > 100
    assert rows["stereo"]["notes"] == ["2 channels averaged"] and rows["stereo"]["si_sdr"] > 100
    assert "broken.wav: unreadable audio" in rows["broken"]["error"]
    assert rows["noref"]["error"] == "missing reference for noref"
    assert rows["noest"]["error"] == "missing estimate for noest"
    assert rows["gone"]["error"].endswith("gone.wav: no such file")
    summary = summarise(list(rows.values()), ("pesq_wb", "si_sdr"))
    assert summary["si_sdr"]["failed"] == 4 and summary["si_sdr"]["n"] == 3


def test_one_failing_metric_is_that_cell_and_the_others_are_scored(clean, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("library bug")

    from se_mamba.metrics.intrusive import pesq_score, si_sdr

    est = clean + 0.01 * np.sin(np.arange(clean.size))
    monkeypatch.setattr(report, "stoi_score", broken)
    row = score_pair(clean, est, metrics=("estoi", "si_sdr", "pesq_wb"))
    assert row["error"] == "estoi: library bug" and math.isnan(row["estoi"])
    assert row["si_sdr"] == si_sdr(clean, est) and row["pesq_wb"] == pesq_score(clean, est)[0]


def test_too_few_speech_frames_is_a_stoi_failure_not_1e_minus_5(clean):
    # 0.125 s of speech in 1 s of -80 dB noise: pystoi keeps < 30 frames and returns 1e-5
    ref = np.random.default_rng(0).standard_normal(16000) * 1e-4
    ref[4000:6000] += clean[20000:22000]
    row = score_pair(ref, ref + 1e-3 * np.random.default_rng(1).standard_normal(16000),
                     metrics=("stoi", "estoi", "si_sdr"))
    assert math.isnan(row["stoi"]) and math.isnan(row["estoi"]) and math.isfinite(row["si_sdr"])
    assert row["error"].startswith("stoi: too few speech frames") and "; estoi: too few speech frames" in row["error"]


def test_digitally_silent_reference_frames(clean):
    """30% exact zeros in the reference (as in DNS 2020 test clips): composite.m
    adds eps and scores them (LLR large, CSIG at its floor); the Python ports'
    NaN is a recorded reason, never a blank cell."""
    noisy, _ = sf.read(os.path.join(VB, "noisy", "p232_003.wav"))
    ref = clean.copy()
    ref[: int(0.3 * ref.size)] = 0.0
    metrics = ("csig", "cbak", "covl")
    faithful = score_pair(ref, noisy, metrics=metrics)
    assert faithful["error"] == "" and all(math.isfinite(faithful[m]) for m in metrics)
    assert faithful["csig"] < score_pair(clean, noisy, metrics=metrics)["csig"]
    paper = score_pair(ref, noisy, metrics=metrics, composite_mode="paper")
    assert math.isnan(paper["csig"]) and math.isnan(paper["covl"]) and math.isfinite(paper["cbak"])
    assert paper["error"].startswith("LLR undefined: 30% of the reference's 30 ms frames are digital silence")


def test_length_mismatch_beyond_tolerance_is_a_failure(tmp_path, clean):
    sf.write(tmp_path / "ref.wav", clean, 16000)
    sf.write(tmp_path / "near.wav", clean[:-report.LENGTH_TOLERANCE], 16000)
    sf.write(tmp_path / "far.wav", clean[:-report.LENGTH_TOLERANCE - 1], 16000)
    rows = {r["id"]: r for r in score_files([("near", str(tmp_path / "ref.wav"), str(tmp_path / "near.wav")),
                                             ("far", str(tmp_path / "ref.wav"), str(tmp_path / "far.wav"))],
                                            ("si_sdr",), workers=1)}
    assert rows["near"]["error"] == "" and rows["near"]["si_sdr"] > 100 and "trimmed" in rows["near"]["notes"][0]
    assert math.isnan(rows["far"]["si_sdr"])
    assert rows["far"]["error"] == (f"length mismatch: estimate {clean.size - 513} vs reference {clean.size} samples "
                                    "(more than 512 samples, 0.032 s, apart)")


def test_max_failures_counts_and_shares():
    assert parse_max_failures("0") == 0 and parse_max_failures("5") == 5
    assert parse_max_failures("0.1") == 0.1 and parse_max_failures("10%") == 0.1
    for bad in ("-1", "1.5", "x", "200%"):
        with pytest.raises(ValueError, match="--max-failures"):
            parse_max_failures(bad)
    rows = {"noisy": [{"id": "a", "error": ""}, {"id": "b", "error": "pesq_wb: x"}],
            "enhanced": [{"id": "a", "error": "estoi: y"}, {"id": "b", "error": ""}]}
    failed, allowed, lines = failure_report(rows, 0.5, "scores/")
    assert (failed, allowed) == (2, 1)
    assert lines[-2:] == ["- `a`: enhanced: estoi: y", "- `b`: noisy: pesq_wb: x"]
    assert failure_report({"enhanced": [{"id": "a", "error": ""}]}, 0, "s")[:2] == (0, 0)


def test_pair_folders_matches_by_path_then_name(tmp_path):
    for rel in ("ref/a.wav", "ref/sub/b.wav", "ref/c.wav", "est/a.wav", "est/b.wav", "est/d.wav"):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(p, np.zeros(10), 16000)
    got = {u: (r and os.path.relpath(r, tmp_path), e and os.path.relpath(e, tmp_path))
           for u, r, e in pair_folders(str(tmp_path / "ref"), str(tmp_path / "est"))}
    assert got == {"a": ("ref/a.wav", "est/a.wav"), "b": ("ref/sub/b.wav", "est/b.wav"),
                   "d": (None, "est/d.wav"), "c": ("ref/c.wav", None)}


def test_metric_names_are_checked():
    assert parse_metrics("all") == METRICS
    with pytest.raises(ValueError, match="unknown metric.*mos"):
        parse_metrics("pesq_wb,mos")


def test_summary_table_has_baseline_delta_and_failure_counts():
    rows_n = [{"pesq_wb": 1.0}, {"pesq_wb": 2.0}, {"pesq_wb": math.nan}]
    rows_e = [{"pesq_wb": 2.0}, {"pesq_wb": 3.0}, {"pesq_wb": 4.0}]
    text = markdown_table({"noisy": summarise(rows_n, ("pesq_wb",)), "enhanced": summarise(rows_e, ("pesq_wb",))},
                          ("pesq_wb",))
    row = text.splitlines()[2]
    # noisy 1.5 ± 1.96*0.7071/sqrt(2) = 0.980, std 0.707; enhanced 3.0 ± 1.132, std 1.0; delta +1.5
    assert row == "| pesq_wb | 1.500 ± 0.980 | 0.707 | 3.000 ± 1.132 | 1.000 | +1.500 | 3/3 | 1/0 |"


def test_dnsmos_rates_clean_above_noisy():
    from se_mamba.metrics.dnsmos import DNSMOS

    scorer = DNSMOS()
    better = 0
    for uid in ("p232_003", "p232_019", "p257_008"):
        c, fs = sf.read(os.path.join(VB, "clean", uid + ".wav"))
        n, _ = sf.read(os.path.join(VB, "noisy", uid + ".wav"))
        sc, sn = scorer(c, fs), scorer(n, fs)
        assert 1.0 <= sn["dnsmos_ovrl"] <= 5.0 and 1.0 <= sc["dnsmos_p808"] <= 5.0
        better += sc["dnsmos_bak"] > sn["dnsmos_bak"] and sc["dnsmos_ovrl"] > sn["dnsmos_ovrl"]
    assert better == 3


def test_dnsmos_scores_each_distinct_window_once_and_equals_speechmos():
    """A short clip is doubled to 9.01 s, so its 1 s-hop windows repeat: each
    distinct one runs once, and the four scores are speechmos' own, bit for bit."""
    import speechmos.dnsmos as sm

    from se_mamba.metrics.dnsmos import DNSMOS

    scorer = DNSMOS()

    class Counted:  # counts the P.835 model's runs
        def __init__(self, sess):
            self.sess, self.runs = sess, 0

        def run(self, *args):
            self.runs += 1
            return self.sess.run(*args)

    scorer._model.onnx_sess = counted = Counted(scorer._model.onnx_sess)
    n, fs = sf.read(os.path.join(VB, "noisy", "p232_003.wav"))
    n2, _ = sf.read(os.path.join(VB, "noisy", "p257_008.wav"))
    long = np.concatenate([n, n2])[:int(11.2 * fs)]  # 11.2 s: two windows, not repeated
    # 2 s -> 4 -> 8 -> 16 s: windows at 0..6 s, period 2 s: 2 distinct of 7
    for clip, runs, windows in ((n[:2 * fs], 2, 7), (long, 2, 2)):
        counted.runs = 0
        ours = scorer(clip, fs)
        assert counted.runs == runs
        ref = sm.DNSMOS.__call__(scorer._model, clip.astype(np.float32), fs, False)
        assert counted.runs == runs + windows  # speechmos runs every window
        assert ours == {"dnsmos_sig": float(ref["sig_mos"]), "dnsmos_bak": float(ref["bak_mos"]),
                        "dnsmos_ovrl": float(ref["ovrl_mos"]), "dnsmos_p808": float(ref["p808_mos"])}


def test_cli_scores_folders_and_exits_1_when_a_file_failed(tmp_path):
    ref, est, noisy = tmp_path / "ref", tmp_path / "est", tmp_path / "noisy"
    for d in (ref, est, noisy):
        d.mkdir()
    for uid in ("p232_003", "p257_008"):
        c, fs = sf.read(os.path.join(VB, "clean", uid + ".wav"))
        n, _ = sf.read(os.path.join(VB, "noisy", uid + ".wav"))
        sf.write(ref / f"{uid}.wav", c, fs)
        sf.write(noisy / f"{uid}.wav", n, fs)
        sf.write(est / f"{uid}.wav", 0.5 * (c + n), fs)  # a crude "enhancement"
    sf.write(est / "extra.wav", np.zeros(16000), 16000)  # no reference
    cmd = [sys.executable, "-m", "se_mamba.cli.main", "score", "--ref", str(ref), "--est", str(est),
           "--noisy", str(noisy), "--csv", str(tmp_path / "sc" / "s.csv"), "--summary", str(tmp_path / "s.md"),
           "--metrics", "pesq_wb,si_sdr,csig", "--workers", "2", "--figures", str(tmp_path / "fig"),
           "--max-failures", "1"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]  # one failed file, one accepted; sc/ was created
    rows = {r["id"]: r for r in csv.DictReader(open(tmp_path / "sc" / "s.csv"))}
    assert list(next(iter(rows.values())).keys()) == ["id", "pesq_wb", "si_sdr", "csig", "error"]
    assert rows["extra"]["error"] == "missing reference for extra" and rows["extra"]["pesq_wb"] == ""
    noisy_rows = {r["id"]: r for r in csv.DictReader(open(tmp_path / "sc" / "s.noisy.csv"))}
    for uid in ("p232_003", "p257_008"):  # mixing half the clean signal back raises SI-SDR
        assert float(rows[uid]["si_sdr"]) > float(noisy_rows[uid]["si_sdr"])
    md = (tmp_path / "s.md").read_text()
    assert "| si_sdr |" in md and "Δ enhanced − noisy" in md and "`extra`: enhanced: missing reference" in md
    assert (tmp_path / "fig" / "histograms.png").stat().st_size > 1000
    assert (tmp_path / "fig" / "spectrogram.png").stat().st_size > 1000
    outs = ["--csv", str(tmp_path / "x.csv"), "--summary", str(tmp_path / "x.md"), "--metrics", "si_sdr"]
    bad = subprocess.run(cmd[:4] + ["--ref", str(tmp_path / "nope"), "--est", str(est)] + outs,
                         capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.strip() == f"se-mamba score: error: {tmp_path / 'nope'}: no such folder"
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    sf.write(lonely / "extra.wav", np.zeros(16000), 16000)
    none = subprocess.run(cmd[:4] + ["--ref", str(ref), "--est", str(lonely)] + outs, capture_output=True, text=True)
    # any failed file: exit 1, after the CSV and the summary are written
    assert none.returncode == 1 and "missing reference for extra" in (tmp_path / "x.md").read_text()
    assert "extra,,missing reference for extra" in (tmp_path / "x.csv").read_text()
    assert none.stderr.strip().splitlines()[-1].startswith("se-mamba score: error: 3 of 3 files failed (--max-failures allows 0)")


def test_speaker_similarity_separates_speakers():
    from se_mamba.metrics.speaker import speaker_similarity

    a, fs = sf.read(os.path.join(VB, "clean", "p232_003.wav"))
    a_noisy, _ = sf.read(os.path.join(VB, "noisy", "p232_003.wav"))
    a2, _ = sf.read(os.path.join(VB, "clean", "p232_019.wav"))
    b, _ = sf.read(os.path.join(VB, "clean", "p257_008.wav"))
    assert speaker_similarity(a, a, fs) == pytest.approx(1.0, abs=1e-5)
    same_utt, same_spk, other = speaker_similarity(a, a_noisy, fs), speaker_similarity(a, a2, fs), \
        speaker_similarity(a, b, fs)
    assert same_utt > other and same_spk > other, (same_utt, same_spk, other)
    row = score_pair(a, np.zeros_like(a) + 1e-3 * np.sign(np.sin(np.arange(len(a)))), metrics=("spk_sim",))
    assert row["error"] == "" and 0.0 <= row["spk_sim"] < same_spk


def test_process_pool_after_in_process_scoring_does_not_hang():
    """A fork of a process with running onnxruntime threads could deadlock; the pool spawns."""
    code = (
        "import os\n"
        "from se_mamba.metrics.report import score_files\n"
        f"vb = {VB!r}\n"
        "t = [(u, os.path.join(vb, 'clean', u + '.wav'), os.path.join(vb, 'noisy', u + '.wav'))"
        " for u in ('p232_003', 'p257_008')]\n"
        "m = ('pesq_wb', 'dnsmos_ovrl')\n"
        "a = score_files(t, m, workers=1)\n"
        "b = score_files(t, m, workers=2)\n"
        "assert [r['pesq_wb'] for r in a] == [r['pesq_wb'] for r in b]\n"
        "assert all(abs(x['dnsmos_ovrl'] - y['dnsmos_ovrl']) < 1e-4 for x, y in zip(a, b))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
