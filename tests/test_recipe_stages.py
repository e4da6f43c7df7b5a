"""The stage library (recipes/lib/enh.sh): several test sets, a test set without
references (DNSMOS only), --pretrained (a packed folder, official:NAME) through
MambaEnhancer, per-stage logs."""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from test_released import fake_release  # noqa: F401  (a fake official checkpoint over HTTP)
from test_download import Handler, server  # noqa: F401

ROOT = os.path.join(os.path.dirname(__file__), "..")
RUN = os.path.join(ROOT, "recipes", "mini", "run.sh")
PACKED = os.path.join(ROOT, "tests", "data", "packed", "mini_semamba")  # a copy no recipe writes


def run(tmp_path, *args, env=None):
    cmd = ["bash", RUN, "--data_dir", str(tmp_path / "data"), "--exp_dir", str(tmp_path / "exp"),
           "--python", sys.executable, *args]
    # N_REAL=0: no real speech from the package index (tests reach 127.0.0.1 only)
    env = dict(env or os.environ, N_TRAIN="2", N_VALID="2", N_TEST="2", N_REAL="0", RESULTS_MD="",
               RESULTS_ASR_MD="", PRETRAINED_DIR=str(tmp_path / "packed"))
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stages")
    out = run(tmp, "--stage", "1", "--stop_stage", "1")
    assert out.returncode == 0, out.stderr[-2000:]
    data = tmp / "data"
    # a copy of the test set without references: real recordings, say
    items = json.loads((data / "test.json").read_text())
    (data / "real.json").write_text(json.dumps({k: {**v, "clean_wav": None} for k, v in items.items()}))
    return tmp


def test_pretrained_folder_on_two_test_sets_one_without_references(corpus):
    out = run(corpus, "--stage", "2", "--stop_stage", "6", "--pretrained", PACKED, "--test_sets", "test real",
              "--model", "demo")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Stage 2: skipped (--pretrained" in out.stdout and "Stage 6: skipped" in out.stdout
    exp = corpus / "exp" / "demo"
    test_md, real_md = (exp / "RESULTS_test.md").read_text(), (exp / "RESULTS_real.md").read_text()
    assert test_md.startswith("# mini / demo / test") and "| pesq_wb |" in test_md
    assert real_md.startswith("# mini / demo / real") and "the non-intrusive measures only" in real_md
    assert "| dnsmos_ovrl |" in real_md and "pesq_wb" not in real_md and "estoi" not in real_md
    # stage 3 is the users' path: the same bytes as MambaEnhancer on the file
    from se_mamba.inference import MambaEnhancer

    enhanced = json.loads((exp / "enhanced" / "test" / "enhanced.json").read_text())
    uid, item = sorted(enhanced.items())[0]
    enh = MambaEnhancer.from_hparams(source=PACKED, savedir=str(corpus / "sd"))
    ref = enh.enhance_file(item["noisy_wav"])
    assert np.array_equal(sf.read(item["enhanced_wav"], dtype="float32")[0], ref.astype(np.float32))
    for n in (3, 4, 5):
        assert (exp / "logs" / f"stage{n}.log").stat().st_size > 0
    # the real-time factor of the run: enhancement seconds over the audio's
    timing = json.loads((exp / "enhanced" / "test" / "timing.json").read_text())
    audio = sum(sf.info(v["noisy_wav"]).duration for v in enhanced.values())
    assert abs(timing["audio_seconds"] - audio) < 1e-2 and timing["seconds"] > 0
    assert abs(timing["rtf"] - timing["seconds"] / timing["audio_seconds"]) < 1e-2 * timing["rtf"] + 1e-6


def test_pretrained_official_checkpoint(corpus, fake_release):  # noqa: F811
    out = run(corpus, "--stage", "3", "--stop_stage", "3", "--pretrained", "official:semamba_vbd",
              "--model", "official_semamba_vbd")
    assert out.returncode == 0, out.stderr[-3000:]
    from se_mamba.inference import MambaEnhancer
    from se_mamba.models import load_official_checkpoint

    enhanced = json.loads((corpus / "exp" / "official_semamba_vbd" / "enhanced" / "test" / "enhanced.json").read_text())
    ref = MambaEnhancer.from_model(load_official_checkpoint(fake_release))
    for item in enhanced.values():
        expected = ref.enhance_file(item["noisy_wav"]).astype(np.float32)
        assert np.array_equal(sf.read(item["enhanced_wav"], dtype="float32")[0], expected)


def test_results_put_the_published_numbers_next_to_ours(tmp_path):
    """voicebank:test/semamba_advanced: the SEMamba paper's row beside our means
    (here the noisy files stand in for an enhanced system), in paper composite mode."""
    from se_mamba.recipe.score import main as score

    vb = os.path.join(ROOT, "tests", "data", "voicebank")
    items = {u: {"noisy_wav": os.path.join(vb, "noisy", f"{u}.wav"), "clean_wav": os.path.join(vb, "clean", f"{u}.wav"),
                 "enhanced_wav": os.path.join(vb, "noisy", f"{u}.wav")} for u in ("p232_003", "p257_008")}
    manifest = tmp_path / "enhanced.json"
    manifest.write_text(json.dumps(items))
    results = tmp_path / "RESULTS.md"
    assert score(["--enhanced", str(manifest), "--out-dir", str(tmp_path / "scores"), "--results", str(results),
                  "--metrics", "pesq_wb,csig,cbak,covl,stoi", "--composite-mode", "paper", "--workers", "1",
                  "--published", "voicebank:test/semamba_advanced"]) == 0
    text = results.read_text()
    assert "composite measures in paper mode" in text and "Published (Chao et al." in text
    row = next(line for line in text.splitlines() if line.startswith("| pesq_wb |") and "3.55" in line)
    ours = float(row.split("|")[4])
    assert row.rstrip(" |").endswith(f"{ours - 3.55:+.3f}")
    assert score(["--enhanced", str(manifest), "--out-dir", str(tmp_path / "s2"), "--results", str(tmp_path / "R2.md"),
                  "--metrics", "pesq_wb", "--workers", "1", "--published", "mini:test/semamba_small"]) == 0
    assert "Published" not in (tmp_path / "R2.md").read_text()


def test_several_sets_in_one_scoring_call_equal_one_call_each(tmp_path, capsys):
    """Stage 4 scores every test set in one pool: each set's CSVs and summary
    equal those of scoring it alone (a set without references keeps its
    non-intrusive metrics); a bad manifest stops the call before any scoring."""
    from se_mamba.recipe.score import main as score

    vb = os.path.join(ROOT, "tests", "data", "voicebank")
    sets = {"a": {u: {"noisy_wav": os.path.join(vb, "noisy", f"{u}.wav"), "clean_wav": os.path.join(vb, "clean", f"{u}.wav"),
                      "enhanced_wav": os.path.join(vb, "clean", f"{u}.wav")} for u in ("p232_003", "p257_008")},
            "b": {"p232_019": {"noisy_wav": os.path.join(vb, "noisy", "p232_019.wav"), "clean_wav": None,
                               "speaker_ref_wav": os.path.join(vb, "noisy", "p232_019.wav"),
                               "enhanced_wav": os.path.join(vb, "clean", "p232_019.wav")}}}
    for name, items in sets.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(items))
    common = ["--metrics", "pesq_wb,si_sdr,spk_sim", "--workers", "2"]
    assert score(["--enhanced", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--out-dir", str(tmp_path / "sa"),
                  str(tmp_path / "sb"), "--results", str(tmp_path / "RA.md"), str(tmp_path / "RB.md"),
                  "--title", "set a", "set b", *common]) == 0
    for name in sets:  # each set alone, in this process
        assert score(["--enhanced", str(tmp_path / f"{name}.json"), "--out-dir", str(tmp_path / f"one_{name}"),
                      "--results", str(tmp_path / f"one_{name}.md"), *common[:2], "--workers", "1"]) == 0
        for f in ("noisy.csv", "enhanced.csv"):
            both, alone = (list(csv.DictReader(open(d / f))) for d in (tmp_path / f"s{name}", tmp_path / f"one_{name}"))
            assert [r["id"] for r in both] == [r["id"] for r in alone] and both[0].keys() == alone[0].keys()
            for x, y in zip(both, alone):
                assert x["error"] == y["error"] == ""
                # the speaker encoder's threads differ between a worker and this process
                assert all(float(x[k]) == pytest.approx(float(y[k]), rel=1e-5) for k in x if k not in ("id", "error"))
    assert (tmp_path / "sb" / "enhanced.csv").read_text().splitlines()[0] == "id,spk_sim,error"
    assert (tmp_path / "RA.md").read_text().startswith("# set a") and (tmp_path / "RB.md").read_text().startswith("# set b")
    # a set that cannot be read: one line naming it, exit 1, and the good set not scored either
    capsys.readouterr()
    assert score(["--enhanced", str(tmp_path / "a.json"), str(tmp_path / "nope.json"), "--out-dir", str(tmp_path / "x1"),
                  str(tmp_path / "x2"), "--results", str(tmp_path / "X1.md"), str(tmp_path / "X2.md"), *common]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"score: error: {tmp_path / 'nope.json'}: ") and "\n" not in err
    assert not (tmp_path / "x1").exists()
    with pytest.raises(SystemExit) as exc:  # one --results for two sets
        score(["--enhanced", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--out-dir", "o1", "o2",
               "--results", "R.md"])
    assert exc.value.code == 2


def test_enhance_stage_wants_one_out_folder_per_manifest(tmp_path, capsys):
    from se_mamba.recipe.enhance import main as enhance

    with pytest.raises(SystemExit) as exc:
        enhance(["--exp", str(tmp_path), "--manifest", "a.json", "b.json", "--data-root", ".", "--out", "o"])
    assert exc.value.code == 2 and "2 --manifest files but 1 --out folders" in capsys.readouterr().err


def test_publish_copies_a_run_into_the_recipe_folder(tmp_path):
    """Runs write under exp/ only; publish.sh is the explicit step that refreshes
    the committed copies (results, figures, the package, replaced whole)."""
    publish = os.path.join(ROOT, "recipes", "lib", "publish.sh")
    recipe, run_dir = tmp_path / "recipes" / "toy", tmp_path / "exp" / "toy"
    (recipe / "pretrained").mkdir(parents=True)
    (recipe / "run.sh").write_text("#!/bin/sh\n")
    (recipe / "pretrained" / "stale.ckpt").write_text("old")
    env = dict(os.environ, PUBLISH_ROOT=str(tmp_path))

    def call(*args):
        return subprocess.run(["bash", publish, *args], capture_output=True, text=True, env=env, timeout=60)

    out = call("toy")
    assert out.returncode == 1 and out.stderr.strip().endswith(f"{run_dir}: no such run (run recipes/toy/run.sh first)")
    assert call("nope").stderr.strip().endswith("no such recipe")
    (run_dir / "pretrained").mkdir(parents=True)
    (run_dir / "pretrained" / "model.ckpt").write_text("new")
    assert "no RESULTS*.md to publish" in call("toy").stderr
    (run_dir / "RESULTS.md").write_text("# r\n")
    (run_dir / "results_spectrogram.png").write_bytes(b"png")
    (run_dir / "semamba_small").mkdir()  # the experiment itself stays in exp/
    out = call("toy")
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in recipe.iterdir()) == ["RESULTS.md", "pretrained", "results_spectrogram.png",
                                                        "run.sh"]
    assert [p.name for p in (recipe / "pretrained").iterdir()] == ["model.ckpt"]
