"""Preparation of VB-DemandEx, the DNS 2020 test sets and the EARS-WHAM test set
on tiny corpora in the published layouts, served from 127.0.0.1 the way their
hosts serve them (the Hugging Face API and resolve URLs; GitHub's contents API,
LFS pointers and media URLs; release zips)."""
import hashlib
import io
import json
import os
import zipfile

import numpy as np
import pytest
import soundfile as sf

from se_mamba.data import dns2020, ears_wham, vb_demandex
from se_mamba.data.download import DownloadError

from test_download import Handler, server  # noqa: F401  (the local HTTP server fixture)
from test_released import fake_release  # noqa: F401  (a fake official checkpoint over HTTP)


def wav_bytes(x, fs=16000, subtype="PCM_16"):
    buf = io.BytesIO()
    sf.write(buf, x, fs, format="WAV", subtype=subtype)
    return buf.getvalue()


def noise(seed, n, channels=None, scale=0.1):
    r = np.random.default_rng(seed)
    return (scale * r.standard_normal(n if channels is None else (n, channels))).astype(np.float32)


def zip_of(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


# --- VB-DemandEx --------------------------------------------------------------------------------------------

VBX = {"train": ["p226_001", "p230_002"], "valid": ["p282_001", "p287_004"], "test": ["p232_001", "p257_003"]}


def vbx_zips():
    zips = {}
    for split, ids in VBX.items():
        for kind in ("clean", "noisy"):
            files = {f"VB-DemandEx/{kind}_{split}/{u}.wav": wav_bytes(noise(i + (kind == "noisy"), 8000))
                     for i, u in enumerate(ids)}
            zips[f"{kind}_{split}.zip"] = zip_of(files)
    return zips


def serve_vbx(zips, sha=None):
    siblings = [{"rfilename": ".gitattributes"}, {"rfilename": "README.md"}]
    for name, data in zips.items():
        siblings.append({"rfilename": name, "lfs": {"sha256": sha or hashlib.sha256(data).hexdigest(),
                                                    "size": len(data)}})
        Handler.files[f"/datasets/{vb_demandex.REPO}/resolve/main/{name}"] = data
    Handler.files[f"/api/datasets/{vb_demandex.REPO}?blobs=true"] = json.dumps({"siblings": siblings}).encode()


def test_vb_demandex_from_the_hub(server, tmp_path):  # noqa: F811
    serve_vbx(vbx_zips())
    txt = tmp_path / "txt"
    txt.mkdir()
    (txt / "p232_001.txt").write_text("Ask her to bring these things.\n")
    counts = vb_demandex.prepare(str(tmp_path / "corpus"), str(tmp_path / "data"), hf_endpoint=server,
                                 transcripts=[str(txt)], progress=False)
    assert counts == {"train": 2, "valid": 2, "test": 2}
    valid = json.loads((tmp_path / "data" / "valid.json").read_text())
    assert {v["speaker"] for v in valid.values()} == {"p282", "p287"}  # the paper's held-out speakers
    test = json.loads((tmp_path / "data" / "test.json").read_text())
    assert test["p232_001"]["words"] == "Ask her to bring these things." and test["p257_003"]["words"] == ""
    item = test["p232_001"]
    assert item["noisy_wav"].endswith("VB-DemandEx/noisy_test/p232_001.wav")  # 16 kHz: used in place
    assert item["clean_wav"].endswith("VB-DemandEx/clean_test/p232_001.wav") and item["length"] == 0.5
    # a second run finds everything in place: no request at all
    Handler.files.clear()
    assert vb_demandex.prepare(str(tmp_path / "corpus"), str(tmp_path / "data"), hf_endpoint=server,
                               progress=False) == counts


def test_vb_demandex_checks_the_hub_sha256_and_fails_offline_in_one_line(server, tmp_path):  # noqa: F811
    serve_vbx(vbx_zips(), sha="0" * 64)
    with pytest.raises(DownloadError) as err:
        vb_demandex.prepare(str(tmp_path / "corpus"), str(tmp_path / "data"), hf_endpoint=server, progress=False)
    assert "SHA256" in str(err.value) and "\n" not in str(err.value)
    assert not [f for f in os.listdir(tmp_path / "corpus") if f.endswith(".zip")]  # nothing under a final name
    with pytest.raises(DownloadError) as err:
        vb_demandex.prepare(str(tmp_path / "c2"), str(tmp_path / "d2"), hf_endpoint="http://127.0.0.1:9",
                            progress=False)
    assert "cannot connect" in str(err.value) and "\n" not in str(err.value)
    assert vb_demandex.main(["--corpus_dir", str(tmp_path / "c3"), "--data_dir", str(tmp_path / "d3"),
                             "--download", "false"]) == 1


# --- DNS 2020 -----------------------------------------------------------------------------------------------

def dns_tree():
    """{path under datasets/test_set: bytes}: 3 clips per synthetic set, 2 real recordings."""
    files = {}
    for reverb in ("no_reverb", "with_reverb"):
        for fid, (snr, tl) in zip((0, 7, 12), ((0, 25), (5, 30), (10, 15))):
            clean = noise(fid, 16000)
            files[f"synthetic/{reverb}/clean/clean_fileid_{fid}.wav"] = wav_bytes(clean)
            files[f"synthetic/{reverb}/noisy/clnsp{fid + 3}_babble_snr{snr}_tl-{tl}_fileid_{fid}.wav"] = \
                wav_bytes(clean + noise(100 + fid, 16000))
    for i in range(2):
        files[f"real_recordings/ms_realrec_headset_cleaned_{i}.wav"] = wav_bytes(noise(50 + i, 12000))
    return files


def serve_dns(files, lfs=True):
    base = f"{dns2020.OWNER_REPO}/{dns2020.BRANCH}/{dns2020.TEST_SET}"
    ref = "interspeech2020%2Fmaster"
    listings = {}
    for rel, data in files.items():
        folder, name = rel.rsplit("/", 1)
        listings.setdefault(folder, []).append({"name": name, "type": "file", "path": f"{dns2020.TEST_SET}/{rel}"})
        sha = hashlib.sha256(data).hexdigest()
        pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {len(data)}\n".encode()
        Handler.files[f"/raw/{base}/{rel}"] = pointer if lfs else data
        Handler.files[f"/media/{base}/{rel}"] = data
    for folder, entries in listings.items():
        Handler.files[f"/api/repos/{dns2020.OWNER_REPO}/contents/{dns2020.TEST_SET}/{folder}?ref={ref}"] = \
            json.dumps(entries + [{"name": "README", "type": "file"}]).encode()


def check_dns_manifests(data):
    nr, wr, real = (json.loads((data / f"{s}.json").read_text()) for s in dns2020.SETS)
    assert sorted(nr) == ["no_reverb_fileid_0", "no_reverb_fileid_12", "no_reverb_fileid_7"]
    assert nr["no_reverb_fileid_7"]["clean_wav"].endswith("no_reverb/clean/clean_fileid_7.wav")
    assert "_fileid_7.wav" in nr["no_reverb_fileid_7"]["noisy_wav"] and nr["no_reverb_fileid_7"]["length"] == 1.0
    # with_reverb's "clean" is reverberant: no reference, DNSMOS only
    assert all(v["clean_wav"] is None and v["reverberant_clean_wav"] for v in wr.values()) and len(wr) == 3
    assert len(real) == 2 and all(v["clean_wav"] is None for v in real.values())
    # speaker similarity without a clean reference: the reverberant speech; for real recordings, the input
    assert all(v["speaker_ref_wav"] == v["reverberant_clean_wav"] for v in wr.values())
    assert all(v["speaker_ref_wav"] == v["noisy_wav"] for v in real.values())


def test_dns2020_test_sets_from_github_lfs(server, tmp_path):  # noqa: F811
    files = dns_tree()
    serve_dns(files)
    corpus = tmp_path / "corpus"
    counts = dns2020.prepare(str(tmp_path / "data"), corpus_dir=str(corpus), mirror=server, progress=False)
    assert counts == {"dns2020_no_reverb": 3, "dns2020_with_reverb": 3, "dns2020_real": 2}
    check_dns_manifests(tmp_path / "data")
    for rel, data in files.items():  # the LFS content, not the pointer
        assert (corpus / dns2020.TEST_SET / rel).read_bytes() == data


def test_dns2020_lfs_sha256_mismatch_and_a_user_folder(server, tmp_path):  # noqa: F811
    files = dns_tree()
    serve_dns(files)
    key = next(k for k in Handler.files if k.startswith("/media/") and "real_recordings" in k
              )
    Handler.files[key] = b"RIFF corrupted"
    with pytest.raises(DownloadError) as err:
        dns2020.prepare(str(tmp_path / "data"), corpus_dir=str(tmp_path / "corpus"), mirror=server, progress=False)
    assert "SHA256" in str(err.value) and "git lfs pull" in str(err.value) and "\n" not in str(err.value)
    # a copy the user has: a DNS-Challenge checkout
    mine = tmp_path / "DNS-Challenge" / dns2020.TEST_SET
    for rel, data in files.items():
        (mine / rel).parent.mkdir(parents=True, exist_ok=True)
        (mine / rel).write_bytes(data)
    dns2020.prepare(str(tmp_path / "d2"), dns_dir=str(tmp_path / "DNS-Challenge"), progress=False)
    check_dns_manifests(tmp_path / "d2")
    os.remove(mine / "synthetic" / "no_reverb" / "clean" / "clean_fileid_12.wav")
    assert dns2020.main(["--data_dir", str(tmp_path / "d3"), "--dns_dir", str(mine)]) == 1


# --- EARS-WHAM ----------------------------------------------------------------------------------------------

FS = 48000


def speech_like(seed, seconds):
    """Amplitude-modulated harmonics: loudness-gated speech stand-in at 48 kHz."""
    t = np.arange(int(seconds * FS)) / FS
    f0 = 120 + 20 * seed
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8))
    return (0.1 * x * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def ears_release():
    """EARS zips for the six test speakers, WHAM! 48 kHz with its metadata, test_files.json."""
    files, segments = {}, {}
    for k, spk in enumerate(ears_wham.TEST_SPEAKERS):
        names = {"emo_anger_sentences": [[0, -1]], "rainbow_01_regular": [[0, -1]]}
        members = {f"{spk}/{n}.wav": wav_bytes(speech_like(k + i, 2.0 + 0.5 * i), FS)
                   for i, n in enumerate(names)}
        if spk == "p102":  # a long free-form file cut in two, the second piece 12 s long
            names["freeform_speech_01"] = [[4800, 96000], [96000, -1]]
            members[f"{spk}/freeform_speech_01.wav"] = wav_bytes(speech_like(9, 14.0), FS)
        segments[spk] = names
        files[f"/facebookresearch/ears_dataset/releases/download/dataset/{spk}.zip"] = zip_of(members)
    from scipy.signal import butter, sosfilt

    # noise below 6 kHz: the 16 kHz output keeps all of it, so loudness measured
    # at 16 kHz is the loudness the mix was made with at 48 kHz
    sos = butter(8, 6000, fs=FS, output="sos")
    wham = {f"high_res_wham/audio/{n}.wav": wav_bytes(sosfilt(sos, noise(i, 20 * FS, channels=2, scale=0.05),
                                                              axis=0).astype(np.float32), FS)
            for i, n in enumerate(["n_tr_a", "n_tt_b", "n_tt_c", "n_cv_d"])}
    wham["high_res_wham/high_res_metadata.csv"] = ("Filename,WHAM! Split,Location\n"
                                                   "n_tr_a.wav,Train,x\nn_tt_b.wav,Test,y\nn_tt_c.wav,Test,z\n"
                                                   "n_cv_d.wav,Valid,w\n").encode()
    files["/high_res_wham.zip"] = zip_of(wham)
    files["/sp-uhh/ears_benchmark/main/test_files.json"] = json.dumps(segments).encode()
    return files


def test_ears_wham_test_set_generated_and_chunked(server, tmp_path):  # noqa: F811
    import pyloudnorm

    Handler.files.update(ears_release())
    counts = ears_wham.prepare(str(tmp_path / "data"), corpus_dir=str(tmp_path / "corpus"), mirror=server,
                               progress=False)
    generated = tmp_path / "corpus" / "EARS-WHAM_16k"
    rows = (generated / "test.csv").read_text().splitlines()[1:]
    assert len(rows) == 6 * 2 + 2  # every segment of every test speaker
    assert {r.split(",")[5] for r in rows} <= {"n_tt_b", "n_tt_c"}  # noise from WHAM!'s test split only
    meter = pyloudnorm.Meter(16000)
    for r in rows[:5]:
        uid, spk, snr = r.split(",")[0], r.split(",")[1], float(r.split(",")[-1])
        clean, fs = sf.read(generated / "test" / "clean" / spk / f"{uid}.wav")
        noisy, _ = sf.read(generated / "test" / "noisy" / spk / f"{uid}_{snr:.1f}dB.wav")
        assert fs == 16000 and len(clean) == len(noisy)
        # the label is the BS.1770 loudness difference of speech and added noise
        measured = meter.integrated_loudness(clean) - meter.integrated_loudness(noisy - clean)
        assert measured == pytest.approx(snr, abs=0.6)
        assert -2.5 <= snr <= 17.5 + 3
    # chunks: the 12 s piece gives 10 s + 2 s, everything else one chunk
    items = json.loads((tmp_path / "data" / "ears_wham_v2.json").read_text())
    assert counts == {"ears_wham_v2": 15} and len(items) == 15
    long = [v for v in items.values() if v["offset"] == 10.0]
    assert len(long) == 1 and long[0]["length"] == pytest.approx(2.0, abs=1e-3)
    first = next(v for k, v in items.items() if k.endswith("_c0") and v["source"] == long[0]["source"])
    assert first["length"] == 10.0
    x, fs = sf.read(first["noisy_wav"])
    assert fs == 16000 and len(x) == 160000
    # deterministic: a second generation from the same sources is byte-identical
    again = ears_wham.generate_test(str(tmp_path / "corpus" / "EARS"), str(tmp_path / "corpus" / "WHAM48kHz"),
                                    str(tmp_path / "corpus" / "test_files.json"), str(tmp_path / "again"),
                                    progress=False)
    assert again == 14
    assert (tmp_path / "again" / "test.csv").read_bytes() == (generated / "test.csv").read_bytes()
    spk = rows[3].split(",")[1]
    name = f"{rows[3].split(',')[0]}_{float(rows[3].split(',')[-1]):.1f}dB.wav"
    assert (tmp_path / "again" / "test" / "noisy" / spk / name).read_bytes() == \
        (generated / "test" / "noisy" / spk / name).read_bytes()


def test_ears_wham_from_a_folder_and_offline(tmp_path):
    folder = tmp_path / "EARS-WHAM_v2_16k" / "test"
    for kind in ("clean", "noisy"):
        (folder / kind / "p105").mkdir(parents=True)
    x = noise(1, 16000 * 25)
    sf.write(folder / "clean" / "p105" / "00003.wav", x, 16000, subtype="FLOAT")
    sf.write(folder / "noisy" / "p105" / "00003_4.5dB.wav", x + noise(2, len(x)), 16000, subtype="FLOAT")
    assert ears_wham.prepare(str(tmp_path / "data"), ears_wham_dir=str(folder.parent), progress=False) == \
        {"ears_wham_v2": 3}
    items = json.loads((tmp_path / "data" / "ears_wham_v2.json").read_text())
    assert sorted(items) == ["p105_00003_c0", "p105_00003_c1", "p105_00003_c2"]
    c2, _ = sf.read(items["p105_00003_c2"]["clean_wav"], dtype="float32")
    assert np.array_equal(c2, x[320000:])  # the last 5 s, exact
    with pytest.raises(DownloadError) as err:
        ears_wham.prepare(str(tmp_path / "d2"), corpus_dir=str(tmp_path / "corpus"), download_files=False)
    assert "p102" in str(err.value) and "--ears_wham_dir" in str(err.value) and "\n" not in str(err.value)


# --- the VB-DemandEx recipe -----------------------------------------------------------------------------------

def test_vb_demandex_recipe_with_the_evaluation_corpora(server, fake_release, tmp_path):  # noqa: F811
    """recipes/vb_demandex/run.sh stages 1, 3, 4 with --pretrained official:NAME: VB-DemandEx from
    the (local) hub, DNS 2020 and EARS-WHAM_v2 from folders the user has; intrusive metrics
    where a clean reference exists, DNSMOS only on with_reverb and the real recordings; the
    Table I file marks what was not scored."""
    import subprocess
    import sys

    serve_vbx(vbx_zips())
    dns = tmp_path / "dns" / "test_set"
    for rel, data in dns_tree().items():
        (dns / rel).parent.mkdir(parents=True, exist_ok=True)
        (dns / rel).write_bytes(data)
    ew = tmp_path / "ew" / "test"
    for kind in ("clean", "noisy"):
        (ew / kind / "p102").mkdir(parents=True)
    x = noise(3, 16000 * 12, scale=0.05)
    sf.write(ew / "clean" / "p102" / "00000.wav", x, 16000, subtype="FLOAT")
    sf.write(ew / "noisy" / "p102" / "00000_2.5dB.wav", x + noise(4, len(x), scale=0.05), 16000, subtype="FLOAT")
    root = os.path.join(os.path.dirname(__file__), "..")
    exp = tmp_path / "exp"
    cmd = ["bash", os.path.join(root, "recipes", "vb_demandex", "run.sh"), "--corpus_dir", str(tmp_path / "c"),
           "--hf_endpoint", server, "--dns_dir", str(dns), "--ears_wham_dir", str(ew.parent),
           "--data_dir", str(tmp_path / "data"), "--exp_dir", str(exp), "--python", sys.executable,
           "--pretrained", "official:semamba_vbd", "--model", "official_semamba", "--stop_stage", "4"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, WORKERS="1"), timeout=900)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    res = exp / "official_semamba"
    for s in ("test", "dns2020_no_reverb", "ears_wham_v2"):
        md = (res / f"RESULTS_{s}.md").read_text()
        assert "| pesq_wb |" in md and "| si_sdr |" in md and "paper mode" in md
    for s in ("dns2020_with_reverb", "dns2020_real"):
        md = (res / f"RESULTS_{s}.md").read_text()
        assert "the non-intrusive measures only" in md and "pesq_wb" not in md and "| dnsmos_ovrl |" in md
    table = (exp / "TABLE_I.md").read_text()
    noisy = json.loads((res / "scores" / "test" / "summary.json").read_text())["systems"]["noisy"]
    row = next(line for line in table.splitlines() if line.startswith("| Noisy (ours) |"))
    assert row.split("|")[2].strip() == f"{noisy['pesq_wb']['mean']:.2f}"
    assert "| official_semamba (ours) |" in table and "| MambAttention (published) | 3.03 | 7.67 | 0.80 | 16.68 |" in table
    assert "DNSMOS OVRL" in table
