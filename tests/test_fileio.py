"""Atomic writes: unique temporaries, nothing half-written, nothing left behind."""
import multiprocessing
import os

import numpy as np
import pytest
import soundfile as sf

from se_mamba.fileio import atomic_path, write_audio_atomic, write_text_atomic


def _writer(args):
    folder, k = args
    for i in range(30):
        # every writer replaces the shared file, and writes its own
        write_text_atomic(os.path.join(folder, "shared.txt"), f"{k}:" + "x" * (1000 * (k + 1)) + "\n")
        write_text_atomic(os.path.join(folder, f"own{k}.txt"), f"{k}/{i}\n")
    return k


def test_concurrent_writers_to_one_folder(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        assert sorted(pool.map(_writer, [(str(tmp_path), k) for k in range(4)])) == [0, 1, 2, 3]
    text = (tmp_path / "shared.txt").read_text()
    k = int(text.split(":")[0])
    assert text == f"{k}:" + "x" * (1000 * (k + 1)) + "\n"  # one writer's whole content
    assert sorted(os.listdir(tmp_path)) == ["own0.txt", "own1.txt", "own2.txt", "own3.txt", "shared.txt"]
    assert all((tmp_path / f"own{k}.txt").read_text() == f"{k}/29\n" for k in range(4))


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "a.txt"
    write_text_atomic(str(target), "old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(str(target)) as tmp:
            with open(tmp, "w") as f:
                f.write("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["a.txt"]
    # the mode a plain open() would give, not mkstemp's 0600
    umask = os.umask(0)
    os.umask(umask)
    assert (target.stat().st_mode & 0o777) == 0o666 & ~umask


def test_audio_goes_in_the_format_asked_with_a_subtype_it_takes(tmp_path):
    x = np.random.default_rng(0).standard_normal(1600) * 0.1
    write_audio_atomic(str(tmp_path / "a.flac"), x, 16000, "FLAC", "FLOAT")  # FLAC has no float subtype
    info = sf.info(str(tmp_path / "a.flac"))
    assert (info.format, info.subtype) == ("FLAC", "PCM_16")
    assert os.listdir(tmp_path) == ["a.flac"]


def test_float_wav_bytes_do_not_depend_on_the_time_of_writing(tmp_path):
    """libsndfile stamps float WAVs with the time of writing (PEAK chunk)."""
    import time

    from se_mamba.fileio import write_wav_atomic

    x = np.linspace(-0.5, 0.5, 4000)
    write_wav_atomic(str(tmp_path / "a.wav"), x, 16000, subtype="FLOAT")
    time.sleep(1.05)  # the PEAK chunk's clock counts seconds
    write_wav_atomic(str(tmp_path / "b.wav"), x, 16000, subtype="FLOAT")
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()
    assert np.array_equal(sf.read(str(tmp_path / "b.wav"))[0], x.astype(np.float32))
