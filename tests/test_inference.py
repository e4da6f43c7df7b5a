"""Inference for users: chunked overlap-add, MambaEnhancer (from_hparams, from_model), `se-mamba enhance`."""
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from se_mamba.inference import MambaEnhancer, overlap_add
from se_mamba.inference.chunking import chunk_starts
from se_mamba.metrics.intrusive import si_sdr
from se_mamba.models import build_model

ROOT = os.path.join(os.path.dirname(__file__), "..")
# fixtures no recipe writes: copies of the packed demo (recipes/mini/pretrained)
# and SBM small (recipes/mini_reverb/pretrained) packages
PACKED = os.path.join(ROOT, "tests", "data", "packed", "mini_semamba")
PACKED_SBM = os.path.join(ROOT, "tests", "data", "packed", "mini_reverb_sbm")
VB = os.path.join(ROOT, "tests", "data", "voicebank")


def test_overlap_add_is_exact_for_the_identity_and_covers_every_sample():
    x = torch.randn(3, 50_001, dtype=torch.float64)
    for chunk, overlap in [(10_000, 1_000), (7_000, 3_500), (4_096, 0)]:
        assert torch.allclose(overlap_add(lambda w: w, x, chunk, overlap), x, atol=1e-12)
        starts = chunk_starts(x.shape[-1], chunk, overlap)
        assert starts[-1] + chunk >= x.shape[-1] and all(b - a == chunk - overlap for a, b in zip(starts, starts[1:]))
    # a gain that differs per window is cross-faded, not cut: no jump larger than the gains' gap
    calls = iter(range(100))
    out = overlap_add(lambda w: w * 0 + next(calls), torch.zeros(1, 30_000), 10_000, 2_000)
    assert out.diff().abs().max() < 0.01
    with pytest.raises(ValueError, match="2 \\* overlap <= chunk"):
        overlap_add(lambda w: w, x, 1_000, 600)


@pytest.fixture(scope="module")
def demo():
    return MambaEnhancer.from_hparams(source=PACKED, savedir=None)


def test_from_hparams_loads_the_packed_demo_offline(demo, tmp_path):
    from hyperpyyaml import load_hyperpyyaml

    with open(os.path.join(PACKED, "hyperparams.yaml")) as f:
        hp = load_hyperpyyaml(f)
    hp["model"].load_state_dict(torch.load(os.path.join(PACKED, "model.ckpt")))
    x = torch.randn(1, 16000) * 0.1
    with torch.no_grad():
        assert torch.allclose(demo.enhance_batch(x), hp["model"].eval().enhance(x), atol=1e-6)


def test_no_network_gives_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "se_mamba.cli.main", "enhance", os.path.join(VB, "noisy"),
                          "-o", str(tmp_path / "o"), "--model", "nobody/no-such-se-model",
                          "--savedir", str(tmp_path / "s")], capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert out.returncode == 1
    err = [line for line in out.stderr.splitlines() if line.startswith("se-mamba")]
    assert len(err) == 1 and "nobody/no-such-se-model" in err[0] and "offline" in err[0]


def test_chunked_60s_matches_whole_file(demo):
    """60 s of real noisy speech: chunks of 10 s with 1 s overlap against one pass."""
    clip = np.concatenate([sf.read(os.path.join(VB, "noisy", f))[0] for f in sorted(os.listdir(os.path.join(VB, "noisy")))])
    clip = torch.from_numpy(np.tile(clip, 2)[: 60 * 16000]).float().unsqueeze(0)
    demo.chunk_seconds = None
    whole = demo.enhance_batch(clip)
    demo.chunk_seconds, demo.overlap_seconds = 10.0, 1.0
    chunked = demo.enhance_batch(clip)
    demo.chunk_seconds = 30.0
    agreement = float(si_sdr(whole[0].numpy(), chunked[0].numpy()))
    print(f"SI-SDR(chunked vs whole) = {agreement:.1f} dB")
    assert agreement > 20.0  # measured ~28 dB (the per-chunk peak normalisation differs slightly)


def _write(path, x, fs, subtype="PCM_16"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(path, x, fs, subtype=subtype)


def test_hub_sources_fail_fast_in_one_line(tmp_path, monkeypatch):
    """A mistyped folder is "no such folder", not a hub error; a hub that cannot
    be reached fails at once (not after huggingface_hub's retries), from the
    Python API as from the CLI."""
    import time

    with pytest.raises(ValueError, match=r"^recipes/mini/pretrainde: no such folder$"):
        MambaEnhancer.from_hparams(source="recipes/mini/pretrainde")
    with pytest.raises(ValueError, match="not a hub repo id"):
        MambaEnhancer.from_hparams(source="pretrainde")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no hyperparams.yaml"):
        MambaEnhancer.from_hparams(source=str(tmp_path / "empty"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: what offline looks like
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"^nobody/model: no such folder, and http://127.0.0.1:9 cannot be "
                                         r"reached \(offline\?"):
        MambaEnhancer.from_hparams(source="nobody/model", savedir=str(tmp_path / "s"))
    assert time.perf_counter() - t0 < 5


def test_api_output_format_follows_the_extension_and_batches_are_checked(demo, tmp_path):
    src = tmp_path / "x.wav"
    _write(str(src), np.random.default_rng(0).standard_normal(8000) * 0.1, 16000)
    demo.enhance_file(str(src), output_filename=str(tmp_path / "y.flac"))
    assert sf.info(str(tmp_path / "y.flac")).format == "FLAC"
    demo.enhance_file(str(src), output_filename=str(tmp_path / "y.mp3"))
    assert sf.info(str(tmp_path / "y.mp3")).format == "MP3"
    with pytest.raises(ValueError, match=r"y\.xyz: cannot write \.xyz files \(writable: \.wav"):
        demo.enhance_file(str(src), output_filename=str(tmp_path / "y.xyz"))
    assert not (tmp_path / "y.xyz").exists()
    bad = torch.zeros(2, 4000)
    bad[1, 7] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        demo.enhance_batch(bad)
    with pytest.raises(ValueError, match=r"expected a \[N\] or \[B, N\] waveform batch, got shape \[1, 1, 4000\]"):
        demo.enhance_batch(torch.zeros(1, 1, 4000))


def test_an_unwritable_output_is_one_line_naming_the_file_and_the_cause(demo, tmp_path):
    src = tmp_path / "x.wav"
    _write(str(src), np.random.default_rng(0).standard_normal(8000) * 0.1, 16000)
    (tmp_path / "out" / "y.wav").mkdir(parents=True)  # a folder where the output file should go
    done, failures, _ = demo.enhance_files([(str(src), str(tmp_path / "out" / "y.wav"))], progress=False)
    assert done == [] and len(failures) == 1
    assert failures[0].startswith(f"{tmp_path / 'out' / 'y.wav'}: cannot write (")
    assert os.listdir(tmp_path / "out") == ["y.wav"]  # no temporary left behind


def test_cli_never_loses_or_reenhances_an_output(tmp_path):
    speech = np.random.default_rng(1).standard_normal(8000) * 0.05
    for rel in ("a/x.wav", "b/x.wav", "in/x.wav", "in/sub/z.flac"):
        _write(str(tmp_path / rel), speech, 16000)
    sf.write(str(tmp_path / "in" / "y.mp3"), speech, 16000, format="MP3")
    (tmp_path / "in" / "notes.txt").write_text("not audio")
    cli = [sys.executable, "-m", "se_mamba.cli.main", "enhance"]
    # two inputs, one output name: an error before anything is written
    clash = subprocess.run(cli + [str(tmp_path / "a/x.wav"), str(tmp_path / "b/x.wav"), "-o", str(tmp_path / "o"),
                                  "--model", PACKED], capture_output=True, text=True, timeout=300)
    assert clash.returncode == 1 and not list((tmp_path / "o").glob("*"))
    assert clash.stderr.strip().endswith("enhance them into separate output folders")
    assert "2 inputs would write this one output" in clash.stderr
    # an output folder inside the input folder: mp3 scanned, .txt reported, output tree not re-enhanced
    for _ in range(2):
        res = subprocess.run(cli + [str(tmp_path / "in"), "-o", str(tmp_path / "in" / "enh"), "--model", PACKED],
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-1000:]
        assert "enhanced 3/3 files" in res.stdout and "skipped 1 .txt file(s)" in res.stderr
    got = sorted(str(p.relative_to(tmp_path / "in" / "enh")) for p in (tmp_path / "in" / "enh").rglob("*"))
    assert got == ["sub", "sub/z.flac", "x.wav", "y.mp3"]
    # an output "folder" that is a file: one line, before loading anything
    bad = subprocess.run(cli + [str(tmp_path / "a"), "-o", str(tmp_path / "in" / "notes.txt"), "--model", PACKED],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1
    assert bad.stderr.strip() == f"se-mamba enhance: error: {tmp_path / 'in' / 'notes.txt'}: exists and is not a folder"


def test_cli_enhances_a_mixed_folder_and_reports_failures(tmp_path):
    src = tmp_path / "in"
    speech, fs = sf.read(os.path.join(VB, "noisy", "p232_003.wav"))
    from scipy.signal import resample_poly

    _write(str(src / "a16k.wav"), speech, 16000)
    _write(str(src / "deep" / "b8k.wav"), resample_poly(speech, 1, 2), 8000)
    _write(str(src / "deep" / "c48k_stereo.flac"), np.stack([resample_poly(speech, 3, 1)] * 2, 1) * 0.5, 48000,
           "PCM_24")
    _write(str(src / "d44k.wav"), resample_poly(speech, 441, 160), 44100, "FLOAT")
    _write(str(src / "short.wav"), speech[:800], 16000)           # 0.05 s
    _write(str(src / "zeros.wav"), np.zeros(16000), 16000)
    _write(str(src / "clipped.wav"), np.clip(speech * 20, -1, 1), 16000)
    _write(str(src / "nan.wav"), np.full(4000, np.nan), 16000, "FLOAT")
    _write(str(src / "empty.wav"), np.zeros(0), 16000)
    (src / "broken.wav").write_bytes(b"RIFF....not audio")
    before = {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "se_mamba.cli.main", "enhance", str(src), "-o", str(out), "--model", PACKED]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 1, res.stderr[-2000:]
    failed = [line for line in res.stderr.splitlines() if line.startswith("se-mamba enhance: failed:")]
    assert len(failed) == 3 and all(name in res.stderr for name in ("nan.wav", "empty.wav", "broken.wav"))
    assert "enhanced 7/10 files" in res.stdout
    for rel, fs_in, ch, subtype in [("a16k.wav", 16000, 1, "PCM_16"), ("deep/b8k.wav", 8000, 1, "PCM_16"),
                                    ("deep/c48k_stereo.flac", 48000, 2, "PCM_24"), ("d44k.wav", 44100, 1, "FLOAT"),
                                    ("short.wav", 16000, 1, "PCM_16"), ("zeros.wav", 16000, 1, "PCM_16")]:
        info, ref = sf.info(str(out / rel)), sf.info(str(src / rel))
        assert (info.samplerate, info.channels, info.subtype, info.frames) == (fs_in, ch, subtype, ref.frames), rel
    assert np.all(np.isfinite(sf.read(str(out / "zeros.wav"))[0]))
    # the inputs are untouched, and no temporary files are left behind
    assert all(p.read_bytes() == data for p, data in before.items())
    assert not [p for p in out.rglob("*.tmp*")]
    # enhancing in place is refused for that file, the others still run
    again = subprocess.run([sys.executable, "-m", "se_mamba.cli.main", "enhance", str(src / "a16k.wav"),
                            "-o", str(src), "--model", PACKED], capture_output=True, text=True, timeout=600)
    assert again.returncode == 1 and "refusing to write over an input file" in again.stderr
    assert (src / "a16k.wav").read_bytes() == before[src / "a16k.wav"]


def test_sb_model_options_and_determinism():
    torch.manual_seed(0)
    m = build_model("sbm", backbone={"hidden": 16, "num_layers": 1, "full_res_channels": 8})
    enh = MambaEnhancer.from_model(m, sb_steps=3, sampler="sde", seed=7)
    x = torch.randn(1, 8000) * 0.1
    assert torch.equal(enh.enhance_batch(x), enh.enhance_batch(x))
    with pytest.raises(ValueError, match="Schrödinger-bridge models only"):
        MambaEnhancer.from_model(build_model("semamba_advanced", channels=4, num_blocks=1), sb_steps=2)


def test_upload_checks_the_folder_before_any_network(tmp_path):
    from se_mamba.recipe.upload import check_folder, main

    for recipe in ("mini", "mini_reverb"):  # the committed packages are complete
        check_folder(os.path.join(ROOT, "recipes", recipe, "pretrained"))
    (tmp_path / "hyperparams.yaml").write_text("model: 1\n")
    with pytest.raises(ValueError, match="missing model.ckpt"):
        check_folder(str(tmp_path))
    assert main(["--folder", str(tmp_path / "nope"), "--repo", "u/n"]) == 1
    assert main(["--folder", PACKED, "--repo", "no-slash"]) == 1


def test_packed_sbm_loads_and_enhances_a_folder(tmp_path):
    """The SBM small package (a copy of recipes/mini_reverb/pretrained): one step by default."""
    enh = MambaEnhancer.from_hparams(source=PACKED_SBM)
    assert enh.model.is_bridge and enh.model.sb_steps == 1
    x = torch.randn(1, 16000) * 0.1
    with torch.no_grad():
        assert torch.equal(enh.enhance_batch(x), enh.model.enhance(x, steps=1, generator=torch.Generator()))
    (tmp_path / "in" / "sub").mkdir(parents=True)
    speech, fs = sf.read(os.path.join(VB, "noisy", "p232_016.wav"))
    sf.write(tmp_path / "in" / "sub" / "x.wav", speech, fs)
    done, failures, seconds = enh.enhance_folder(str(tmp_path / "in"), str(tmp_path / "out"), progress=False)
    assert done == [str(tmp_path / "out" / "sub" / "x.wav")] and failures == []
    assert seconds == pytest.approx(len(speech) / fs)
    with pytest.raises(ValueError, match="no such folder"):
        enh.enhance_folder(str(tmp_path / "missing"), str(tmp_path / "out"))


def test_transcribe_cli_enhances_then_transcribes(tmp_path):
    from se_mamba.asr import build_asr

    noisy = os.path.join(VB, "noisy", "p232_003.wav")
    (tmp_path / "bad.wav").write_bytes(b"not audio")
    base = [sys.executable, "-m", "se_mamba.cli.main", "transcribe", noisy, str(tmp_path / "bad.wav"),
            "--model", PACKED]
    res = subprocess.run(base + ["--csv", str(tmp_path / "t.csv"), "--enhanced-dir", str(tmp_path / "enh")],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 1 and "bad.wav: unreadable audio" in res.stderr
    rows = (tmp_path / "t.csv").read_text().splitlines()
    assert rows[0] == "path,text" and len(rows) == 2 and rows[1].startswith(noisy + ",")
    assert sf.info(str(tmp_path / "enh" / "p232_003.wav")).frames == sf.info(noisy).frames
    # --no-enhance is the plain ASR on the input (the same text as the default backend,
    # Whisper tiny.en, alone), with no model
    raw = subprocess.run(base[:5] + ["--no-enhance"], capture_output=True, text=True, timeout=600)
    assert raw.returncode == 0
    assert raw.stdout.strip() == f"{noisy}\t{build_asr('whisper:tiny.en').transcribe_file(noisy)}"
    missing = subprocess.run(base[:5], capture_output=True, text=True, timeout=600)
    assert missing.returncode == 1 and "--model is required" in missing.stderr


MEMORY_PROBE = r"""
import resource, sys, numpy as np, torch
from se_mamba.inference import MambaEnhancer
from se_mamba.models import build_model
torch.manual_seed(0)
torch.set_num_threads(1)
enh = MambaEnhancer.from_model(build_model("semamba_advanced", channels=4, num_blocks=1),
                               chunk_seconds=float(sys.argv[2]), overlap_seconds=0.5)
minutes = float(sys.argv[1])
x = (np.random.default_rng(0).standard_normal(int(minutes * 60 * 16000)) * 0.1).astype(np.float32)
out = enh.enhance_waveform(x, 16000)
assert out.shape == x.shape and np.isfinite(out).all()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def _peak_mb(*minutes, chunk=10.0):
    """Peak RSS in MB of one probe process per length, the processes run side by side (one thread each)."""
    procs = [subprocess.Popen([sys.executable, "-c", MEMORY_PROBE, str(m), str(chunk)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for m in minutes]
    peaks = []
    for p in procs:
        out, err = p.communicate(timeout=900)
        assert p.returncode == 0, err[-2000:]
        peaks.append(int(out.strip().splitlines()[-1]))
    return peaks


def test_six_minute_file_runs_in_bounded_memory():
    """Peak RSS grows only by the signal buffers (~10 copies of 4 bytes x N), not by the model's
    activations, which chunking bounds: 6 min costs about what 1 min costs plus the buffers
    (unchunked, 5 more minutes of this model's activations would be several GB)."""
    one, six = _peak_mb(1, 6)
    buffers = 5 * 60 * 16000 * 8 * 4 / 2**20  # extra 5 min of float64 signal, a few copies: ~98 MB
    print(f"peak RSS: 1 min {one} MB, 6 min {six} MB")
    assert six - one < buffers + 150


def test_pcs_option_stretches_the_output_and_keeps_its_level(demo, tmp_path):
    from se_mamba.models.pcs import perceptual_contrast_stretch

    pcs = MambaEnhancer.from_hparams(source=PACKED, savedir=None, pcs=True)
    noisy, fs = sf.read(os.path.join(VB, "noisy", "p232_003.wav"))
    plain, stretched = demo.enhance_waveform(noisy, fs), pcs.enhance_waveform(noisy, fs)
    assert np.abs(stretched).max() == pytest.approx(np.abs(plain).max(), rel=1e-5)
    ref = perceptual_contrast_stretch(torch.from_numpy(plain).float()).numpy() * np.abs(plain).max()
    assert np.allclose(stretched, ref, atol=1e-5)
    assert si_sdr(torch.from_numpy(stretched), torch.from_numpy(plain)) < 30  # it does change the signal
    res = subprocess.run([sys.executable, "-m", "se_mamba.cli.main", "enhance", os.path.join(VB, "noisy", "p232_003.wav"),
                          "-o", str(tmp_path / "o"), "--model", PACKED, "--pcs"], capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr
    assert np.allclose(sf.read(str(tmp_path / "o" / "p232_003.wav"))[0], stretched, atol=1e-4)


def test_mix_noisy_gives_back_a_share_of_the_input(demo, tmp_path):
    """Observation adding: (1 - a) x the plain enhancer's output + a x the input, also at a
    foreign rate (the mix happens at the model's rate, before resampling back) and from the CLI."""
    from scipy.signal import resample_poly

    noisy, fs = sf.read(os.path.join(VB, "noisy", "p232_003.wav"))
    mixed = MambaEnhancer.from_hparams(source=PACKED, savedir=None, mix_noisy=0.25)
    plain = demo.enhance_waveform(noisy, fs)
    assert np.allclose(mixed.enhance_waveform(noisy, fs), 0.75 * plain + 0.25 * noisy, atol=1e-5)
    at8k = resample_poly(noisy, 1, 2)
    want = 0.75 * demo.enhance_waveform(at8k, 8000) + 0.25 * at8k
    assert np.abs(mixed.enhance_waveform(at8k, 8000) - want).max() < 0.02 * np.abs(at8k).max()
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="mix_noisy must be in \\[0, 1\\)"):
            MambaEnhancer.from_hparams(source=PACKED, savedir=None, mix_noisy=bad)
    res = subprocess.run([sys.executable, "-m", "se_mamba.cli.main", "enhance", os.path.join(VB, "noisy", "p232_003.wav"),
                          "-o", str(tmp_path / "o"), "--model", PACKED, "--mix-noisy", "0.25"], capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert np.allclose(sf.read(str(tmp_path / "o" / "p232_003.wav"))[0], 0.75 * plain + 0.25 * noisy, atol=1e-4)


def test_mixed_rate_example_folder(tmp_path):
    script = os.path.join(ROOT, "examples", "mixed_rate_folder.py")
    res = subprocess.run([sys.executable, script, str(tmp_path / "mixed")], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    got = {os.path.relpath(p, tmp_path / "mixed"): (sf.info(p).samplerate, sf.info(p).channels, sf.info(p).subtype)
           for p in map(str, (tmp_path / "mixed").rglob("*.*"))}
    assert got == {"p232_003_16k.wav": (16000, 1, "PCM_16"), "phone/p232_015_8k.wav": (8000, 1, "PCM_16"),
                   "p232_016_48k_stereo.flac": (48000, 2, "PCM_24"), "p257_024_44k.wav": (44100, 1, "FLOAT")}
    again = subprocess.run([sys.executable, script, str(tmp_path / "mixed")], capture_output=True, text=True)
    assert again.returncode == 1 and "exists" in again.stderr


def test_default_chunk_is_short_for_time_attention_models():
    from se_mamba.inference.enhancer import ATTENTION_CHUNK_SECONDS, CHUNK_SECONDS

    small = dict(channels=8, num_blocks=1)
    for name, chunk in [("mambattention", ATTENTION_CHUNK_SECONDS), ("mpsenet", ATTENTION_CHUNK_SECONDS),
                        ("lstm_attention", ATTENTION_CHUNK_SECONDS), ("semamba_advanced", CHUNK_SECONDS),
                        ("lstm_senet", CHUNK_SECONDS)]:
        assert MambaEnhancer.from_model(build_model(name, **small)).chunk_seconds == chunk, name
    assert MambaEnhancer.from_model(build_model("sbm", backbone={"hidden": 16})).chunk_seconds == CHUNK_SECONDS
    assert MambaEnhancer.from_model(build_model("mpsenet", **small), chunk_seconds=None).chunk_seconds is None
    assert (CHUNK_SECONDS, ATTENTION_CHUNK_SECONDS) == (10.0, 5.0)  # docs/bench_cpu_chunks.md, bench_enhance.md


def _halved_copy(tmp_path, name="other"):
    """A copy of the packed demo model with its mask decoder's weights halved."""
    import shutil

    other = tmp_path / name
    shutil.copytree(PACKED, other)
    weights = torch.load(other / "model.ckpt", map_location="cpu")
    weights = {k: v * 0.5 if k.startswith("mask_decoder") and v.is_floating_point() else v for k, v in weights.items()}
    torch.save(weights, other / "model.ckpt")
    return other


def test_one_savedir_for_two_folders_loads_each_folders_weights(tmp_path):
    """SpeechBrain's fetch keeps what a savedir holds: the second folder loaded through
    the same savedir gave the first folder's weights, silently."""
    other = _halved_copy(tmp_path)
    first = MambaEnhancer.from_hparams(source=PACKED, savedir=str(tmp_path / "sd"))
    second = MambaEnhancer.from_hparams(source=str(other), savedir=str(tmp_path / "sd"))
    alone = MambaEnhancer.from_hparams(source=str(other), savedir=None)
    for a, b in zip(second.mods.model.state_dict().values(), alone.mods.model.state_dict().values()):
        assert torch.equal(a, b)
    halved = [n for n, p in first.mods.model.mask_decoder.named_parameters() if p.abs().sum() > 0]
    assert halved and all(torch.equal(0.5 * dict(first.mods.model.mask_decoder.named_parameters())[n],
                                      dict(second.mods.model.mask_decoder.named_parameters())[n]) for n in halved)


def test_score_voicebank_loads_the_model_it_is_given(tmp_path):
    """Two models scored into one --out: the second run enhances with the second model
    (SpeechBrain's fetch keeps what a savedir holds; the script's savedir was inside --out,
    so the rerun loaded the first model's weights and reported them as the second's)."""
    import shutil

    samples = tmp_path / "samples"
    for kind in ("clean", "noisy"):
        os.makedirs(samples / kind)
        shutil.copy(os.path.join(VB, kind, "p232_003.wav"), samples / kind)
    other = _halved_copy(tmp_path)
    script = os.path.join(ROOT, "recipes", "mini", "local", "score_voicebank.py")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": ROOT}
    got = {}
    for name, model in (("packed", PACKED), ("other", str(other))):
        res = subprocess.run([sys.executable, script, "--model", model, "--samples", str(samples), "--out", str(out)],
                             capture_output=True, text=True, timeout=600, env=env)
        assert res.returncode == 0, res.stderr[-2000:]
        assert "| enhanced |" in (out / "asr.md").read_text()
        got[name] = sf.read(str(out / "enhanced" / "p232_003.wav"))[0]
    noisy, fs = sf.read(str(samples / "noisy" / "p232_003.wav"))
    want = MambaEnhancer.from_hparams(source=str(other), savedir=None).enhance_waveform(noisy, fs)
    assert np.allclose(got["other"], want, atol=1e-5)
    assert not np.allclose(got["other"], got["packed"], atol=1e-3)
