"""Streaming with the causal models: streamed output == offline causal output,
state is what makes it so, the measured latency is the documented one, and
models that cannot stream say why."""
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from se_mamba.inference import MambaEnhancer, StreamingEnhancer
from se_mamba.models import build_model
from se_mamba.nn.spectral import SpectralFrontEnd, StreamingISTFT, StreamingSTFT
from se_mamba.nn.streaming import StreamState

ROOT = os.path.join(os.path.dirname(__file__), "..")
VB = os.path.join(ROOT, "tests", "data", "voicebank")

SMALL = {
    "semamba_causal": dict(channels=8, num_blocks=2, mamba={"expand": 2, "d_state": 8}),
    "semamba_basic": dict(hidden=32, d_state=8),
    "sbm_causal": dict(backbone={"hidden": 16, "num_layers": 2, "full_res_channels": 8}),
    # LSTM-SENet made causal: uni-directional LSTM over time, (h, c) carried
    "lstm_senet": dict(channels=8, num_blocks=1, causal=True, lstm={"hidden": 8}),
    "mamba_base": dict(causal=True, backbone={"hidden": 16, "num_layers": 1, "full_res_channels": 8}),
}


def small_model(name, seed=0):
    torch.manual_seed(seed)
    model = build_model(name, **SMALL[name]).eval()
    with torch.no_grad():  # move off the initialisation (zero biases, unit norms) so every path matters
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def offline(model, noisy, gain):
    with torch.no_grad():
        if name_of(model) == "SEMambaBasic":
            return model.enhance(noisy)  # no input gain (trained on raw levels)
        return model.enhance(noisy * gain, normalise=False) / gain


def name_of(model):
    return type(model).__name__


def stream_in_pieces(streamer, x, seed, max_piece=700, stateless=False):
    g = torch.Generator().manual_seed(seed)
    out, i = [], 0
    while i < x.shape[-1]:
        n = int(torch.randint(1, max_piece, (1,), generator=g))
        out.append(streamer.process(x[..., i:i + n]))
        if stateless:  # the negative control: forget the network's carry after every call
            streamer._state = StreamState()
        i += n
    out.append(streamer.flush())
    return torch.cat(out, -1)


@pytest.mark.parametrize("n_fft,hop", [(400, 100), (510, 128)])
def test_streaming_stft_and_istft_match_torch(n_fft, hop):
    fe = SpectralFrontEnd(n_fft, hop, n_fft, compress_factor=1.0)
    for n in (n_fft // 2 + 1, 1000, 4003):
        x = torch.randn(2, n)
        st, ist = StreamingSTFT(fe), StreamingISTFT(fe)
        frames, wav, i, g = [], [], 0, torch.Generator().manual_seed(n)
        while i < n:
            k = int(torch.randint(1, 300, (1,), generator=g))
            f = st.push(x[:, i:i + k])
            frames.append(f)
            wav.append(ist.push(f))
            i += k
        frames.append(st.flush())
        wav += [ist.push(frames[-1]), ist.flush(n)]
        spec = torch.cat(frames, -1)
        assert torch.allclose(spec, fe.complex_stft(x), atol=1e-4)
        assert torch.allclose(torch.cat(wav, -1), fe.inverse(fe.complex_stft(x), n), atol=1e-5)
    with pytest.raises(ValueError, match="too short"):
        s = StreamingSTFT(fe)
        s.push(torch.randn(1, n_fft // 2))
        s.flush()


@pytest.mark.parametrize("name", list(SMALL))
@pytest.mark.parametrize("block_frames", [1, 3])
def test_streamed_output_equals_offline_causal_output(name, block_frames):
    model = small_model(name)
    x = 0.05 * torch.randn(2, 5003)
    streamer = StreamingEnhancer(model, block_frames=block_frames)
    out = stream_in_pieces(streamer, x, seed=block_frames)
    ref = offline(model, x, streamer.gain)
    assert out.shape == x.shape
    scale = ref.abs().max()
    assert (out - ref).abs().max() < 1e-5 * max(1.0, float(scale)), name
    # the carried state is what makes it exact: dropping it between calls breaks the match
    broken = stream_in_pieces(StreamingEnhancer(model, block_frames=block_frames), x, seed=block_frames,
                              stateless=True)
    assert (broken - ref).abs().max() > 1e-3 * float(scale)


def test_one_dimensional_stream_and_enhance_helper():
    model = small_model("sbm_causal")
    x = 0.05 * torch.randn(3000)
    s = StreamingEnhancer(model, gain=3.0)
    whole = s.enhance(x, block_samples=257)
    assert whole.shape == x.shape
    assert torch.allclose(whole, offline(model, x[None], 3.0)[0], atol=1e-5)
    # a stream is reset after flush: the same input gives the same output again
    assert torch.equal(s.enhance(x, block_samples=257), whole)


@pytest.mark.parametrize("name,n_fft", [("semamba_causal", 400), ("sbm_causal", 510)])
@pytest.mark.parametrize("block_frames", [1, 2])
def test_measured_latency_is_the_documented_one(name, n_fft, block_frames):
    """Feed one sample at a time; an output sample emitted after input sample
    j has waited j - i samples. The worst case is the documented latency."""
    model = build_model(name, **SMALL[name]).eval()
    s = StreamingEnhancer(model, block_frames=block_frames)
    x = 0.05 * torch.randn(2500)
    delays, emitted = [], 0
    for j in range(x.shape[0]):
        n = s.process(x[j:j + 1]).shape[0]
        delays += [j - i for i in range(emitted, emitted + n)]
        emitted += n
    hop = s.front_end.hop_length
    assert s.latency_samples == n_fft - 1 + (block_frames - 1) * hop
    assert max(delays) == s.latency_samples
    assert min(delays) == n_fft - hop  # the best-placed sample in a hop
    if block_frames == 1:
        assert s.latency_ms == pytest.approx({"semamba_causal": 24.9375, "sbm_causal": 31.8125}[name])


def test_models_that_cannot_stream_say_why():
    with pytest.raises(ValueError, match="not causal"):
        StreamingEnhancer(build_model("semamba_advanced", channels=4, num_blocks=1))
    with pytest.raises(ValueError, match="not causal"):
        StreamingEnhancer(build_model("sb_ncsnpp", backbone={"channels": 8, "channel_mult": [1, 2],
                                                              "attention": False}))
    with pytest.raises(ValueError, match="time attention"):
        StreamingEnhancer(build_model("mambattention", channels=8, num_blocks=1, causal=True))
    model = small_model("semamba_causal")
    with pytest.raises(ValueError, match="block_frames"):
        StreamingEnhancer(model, block_frames=0)
    with pytest.raises(ValueError, match="gain"):
        StreamingEnhancer(model, gain=-1)
    s = StreamingEnhancer(model)
    with pytest.raises(ValueError, match="NaN"):
        s.process(torch.tensor([0.0, float("nan")]))


def test_default_gains_follow_the_models_normalisation():
    from se_mamba.inference.streaming import REFERENCE_RMS, SPEECH_CREST_FACTOR

    assert REFERENCE_RMS == pytest.approx(0.0501, abs=1e-4)  # -26 dBov
    assert StreamingEnhancer(small_model("semamba_causal")).gain == pytest.approx(1 / REFERENCE_RMS)
    assert StreamingEnhancer(small_model("sbm_causal")).gain == pytest.approx(
        1 / (REFERENCE_RMS * SPEECH_CREST_FACTOR))
    assert StreamingEnhancer(small_model("semamba_basic")).gain == 1.0
    # the crest factor is the one measured on the VoiceBank noisy samples (median 6.8)
    crest = [np.abs(x).max() / np.sqrt(np.mean(x ** 2))
             for x in (sf.read(os.path.join(VB, "noisy", f))[0] for f in sorted(os.listdir(os.path.join(VB, "noisy"))))]
    assert abs(np.median(crest) - SPEECH_CREST_FACTOR) < 1.0


def test_enhancer_stream_option_equals_the_streamer(tmp_path):
    model = small_model("sbm_causal")
    enh = MambaEnhancer.from_model(model, stream_block_frames=2)
    x = (np.random.default_rng(0).standard_normal(8000) * 0.05).astype(np.float32)
    out = enh.enhance_waveform(x, 16000)
    ref = StreamingEnhancer(model, block_frames=2).enhance(torch.from_numpy(x)).numpy()
    assert np.allclose(out, ref, atol=1e-6)
    with pytest.raises(ValueError, match="not causal"):
        MambaEnhancer.from_model(build_model("semamba_advanced", channels=4, num_blocks=1), stream_block_frames=1)


def test_cli_stream_prints_latency_and_refuses_noncausal(tmp_path):
    noisy = os.path.join(VB, "noisy", "p232_003.wav")
    base = [sys.executable, "-m", "se_mamba.cli.main", "enhance", noisy, "-o", str(tmp_path / "out")]
    res = subprocess.run(base + ["--model", "semamba_basic", "--stream", "1"], capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr
    assert "algorithmic latency 399 samples (24.9 ms at 16000 Hz)" in res.stdout
    assert sf.info(str(tmp_path / "out" / "p232_003.wav")).frames == sf.info(noisy).frames
    bad = subprocess.run(base[:-1] + [str(tmp_path / "out2"), "--model", "semamba_advanced", "--stream", "1"], capture_output=True,
                         text=True, timeout=600)
    err = [line for line in bad.stderr.splitlines() if line.startswith("se-mamba enhance: error")]
    assert bad.returncode == 1 and len(err) == 1 and "not causal" in err[0]
    assert not (tmp_path / "out2").exists()
