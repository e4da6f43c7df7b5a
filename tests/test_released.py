"""official:NAME: an authors' released checkpoint (here a fake one: random
weights in the official format) fetched over HTTP from 127.0.0.1, packed once,
loaded by from_hparams and the CLI, equal to load_official_checkpoint."""
import io
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from se_mamba.models import build_model, load_official_checkpoint
from se_mamba.models.released import RELEASED

from test_download import Handler, server  # noqa: F401  (the local HTTP server fixture)

ROOT = os.path.join(os.path.dirname(__file__), "..")


@pytest.fixture
def fake_release(server, tmp_path, monkeypatch):  # noqa: F811
    torch.manual_seed(0)
    model = build_model("semamba_advanced", channels=8, num_blocks=1, mamba={"expand": 2})
    buf = io.BytesIO()
    torch.save({"generator": model.state_dict()}, buf)  # the official file layout
    rel = RELEASED["semamba_vbd"]
    Handler.files[f"/{rel.repo}/raw/main/{rel.path}"] = buf.getvalue()
    monkeypatch.setenv("SE_MAMBA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SE_MAMBA_MIRROR", server)
    reference = tmp_path / "reference.pth"
    reference.write_bytes(buf.getvalue())
    return str(reference)


def test_official_name_loads_like_the_checkpoint_file(fake_release, tmp_path):
    from se_mamba.inference import MambaEnhancer

    enh = MambaEnhancer.from_hparams("official:semamba_vbd", savedir=str(tmp_path / "sd"))
    ref = MambaEnhancer.from_model(load_official_checkpoint(fake_release))
    x = torch.randn(1, 16000) * 0.1
    assert torch.equal(enh.enhance_batch(x), ref.enhance_batch(x))
    packed = tmp_path / "cache" / "released" / "semamba_vbd" / "packed"
    assert "RoyChao19477/SEMamba" in (packed / "README.md").read_text()
    # fetched once: a second load asks the server for nothing
    n = len(Handler.ranges)
    MambaEnhancer.from_hparams("official:semamba_vbd", savedir=str(tmp_path / "sd2"))
    assert len(Handler.ranges) == n


def test_cli_download_and_enhance_with_official(fake_release, tmp_path):
    env = dict(os.environ)
    cli = [sys.executable, "-m", "se_mamba.cli.main"]
    out = subprocess.run(cli + ["download", "semamba_vbd"], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith(os.path.join("semamba_vbd", "packed"))
    noisy = tmp_path / "noisy.wav"
    sf.write(noisy, (np.random.default_rng(0).standard_normal(16000) * 0.1).astype(np.float32), 16000)
    out = subprocess.run(cli + ["enhance", str(noisy), "-o", str(tmp_path / "out"), "--model", "official:semamba_vbd"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "out" / "noisy.wav").exists()
    bad = subprocess.run(cli + ["download", "semamba"], capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 1 and "unknown released checkpoint 'semamba'" in bad.stderr


def test_offline_is_one_line(tmp_path, monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, SE_MAMBA_CACHE=str(tmp_path / "cache"), SE_MAMBA_MIRROR=f"http://127.0.0.1:{port}")
    out = subprocess.run([sys.executable, "-m", "se_mamba.cli.main", "download", "mambattention_vbdemandex"],
                         capture_output=True, text=True, env=env, timeout=300)
    err = out.stderr.strip().splitlines()
    assert out.returncode == 1 and len(err) == 1
    assert "NikolaiKyhne/MambAttention/raw/main/checkpoints/seed3441.pth: cannot connect" in err[0]
