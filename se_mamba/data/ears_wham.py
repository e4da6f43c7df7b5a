"""EARS-WHAM test set at 16 kHz, cut into 10 s chunks (MambAttention's
cross-corpus protocol).

EARS (Richter et al., Interspeech 2024; github.com/facebookresearch/ears_dataset,
CC BY-NC 4.0): 107 speakers, 48 kHz anechoic speech. EARS-WHAM mixes the test
speakers p102-p107 with WHAM! 48 kHz noise (sp-uhh/ears_benchmark,
``generate_ears_wham.py``). MambAttention evaluates its VB-DemandEx models on
the 16 kHz EARS-WHAM_v2 test set in non-overlapping 10 s chunks.

Two routes to ``DATA/ears_wham_v2.json``:

* ``--ears_wham_dir DIR``: a generated corpus you have (``DIR/test/{clean,
  noisy}/pXXX/<id>.wav`` and ``<id>_<snr>dB.wav``, the layout of the
  generation script, at 16 or 48 kHz). Use the released EARS-WHAM_v2 16 kHz
  folder to compare with the paper's numbers.
* generation (no ``--ears_wham_dir``): the EARS test speakers' zips from the
  EARS release, WHAM! 48 kHz (``high_res_wham.zip``, the URL of
  ``download_ears_wham.sh``) and the test segmentation ``test_files.json``
  of sp-uhh/ears_benchmark are downloaded (or found with ``--download
  false``), and the test split is mixed as ``generate_ears_wham.py`` mixes
  it: its seed (42) and order of random draws over the shuffled test files,
  SNR in [-2.5, 17.5] dB drawn per emotion/style bin (12 bins), loudness by
  ITU-R BS.1770 (pyloudnorm), the SNR raised 1 dB while the mix clips,
  segments over 29 s dropped, 10 ms fades; at 48 kHz, then resampled to 16 kHz.
  EARS-WHAM_v2 draws its noise from WHAM!'s test split (``--noise_split
  test``, the default; the metadata CSV's "WHAM! Split" column). Other v2
  changes (a high-pass on the speech) are not published in a form we could
  check, and the noise files are sorted here (the script takes ``glob``'s
  file-system order), so a generated set is EARS-WHAM-like, not the release
  byte for byte: compare to the paper only on the released folder.

Chunks: each test utterance is cut into consecutive 10 s pieces
(``--chunk_seconds``); a last piece shorter than ``--min_chunk_seconds`` (1 s)
is dropped (too short for PESQ's and ESTOI's frames to mean much). The
manifest's ``words`` stay empty: EARS's transcripts are per recording, and a
10 s chunk cuts through its sentences, so no reference text fits a chunk.
"""
import argparse
import csv
import json
import os
import sys

import numpy as np

from ..audio import resample
from ..fileio import write_text_atomic, write_wav_atomic
from .download import DownloadError, download, extract
from .prep import RATE, cli_bool, write_manifests

EARS_URL = "https://github.com/facebookresearch/ears_dataset/releases/download/dataset/{speaker}.zip"
WHAM_URL = "https://my-bucket-a8b4b49c25c811ee9a7e8bba05fa24c7.s3.amazonaws.com/high_res_wham.zip"
TEST_FILES_URL = "https://raw.githubusercontent.com/sp-uhh/ears_benchmark/main/test_files.json"
TEST_SPEAKERS = ("p102", "p103", "p104", "p105", "p106", "p107")
# the emotions and speaking styles whose test files get SNRs spread over 12 bins
EMOTIONS_STYLES = ("adoration", "amazement", "amusement", "anger", "confusion", "contentment", "cuteness",
                   "desire", "disappointment", "disgust", "distress", "embarassment", "extasy", "fast", "fear",
                   "guilt", "highpitch", "interest", "loud", "lowpitch", "neutral", "pain", "pride",
                   "realization", "relief", "regular", "sadness", "serenity", "slow", "whisper")
GEN_RATE = 48000
SET = "ears_wham_v2"


def fetch(corpus_dir, download_files=True, mirror=None):
    """(EARS folder, WHAM! folder, test_files.json) in ``corpus_dir``, downloaded when missing."""
    ears, wham = os.path.join(corpus_dir, "EARS"), os.path.join(corpus_dir, "WHAM48kHz")
    how = "with --download false place them there, or give --ears_wham_dir"
    for spk in TEST_SPEAKERS:
        if os.path.isdir(os.path.join(ears, spk)):
            continue
        archive = os.path.join(ears, f"{spk}.zip")
        if download_files:
            download(EARS_URL.format(speaker=spk), archive, mirror=mirror)
        elif not os.path.exists(archive):
            raise DownloadError(f"{ears}: no {spk}/ folder nor {spk}.zip ({EARS_URL.format(speaker=spk)}); {how}")
        extract(archive, ears)
    if not os.path.isdir(os.path.join(wham, "high_res_wham")):
        archive = os.path.join(corpus_dir, "high_res_wham.zip")
        if download_files:
            download(WHAM_URL, archive, mirror=mirror)
        elif not os.path.exists(archive):
            raise DownloadError(f"{wham}: no high_res_wham/ folder nor {archive} ({WHAM_URL}); {how}")
        extract(archive, wham)
    test_files = os.path.join(corpus_dir, "test_files.json")
    if not os.path.exists(test_files):
        if not download_files:
            raise DownloadError(f"{test_files}: missing ({TEST_FILES_URL}); {how}")
        download(TEST_FILES_URL, test_files, mirror=mirror)
    return ears, wham, test_files


def noise_files(wham_dir, split="test"):
    """WHAM! 48 kHz noise files, sorted; ``split``: only those of that "WHAM! Split"."""
    root = os.path.join(wham_dir, "high_res_wham")
    audio = os.path.join(root, "audio")
    files = sorted(os.path.join(audio, f) for f in os.listdir(audio) if f.endswith(".wav"))
    if not split:
        return files
    meta = os.path.join(root, "high_res_metadata.csv")
    with open(meta, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "WHAM! Split" not in rows[0]:
        raise ValueError(f"{meta}: no 'WHAM! Split' column")
    names = {os.path.basename(p)[:-4] for p in files}
    # the file-name column: the one whose values name the audio files
    key = next((k for k in rows[0] if sum(str(r[k]).replace(".wav", "") in names for r in rows) > len(rows) // 2),
               None)
    if key is None:
        raise ValueError(f"{meta}: no column names the files of {audio}")
    keep = {str(r[key]).replace(".wav", "") for r in rows if r["WHAM! Split"].strip().lower() in (split, split[:2])}
    chosen = [p for p in files if os.path.basename(p)[:-4] in keep]
    if not chosen:
        raise ValueError(f"{meta}: no noise file in WHAM! split {split!r}")
    return chosen


def _style(name):
    return next((s for s in EMOTIONS_STYLES if s in name.lower()), None)


def _read(path, always_2d=False):
    import soundfile as sf

    x, fs = sf.read(path, always_2d=always_2d)
    if fs != GEN_RATE:
        raise ValueError(f"{path}: {fs} Hz; EARS and WHAM! 48 kHz files are {GEN_RATE} Hz")
    return x


def generate_test(ears_dir, wham_dir, test_files_json, out_dir, min_snr=-2.5, max_snr=17.5, max_seconds=29,
                  ramp_ms=10, split="test", rate=RATE, progress=True):
    """Mix the EARS-WHAM test split into ``out_dir/test/{clean,noisy}/pXXX`` at ``rate``
    (once: a stamp marks it done); returns the number of files."""
    import pyloudnorm
    from tqdm import tqdm

    stamp = os.path.join(out_dir, ".generated")
    if os.path.exists(stamp):
        with open(stamp) as f:
            return int(f.read().split()[0])
    with open(test_files_json) as f:
        segments = json.load(f)
    noises = noise_files(wham_dir, split)
    rng = np.random.RandomState(42)  # the generation script's np.random.seed(42) stream
    files = [(spk, name) for spk in TEST_SPEAKERS for name in segments[spk]]
    rng.shuffle(files)
    bins = np.linspace(min_snr, max_snr, 13)
    counters = {s: 0 for s in EMOTIONS_STYLES}
    meter = pyloudnorm.Meter(GEN_RATE)
    ramp = np.linspace(0, 1, int(ramp_ms / 1000 * GEN_RATE))
    rows = ["id,speaker,speech_file,speech_start,speech_end,noise_file,noise_start,noise_end,snr_dB"]

    def pick_noise():
        path = noises[rng.choice(len(noises))]
        x = _read(path, always_2d=True)
        return path, x[:, rng.randint(0, x.shape[1])]

    uid = 0
    for spk in TEST_SPEAKERS:
        for kind in ("clean", "noisy"):
            os.makedirs(os.path.join(out_dir, "test", kind, spk), exist_ok=True)
    for spk, name in tqdm(files, desc="EARS-WHAM test", unit="file", disable=not progress, file=sys.stderr):
        speech = _read(os.path.join(ears_dir, spk, f"{name}.wav"))
        noise_path, noise = pick_noise()
        for start, end in segments[spk][name]:
            cut = speech[start:end].copy()  # end -1: up to the last sample but one, as the script slices
            if len(cut) > max_seconds * GEN_RATE:
                continue
            while len(noise) < len(cut):
                noise_path, noise = pick_noise()
            n0 = rng.randint(len(noise) - len(cut) + 1)
            piece = noise[n0:n0 + len(cut)]
            style = _style(name)
            if style is not None:
                i = counters[style] % 12
                counters[style] += 1
                snr = np.round(rng.uniform(bins[i], bins[i + 1]), 1)
            else:
                snr = np.round(rng.uniform(min_snr, max_snr), 1)
            l_speech, l_noise = meter.integrated_loudness(cut), meter.integrated_loudness(piece)
            while True:
                mix = cut + 10 ** ((l_speech - snr - l_noise) / 20) * piece
                if np.max(np.abs(mix)) < 1.0:
                    break
                snr += 1  # a clipping mix: 1 dB more SNR
            for x in (mix, cut):
                x[:len(ramp)] *= ramp
                x[-len(ramp):] *= ramp[::-1]
            write_wav_atomic(os.path.join(out_dir, "test", "noisy", spk, f"{uid:05}_{snr:.1f}dB.wav"),
                             resample(mix, GEN_RATE, rate).astype(np.float32), rate, subtype="FLOAT")
            write_wav_atomic(os.path.join(out_dir, "test", "clean", spk, f"{uid:05}.wav"),
                             resample(cut, GEN_RATE, rate).astype(np.float32), rate, subtype="FLOAT")
            rows.append(f"{uid:05},{spk},{name},{start},{end},{os.path.basename(noise_path)[:-4]},"
                        f"{n0 + start},{n0 + start + len(mix)},{snr:.1f}")
            uid += 1
    write_text_atomic(os.path.join(out_dir, "test.csv"), "\n".join(rows) + "\n")
    write_text_atomic(stamp, f"{uid} files\n")
    return uid


def find_test(ears_wham_dir):
    for cand in (os.path.join(ears_wham_dir, "test"), ears_wham_dir):
        if os.path.isdir(os.path.join(cand, "noisy")) and os.path.isdir(os.path.join(cand, "clean")):
            return cand
    raise ValueError(f"{ears_wham_dir}: no test/{{clean,noisy}}/ folders (the EARS-WHAM layout)")


def chunk_test_set(test_dir, out_dir, chunk_seconds=10.0, min_chunk_seconds=1.0, progress=True):
    """``{uid: item}``: every noisy/clean pair of ``test_dir`` at 16 kHz, cut into
    consecutive ``chunk_seconds`` pieces written under ``out_dir`` (once)."""
    import soundfile as sf
    from tqdm import tqdm

    pairs = []
    for spk in sorted(os.listdir(os.path.join(test_dir, "noisy"))):
        folder = os.path.join(test_dir, "noisy", spk)
        if not os.path.isdir(folder):
            continue
        for f in sorted(os.listdir(folder)):
            if f.endswith(".wav"):
                clean = os.path.join(test_dir, "clean", spk, f.split("_")[0] + ".wav")
                if not os.path.exists(clean):
                    raise ValueError(f"{os.path.join(folder, f)}: no clean file {clean}")
                pairs.append((spk, f.split("_")[0], os.path.join(folder, f), clean))
    if not pairs:
        raise ValueError(f"{test_dir}/noisy: no pXXX/*.wav files")
    items = {}
    size, least = int(chunk_seconds * RATE), int(min_chunk_seconds * RATE)
    for kind in ("clean", "noisy"):
        os.makedirs(os.path.join(out_dir, kind), exist_ok=True)
    for spk, fid, noisy, clean in tqdm(pairs, desc="EARS-WHAM 10 s chunks", unit="file", disable=not progress,
                                       file=sys.stderr):
        sig = {}
        for kind, path in (("noisy", noisy), ("clean", clean)):
            x, fs = sf.read(path, dtype="float64")
            sig[kind] = resample(x, fs, RATE)
        if len(sig["noisy"]) != len(sig["clean"]):
            raise ValueError(f"{noisy}: {len(sig['noisy'])} samples, its clean file {len(sig['clean'])}")
        for k, a in enumerate(range(0, len(sig["noisy"]), size)):
            n = min(size, len(sig["noisy"]) - a)
            if n < least:
                continue
            uid = f"{spk}_{fid}_c{k}"
            item = {"speaker": spk, "words": "", "length": round(n / RATE, 4), "source": os.path.basename(noisy),
                    "offset": round(a / RATE, 4)}
            for kind in ("noisy", "clean"):
                path = os.path.join(out_dir, kind, f"{uid}.wav")
                if not os.path.exists(path):
                    write_wav_atomic(path, sig[kind][a:a + n].astype(np.float32), RATE, subtype="FLOAT")
                item[f"{kind}_wav"] = path
            items[uid] = item
    return items


def prepare(data_dir, ears_wham_dir=None, corpus_dir=None, download_files=True, mirror=None, split="test",
            chunk_seconds=10.0, min_chunk_seconds=1.0, progress=True):
    """Write ``DATA/ears_wham_v2.json`` (10 s chunks in ``DATA/ears_wham_v2/``)."""
    if ears_wham_dir is None:
        if corpus_dir is None:
            raise ValueError("give --ears_wham_dir (a generated EARS-WHAM you have) or --corpus_dir "
                             "(where EARS and WHAM! go for generating its test set)")
        ears, wham, test_files = fetch(corpus_dir, download_files, mirror)
        ears_wham_dir = os.path.join(corpus_dir, "EARS-WHAM_16k")
        generate_test(ears, wham, test_files, ears_wham_dir, split=split, progress=progress)
    items = chunk_test_set(find_test(ears_wham_dir), os.path.join(data_dir, SET), chunk_seconds,
                           min_chunk_seconds, progress)
    return write_manifests(data_dir, {SET: items})


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_dir", required=True, help="where ears_wham_v2.json and its chunks go")
    p.add_argument("--ears_wham_dir", default=None, help="a generated EARS-WHAM(_v2) corpus you have")
    p.add_argument("--corpus_dir", default=None, help="where EARS, WHAM! and the generated test set go")
    p.add_argument("--download", type=cli_bool, default=True)
    p.add_argument("--mirror", default=None, help="base URL replacing the hosts of every download")
    p.add_argument("--noise_split", default="test", help="WHAM! split of the noise ('' = all files, as v1)")
    p.add_argument("--chunk_seconds", type=float, default=10.0)
    p.add_argument("--min_chunk_seconds", type=float, default=1.0)
    args = p.parse_args(argv)
    try:
        counts = prepare(args.data_dir, args.ears_wham_dir, args.corpus_dir, args.download, args.mirror,
                         args.noise_split, args.chunk_seconds, args.min_chunk_seconds)
    except (DownloadError, ValueError, OSError, KeyError) as exc:
        print(f"ears_wham: error: {exc}", file=sys.stderr)
        return 1
    print(f"EARS-WHAM test manifest in {args.data_dir}: " + ", ".join(f"{k} {v} chunks" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
