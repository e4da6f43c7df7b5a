"""DNS 2020 training-data synthesis (se_mamba.data.dns_synth) on a tiny tree in
the DNS layout: reproducibility in any number of workers, resumption, the
measured SNR and level of every clip, held-out validation readers, and the
joint task's target against a known impulse response."""
import json
import os

import numpy as np
import pytest
import soundfile as sf

from se_mamba.data import dns_synth
from se_mamba.data.dns_synth import SynthConfig, early_part, generate

from test_download import server  # noqa: F401  (the local HTTP server fixture)

SR = 16000
TRAIN_READERS = ("00011", "00237", "04420")
VALID_READER = "01326"  # one of MambAttention's held-out readers


def speechlike(rng, seconds):
    """Harmonic bursts with pauses: active enough for the 0.6 activity threshold."""
    t = np.arange(int(seconds * SR)) / SR
    f0 = rng.uniform(100, 220)
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8))
    env = (np.sin(2 * np.pi * 3 * t + rng.uniform(0, 6)) > -0.6).astype(float)
    return 0.1 * x * env


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("dns")
    rng = np.random.default_rng(0)
    clean, noise = root / "datasets" / "clean", root / "datasets" / "noise"
    clean.mkdir(parents=True)
    noise.mkdir(parents=True)
    for r in (*TRAIN_READERS, VALID_READER):
        for k in range(2):
            name = f"book_{int(r) + 7:05d}_chp_{k + 3:04d}_reader_{r}_{k}.wav"
            sf.write(clean / name, speechlike(rng, rng.uniform(1.0, 2.0)), SR, subtype="PCM_16")
    for k, kind in enumerate(("Air_Conditioner", "Babble", "Typing")):
        sf.write(noise / f"{kind}_{k}.wav", 0.05 * rng.standard_normal(int(1.5 * SR)), SR, subtype="PCM_16")
    return root


def small(**kw):
    return SynthConfig(**{"n_train": 6, "n_valid": 3, "clip_seconds": 3.0, **kw})


def files_of(folder):
    return {os.path.relpath(os.path.join(d, f), folder): open(os.path.join(d, f), "rb").read()
            for d, _, fs in os.walk(folder) for f in fs if f.endswith((".wav", ".json"))}


def test_same_seed_same_clips_in_any_number_of_workers_and_resumes(tree, tmp_path):
    src = (str(tree / "datasets" / "clean"), str(tree / "datasets" / "noise"))
    generate(*src, str(tmp_path / "a"), small(), workers=1, progress=False)
    generate(*src, str(tmp_path / "b"), small(), workers=2, progress=False)
    a = files_of(tmp_path / "a")
    a_wavs = {k: v for k, v in a.items() if k.endswith(".wav")}
    assert len(a_wavs) == 2 * 9
    assert {k: v for k, v in files_of(tmp_path / "b").items() if k.endswith(".wav")} == a_wavs
    # an interrupted run: a clip missing is made again, identical
    os.remove(tmp_path / "a" / "train" / "noisy" / "fileid_4.wav")
    generate(*src, str(tmp_path / "a"), small(), workers=1, progress=False)
    assert files_of(tmp_path / "a") == a
    # another seed, other clips; another configuration in the same folder is refused
    generate(*src, str(tmp_path / "c"), small(seed=7), workers=1, progress=False)
    assert (tmp_path / "c" / "train" / "noisy" / "fileid_0.wav").read_bytes() != \
        (tmp_path / "a" / "train" / "noisy" / "fileid_0.wav").read_bytes()
    with pytest.raises(ValueError, match="another configuration .*seed"):
        generate(*src, str(tmp_path / "a"), small(seed=7), workers=1, progress=False)


def test_every_clip_has_its_snr_level_length_and_readers(tree, tmp_path):
    cfg = small(snr_lower=-5.0, snr_upper=15.0, snr_levels=5)
    man = generate(str(tree / "datasets" / "clean"), str(tree / "datasets" / "noise"), str(tmp_path / "s"), cfg,
                   workers=1, progress=False)
    grid = {-5.0, 0.0, 5.0, 10.0, 15.0}
    seen = set()
    for split, path in man.items():
        items = json.loads(open(path).read())
        assert len(items) == (6 if split == "train" else 3)
        for uid, it in items.items():
            it = {k: v.replace("{data_root}", str(tmp_path / "s")) if isinstance(v, str) else v
                  for k, v in it.items()}
            noisy, fs = sf.read(it["noisy_wav"])
            clean, _ = sf.read(it["clean_wav"])
            assert fs == SR and noisy.size == clean.size == 3 * SR and it["length"] == 3.0
            # measured on the written files (no reverberation: noisy = clean + noise)
            n = noisy - clean
            snr = 10 * np.log10(np.sum(clean**2) / np.sum(n**2))
            assert it["snr"] in grid and abs(snr - it["snr"]) < 0.05, (uid, snr, it["snr"])
            level = 10 * np.log10(np.mean(noisy**2))
            assert -35.0 - 0.05 <= level <= -15.0 + 0.05 and abs(level - it["target_level"]) < 0.05, uid
            meta = json.loads(open(os.path.join(os.path.dirname(os.path.dirname(it["noisy_wav"])), "meta",
                                                os.path.basename(it["noisy_wav"])[:-4] + ".json")).read())
            readers = {dns_synth._reader(f) for f in meta["speech_files"]}
            assert readers == {VALID_READER} if split == "valid" else readers <= set(TRAIN_READERS), uid
            seen.add(it["snr"])
    assert len(seen) >= 3  # the levels are drawn, not fixed


def test_the_joint_target_is_the_direct_path_plus_early_reflections(tree, tmp_path):
    """A measured RIR with a direct path, an early reflection at 30 ms and a
    late one at 300 ms: the joint target keeps the first two only, the
    denoise target all three (noise made negligible by a 120 dB SNR)."""
    rir = np.zeros(int(0.4 * SR))
    d = 40
    rir[d], rir[d + 480], rir[d + 4800] = 1.0, 0.5, 0.7
    early = early_part(rir, 50.0, SR)
    assert early.size == d + 800 + 1 and np.count_nonzero(early) == 2
    (tmp_path / "rirs").mkdir()
    sf.write(tmp_path / "rirs" / "room.wav", rir, SR, subtype="FLOAT")
    src = (str(tree / "datasets" / "clean"), str(tree / "datasets" / "noise"))
    quiet = dict(snr_lower=120.0, snr_upper=120.0, snr_levels=1, reverb_prob=1.0, rir_dir=str(tmp_path / "rirs"),
                 n_train=2, n_valid=1)
    for task in ("joint", "denoise"):
        man = generate(*src, str(tmp_path / task), small(task=task, **quiet), workers=1, progress=False)
        it = json.loads(open(man["train"]).read())["train_fileid_0"]
        assert it["rir"] == "room.wav"
        noisy, _ = sf.read(it["noisy_wav"].replace("{data_root}", str(tmp_path / task)))
        target, _ = sf.read(it["clean_wav"].replace("{data_root}", str(tmp_path / task)))
        if task == "denoise":
            np.testing.assert_allclose(noisy, target, atol=2e-4)
            continue
        # target = s(t - d) + 0.5 s(t - d - 480): recover s, then the late part is the difference
        s = np.zeros_like(target)
        for t in range(d, target.size):
            s[t - d] = target[t] - (0.5 * s[t - d - 480] if t - d >= 480 else 0.0)
        late = np.zeros_like(target)
        late[d + 4800:] = 0.7 * s[: target.size - d - 4800]
        assert np.max(np.abs(late)) > 0.01
        np.testing.assert_allclose(noisy - target, late, atol=2e-3)


def test_simulated_rooms_have_the_drawn_rt60():
    import pyroomacoustics as pra

    rng = np.random.default_rng(3)
    for rt60 in (0.3, 0.8):
        rir = dns_synth.simulated_rir(rng, rt60)
        measured = pra.experimental.measure_rt60(rir, fs=SR, decay_db=30)
        assert 0.6 * rt60 < measured < 1.5 * rt60, (rt60, measured)
        assert early_part(rir).size < rir.size


def test_bad_sources_fail_in_one_line(tree, tmp_path):
    noise = str(tree / "datasets" / "noise")
    assert dns_synth.main(["--clean_dir", str(tmp_path), "--noise_dir", noise, "--out_dir", str(tmp_path / "o")]) == 1
    with pytest.raises(ValueError, match="no valid speech"):
        generate(str(tree / "datasets" / "clean"), noise, str(tmp_path / "v"), small(valid_readers=("99999",)),
                 workers=1, progress=False)
    with pytest.raises(ValueError, match="needs reverberant clips"):
        small(task="joint").check()
    with pytest.raises(ValueError, match="activity threshold"):
        generate(str(tree / "datasets" / "clean"), noise, str(tmp_path / "t"), small(clean_activity_threshold=0.99),
                 workers=1, progress=False)


# --- the training sources from GitHub (trees API, Git LFS), served from 127.0.0.1 ---------------------------
def serve_sources(tree):
    """``datasets/{clean,noise}`` as GitHub serves the repository: the trees API
    one level at a time, an LFS pointer on the raw host, the audio on media."""
    import hashlib

    from se_mamba.data import dns2020

    from test_download import Handler

    api = f"/api/repos/{dns2020.OWNER_REPO}/git/trees"
    Handler.files[f"{api}/interspeech2020%2Fmaster"] = json.dumps({"tree": [
        {"path": "README.md", "type": "blob", "sha": "r0"}, {"path": "datasets", "type": "tree", "sha": "t1"}],
        "truncated": False}).encode()
    Handler.files[f"{api}/t1"] = json.dumps({"tree": [
        {"path": "clean", "type": "tree", "sha": "tc"}, {"path": "noise", "type": "tree", "sha": "tn"},
        {"path": "test_set", "type": "tree", "sha": "tt"}], "truncated": False}).encode()
    served = {}
    for sub, sha in (("clean", "tc"), ("noise", "tn")):
        names = sorted(os.listdir(tree / "datasets" / sub))
        Handler.files[f"{api}/{sha}"] = json.dumps({"tree": [{"path": n, "type": "blob", "sha": n} for n in names],
                                                    "truncated": False}).encode()
        for n in names:
            data = (tree / "datasets" / sub / n).read_bytes()
            rel = f"{dns2020.OWNER_REPO}/{dns2020.BRANCH}/datasets/{sub}/{n}"
            sha256 = hashlib.sha256(data).hexdigest()
            Handler.files[f"/raw/{rel}"] = \
                f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {len(data)}\n".encode()
            Handler.files[f"/media/{rel}"] = data
            served[f"{sub}/{n}"] = data
    return served


def test_sources_downloaded_as_an_even_subset_with_the_validation_readers(server, tree, tmp_path):  # noqa: F811
    from se_mamba.data import dns2020

    served = serve_sources(tree)
    corpus = tmp_path / "corpus"
    clean, noise = dns_synth.find_sources(corpus_dir=str(corpus), mirror=server, max_files=2)
    got = {f"{sub}/{n}": (corpus / "datasets" / sub / n).read_bytes()
           for sub in ("clean", "noise") for n in os.listdir(corpus / "datasets" / sub) if n.endswith(".wav")}
    assert all(served[k] == v for k, v in got.items())  # the LFS content, not the pointer
    names = sorted(k for k in got if k.startswith("clean/"))
    # 2 spread over the 8 sorted clean files, plus both files of the validation reader
    assert len(names) == 4 and sum(f"reader_{VALID_READER}" in n for n in names) == 2
    assert len([k for k in got if k.startswith("noise/")]) == 2
    # the recipe's entry point on what it fetched
    assert dns_synth.main(["--corpus_dir", str(corpus), "--mirror", server, "--max_files", "2", "--out_dir",
                           str(tmp_path / "data"), "--n_train", "2", "--n_valid", "1", "--clip_seconds", "2",
                           "--workers", "1"]) == 0
    assert len(json.loads((tmp_path / "data" / "train.json").read_text())) == 2
    # a checkout the user has
    assert dns_synth.find_sources(dns_dir=str(tree)) == (str(tree / "datasets" / "clean"),
                                                          str(tree / "datasets" / "noise"))
    # a corrupted file: one line, with the way round it
    rel = next(k for k in served if k.startswith("noise/"))
    from test_download import Handler

    Handler.files[f"/media/{dns2020.OWNER_REPO}/{dns2020.BRANCH}/datasets/{rel}"] = b"RIFF corrupted"
    with pytest.raises(dns2020.DownloadError) as err:
        dns2020.fetch_sources(str(tmp_path / "c2"), server, progress=False)
    assert "SHA256" in str(err.value) and "git lfs pull" in str(err.value) and "\n" not in str(err.value)
    # a listing GitHub truncated is refused, not used in part
    key = f"/api/repos/{dns2020.OWNER_REPO}/git/trees/tn"
    Handler.files[key] = json.dumps({"tree": [], "truncated": True}).encode()
    with pytest.raises(dns2020.DownloadError, match="truncated"):
        dns2020.fetch_sources(str(tmp_path / "c3"), server, progress=False)


@pytest.fixture
def checkout(tree, tmp_path):
    """A DNS-Challenge checkout: the tiny sources plus the tiny test sets."""
    import shutil

    from test_corpora_prep import dns_tree

    out = tmp_path / "DNS-Challenge"
    shutil.copytree(tree / "datasets", out / "datasets")
    for rel, data in dns_tree().items():
        (out / "datasets" / "test_set" / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / "datasets" / "test_set" / rel).write_bytes(data)
    return out


def test_recipe_stage_1_on_a_checkout(checkout, tmp_path):
    """recipes/dns2020 stage 1 on a DNS-Challenge checkout: the three test sets
    and the synthesised training/validation clips in one data folder, ready for
    the training YAML (train.json, valid.json; test = dns2020_no_reverb)."""
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    data, exp = tmp_path / "data", tmp_path / "exp"
    r = subprocess.run(["bash", os.path.join(root, "recipes", "dns2020", "run.sh"), "--dns_dir", str(checkout),
                        "--data_dir", str(data), "--exp_dir", str(exp), "--stage", "1", "--stop_stage", "1",
                        "--n_train", "3", "--n_valid", "1", "--clip_seconds", "2", "--workers", "1",
                        "--python", sys.executable],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    sets = {p.name[:-5]: json.loads(p.read_text()) for p in data.glob("*.json")}
    assert {k: len(v) for k, v in sets.items()} == {"train": 3, "valid": 1, "dns2020_no_reverb": 3,
                                                    "dns2020_with_reverb": 3, "dns2020_real": 2}
    conf = json.loads((data / "synthesis" / "config.json").read_text())
    assert conf["task"] == "joint" and conf["reverb_prob"] == 0.5 and conf["clip_seconds"] == 2.0
    assert (exp / "sbm" / "logs" / "stage1.log").exists()
