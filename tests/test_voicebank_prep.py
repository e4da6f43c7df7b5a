"""VoiceBank-DEMAND preparation on a tiny corpus in the published layout (48 kHz
``pXXX_NNN.wav`` in the six DataShare zips), served from a local HTTP server."""
import hashlib
import io
import json
import os
import zipfile

import numpy as np
import pytest
import soundfile as sf
import torch

from se_mamba.data import voicebank
from se_mamba.data.download import DownloadError

from test_download import Handler, server  # noqa: F401  (the local HTTP server fixture)

FS = 48000
TRAIN = ["p226_001", "p226_002", "p230_001", "p230_002", "p287_001"]
TEST = ["p232_001", "p257_001"]


def tone(seed, seconds=1.1):
    """A chirp 100 Hz -> 6 kHz (a start phase per file): band-limited content that
    any correct 48 -> 16 kHz resampler keeps."""
    t = np.arange(int(seconds * FS)) / FS
    return (0.3 * np.sin(2 * np.pi * (100 * t + 2700 * t ** 2) + seed)).astype(np.float32)


def wav_bytes(x):
    buf = io.BytesIO()
    sf.write(buf, x, FS, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def make_zips():
    zips = {}
    for name in voicebank.ZIPS:
        folder = name[:-4]
        ids = TRAIN if "train" in name else TEST
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for i, uid in enumerate(ids):
                if folder.endswith("_txt"):
                    z.writestr(f"{folder}/{uid}.txt", f"Words of {uid}.\n")
                else:
                    z.writestr(f"{folder}/{uid}.wav", wav_bytes(tone(i + (7 if "noisy" in name else 0))))
        zips[name] = buf.getvalue()
    return zips


@pytest.fixture
def served(server):  # noqa: F811
    zips = make_zips()
    for name, data in zips.items():
        Handler.files["/bitstream/handle/10283/2791/" + name] = data
    return server, {n: hashlib.md5(d).hexdigest() for n, d in zips.items()}


def test_stage_1_downloads_resamples_and_holds_out_speakers(served, tmp_path):
    url, md5s = served
    corpus, data = tmp_path / "corpus", tmp_path / "data"
    counts = voicebank.prepare(str(corpus), str(data), mirror=url, md5s=md5s, workers=2, progress=False)
    assert counts == {"train": 2, "valid": 3, "test": 2}
    train, valid, test = (json.loads((data / f"{s}.json").read_text()) for s in ("train", "valid", "test"))
    assert sorted(train) == ["p230_001", "p230_002"] and sorted(valid) == ["p226_001", "p226_002", "p287_001"]
    assert not {v["speaker"] for v in train.values()} & set(voicebank.VALID_SPEAKERS)
    assert sorted(test) == TEST and test["p232_001"]["words"] == "Words of p232_001."
    item = train["p230_001"]
    x16, fs = sf.read(item["noisy_wav"], dtype="float64")
    info = sf.info(item["noisy_wav"])
    assert fs == 16000 and info.subtype == "PCM_16" and item["noisy_wav"].endswith("noisy_trainset_28spk_wav_16k/p230_001.wav")
    x48, fs48 = sf.read(corpus / "noisy_trainset_28spk_wav" / "p230_001.wav", dtype="float32")
    assert fs48 == FS
    assert len(x16) == len(x48) // 3 and item["length"] == pytest.approx(len(x48) / FS, abs=1e-3)
    # content: against torchaudio's resampler (SpeechBrain's choice), away from the edges
    import torchaudio

    ref = torchaudio.transforms.Resample(FS, 16000)(torch.from_numpy(x48)).numpy().astype(np.float64)
    mid = slice(400, len(x16) - 400)
    snr = 10 * np.log10(np.sum(ref[mid] ** 2) / np.sum((x16[mid] - ref[mid]) ** 2))
    assert snr > 45, snr  # measured 53 dB (the two filters differ near 8 kHz)
    # once: a second run fetches nothing and rewrites nothing
    requests, mtime = len(Handler.ranges), os.stat(item["noisy_wav"]).st_mtime_ns
    voicebank.prepare(str(corpus), str(data), mirror=url, md5s=md5s, workers=2, progress=False)
    assert len(Handler.ranges) == requests and os.stat(item["noisy_wav"]).st_mtime_ns == mtime
    # the original SEMamba protocol: validation on the test set
    assert voicebank.write_manifests(str(corpus), str(tmp_path / "d2"), "test")["valid"] == 2


def test_a_corrupt_download_and_a_missing_corpus_fail_in_one_line(served, tmp_path, capsys):
    url, md5s = served
    bad = dict(md5s, **{"clean_testset_wav.zip": "0" * 32})
    with pytest.raises(DownloadError, match=r"clean_testset_wav\.zip: MD5 .* is not the published 0{32}"):
        voicebank.prepare(str(tmp_path / "c"), str(tmp_path / "d"), mirror=url, md5s=bad, progress=False)
    assert not (tmp_path / "c" / "clean_testset_wav.zip").exists()
    capsys.readouterr()
    rc = voicebank.main(["--corpus_dir", str(tmp_path / "empty"), "--data_dir", str(tmp_path / "d"),
                         "--download", "false"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "\n" not in err and "--download false place clean_trainset_28spk_wav.zip" in err


RUN = os.path.join(os.path.dirname(__file__), "..", "recipes", "voicebank", "run.sh")


def run_stage_1(tmp_path, *extra):
    import subprocess
    import sys

    cmd = ["bash", RUN, "--stage", "1", "--stop_stage", "1", "--corpus_dir", str(tmp_path / "corpus"),
           "--data_dir", str(tmp_path / "data"), "--exp_dir", str(tmp_path / "exp"), "--python", sys.executable,
           *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=dict(os.environ, WORKERS="2"))


def test_recipe_stage_1(served, tmp_path):
    url, _ = served
    # the published MD5s do not match the tiny zips: a clean one-line failure, no file kept
    out = run_stage_1(tmp_path, "--mirror", url)
    last = out.stderr.strip().splitlines()[-1]
    assert out.returncode == 1 and last.startswith("voicebank: error: " + url) and "is not the published" in last
    assert not [f for f in os.listdir(tmp_path / "corpus") if f.endswith(".zip")]
    # the zips placed by hand: --download false
    for name, data in make_zips().items():
        (tmp_path / "corpus" / name).write_bytes(data)
    out = run_stage_1(tmp_path, "--download", "false", "--valid_set", "test")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "valid 2, test 2" in out.stdout and "validation = the test set" in out.stdout
    assert json.loads((tmp_path / "data" / "valid.json").read_text()) == json.loads(
        (tmp_path / "data" / "test.json").read_text())
    out = run_stage_1(tmp_path, "--download", "false", "--valid_set", "dev")
    assert out.returncode == 1 and "--valid_set must be speakers or test" in out.stderr


def test_recipe_stages_1_to_4_train_a_small_model(tmp_path):
    """recipes/voicebank/run.sh on the tiny corpus (zips placed by hand,
    --download false): stage 1 prepares, stage 2 trains a small SEMamba for one
    step with the paper YAML (magphase.yaml, SEMamba protocol), stage 3 enhances
    the test set through MambaEnhancer, stage 4 scores it in paper composite mode."""
    import subprocess
    import sys

    root = os.path.join(os.path.dirname(__file__), "..")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, data in make_zips().items():
        (corpus / name).write_bytes(data)
    small = "{semamba_advanced: {channels: 8, num_blocks: 1, mamba: {d_state: 4}}}"
    cmd = ["bash", os.path.join(root, "recipes", "voicebank", "run.sh"), "--corpus_dir", str(corpus),
           "--download", "false", "--data_dir", str(tmp_path / "data"), "--exp_dir", str(tmp_path / "exp"),
           "--python", sys.executable, "--stop_stage", "4", "--",
           "--model_sizes", small, "--number_of_epochs", "1", "--batch_size", "2", "--num_workers", "0",
           "--score_workers", "1", "--evaluate_test", "False"]
    env = dict(os.environ, WORKERS="1", RESULTS_MD="")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    exp = tmp_path / "exp" / "semamba_advanced"
    log = (exp / "train_log.txt").read_text()
    assert "epoch: 1" in log and "valid" in log.lower()
    hp = (exp / "hyperparams.yaml").read_text()
    assert "protocol: semamba" in hp
    from se_mamba.recipe.enhance import load_experiment

    model, _ = load_experiment(str(exp))
    assert model.dense_encoder is not None and sum(p.numel() for p in model.parameters()) < 100_000
    enhanced = json.loads((exp / "enhanced" / "test" / "enhanced.json").read_text())
    assert sorted(enhanced) == TEST
    results = (exp / "RESULTS_test.md").read_text()
    assert results.startswith("# voicebank / semamba_advanced") and "paper mode" in results
    assert "Published (Chao et al." in results  # the SEMamba paper's row next to ours
    for n in (1, 2, 3, 4):
        assert (exp / "logs" / f"stage{n}.log").stat().st_size > 0


@pytest.mark.parametrize("model,expected", [
    ("sbm", ["hparams/train/sb.yaml", "--model_name sbm"]),
    ("semamba_advanced_pcs", ["hparams/train/magphase.yaml", "--model_name semamba_advanced", "--pcs True"]),
    ("mpsenet", ["hparams/train/magphase.yaml", "--model_name mpsenet", "--consistency_weight 0.0"]),
])
def test_the_model_tag_chooses_the_training_yaml_and_its_overrides(tmp_path, model, expected):
    """Stage 2's command line for a model tag (a stand-in Python records it)."""
    import subprocess

    root = os.path.join(os.path.dirname(__file__), "..")
    fake = tmp_path / "python"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/calls\n')
    fake.chmod(0o755)
    out = subprocess.run(["bash", os.path.join(root, "recipes", "voicebank", "run.sh"), "--stage", "2",
                          "--stop_stage", "2", "--model", model, "--python", str(fake),
                          "--exp_dir", str(tmp_path / "exp"), "--", "--max_steps", "3"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    call = (tmp_path / "calls").read_text()
    assert call.startswith("-m se_mamba.recipe.train") and call.rstrip().endswith("--max_steps 3")
    for piece in expected:
        assert piece in call
    assert f"exp/{model}" in call
