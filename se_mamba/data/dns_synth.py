"""DNS Challenge 2020 training data: noisy (and optionally reverberant) clips
synthesised from the challenge's clean speech and noise.

The mixing follows the challenge's synthesiser (``noisyspeech_synthesizer.py``
with ``noisyspeech_synthesizer.cfg``, github.com/microsoft/DNS-Challenge,
branch ``interspeech2020/master``; Reddy et al., Interspeech 2020):

* a clip of ``clip_seconds`` (``audio_length`` 30) is built by concatenating
  randomly drawn clean files, ``silence_seconds`` (0.2) of silence between
  them, a random segment of the last one filling the rest; a clip whose speech
  activity is below ``clean_activity_threshold`` (0.6) is drawn again; the
  noise is built the same way from the noise files
  (``noise_activity_threshold`` 0);
* the SNR is one of ``snr_levels`` (5) evenly spaced values from
  ``snr_lower`` to ``snr_upper`` (0 to 40 dB); speech and noise are first
  brought to -25 dBFS RMS, the noise is scaled to the SNR, and the mixture
  (with the same gain on the target) to a level drawn from
  ``target_level`` (-35 to -15 dBFS); a mixture that would clip is scaled
  down to a 0.99 peak.

Reverberation (``reverb_prob``, our addition to the synthesiser's settings):
the speech is convolved with a room impulse response, simulated with
pyroomacoustics (shoebox rooms by the image-source method, RT60 drawn from
``rt60_range``) or drawn from a folder of measured RIRs (``rir_dir``). The
noise stays dry and the SNR is measured against the reverberant speech
(what the listener hears as the speech). With ``task="joint"`` (joint
denoising + dereverberation, the Schrödinger Bridge Mamba task) the target is
the direct path plus the early reflections: the RIR up to ``early_ms`` (50 ms)
after its direct-path peak. 50 ms is the usual boundary between early
reflections, which are heard as part of the direct sound and help
intelligibility, and late reverberation, which smears it (the C50 clarity
index, ISO 3382-1), and direct path + early reflections is a common
dereverberation target. With ``task="denoise"`` the target is the reverberant
speech itself (noise removal only).

Validation clips use only the held-out readers (MambAttention's six DNS 2020
validation readers by default), training clips only the others, so no speaker
is in both. Every clip is determined by ``(seed, split, index)``: the same
configuration gives the same samples in any number of worker processes, and
an interrupted run resumes with the clips it has.

    python -m se_mamba.data.dns_synth --clean_dir CLEAN --noise_dir NOISE \\
        --out_dir DATA --n_train 1000 --n_valid 50 --task joint
"""
import argparse
import functools
import json
import os
import re
import sys
from dataclasses import asdict, dataclass, field

import numpy as np

from ..fileio import write_text_atomic, write_wav_atomic
from .download import DownloadError

RATE = 16000
SPLITS = ("train", "valid")
READER = re.compile(r"reader_(\d+)")
# MambAttention (Kühne et al.) validates its DNS 2020 training on these readers:
# 01326, 06709, 08788 (female), 01105, 05375, 11980 (male)
VALID_READERS = ("01326", "06709", "08788", "01105", "05375", "11980")
EPS = 1e-10


@dataclass
class SynthConfig:
    seed: int = 1234
    n_train: int = 1000
    n_valid: int = 50
    clip_seconds: float = 30.0
    silence_seconds: float = 0.2
    snr_lower: float = 0.0
    snr_upper: float = 40.0
    snr_levels: int = 5
    target_level: tuple = (-35.0, -15.0)
    clean_activity_threshold: float = 0.6
    noise_activity_threshold: float = 0.0
    task: str = "denoise"  # "denoise": the target keeps the reverberation; "joint": direct path + early
    reverb_prob: float = 0.0
    rt60_range: tuple = (0.2, 1.0)
    early_ms: float = 50.0
    rir_dir: str = None  # measured RIRs (wav); None: simulated with pyroomacoustics
    valid_readers: tuple = VALID_READERS
    extra: dict = field(default_factory=dict)

    def check(self):
        if self.task not in ("denoise", "joint"):
            raise ValueError(f"task must be 'denoise' or 'joint', got {self.task!r}")
        if not 0.0 <= self.reverb_prob <= 1.0:
            raise ValueError(f"reverb_prob must be in [0, 1], got {self.reverb_prob}")
        if self.task == "joint" and self.reverb_prob == 0.0:
            raise ValueError("task 'joint' needs reverberant clips: set reverb_prob > 0")
        if self.snr_levels < 1 or self.snr_lower > self.snr_upper:
            raise ValueError(f"bad SNR grid: {self.snr_lower}..{self.snr_upper} in {self.snr_levels} levels")
        return self

    def snrs(self):
        return np.linspace(self.snr_lower, self.snr_upper, self.snr_levels)

    def to_json(self):
        return json.loads(json.dumps(asdict(self)))


# ------------------------------------------------------------------ levels
def rms_dbfs(x):
    return 10 * np.log10(np.mean(np.square(x)) + EPS)


def to_level(x, dbfs):
    """``x`` scaled to an RMS of ``dbfs``."""
    return x * 10 ** ((dbfs - rms_dbfs(x)) / 20)


def activity(x, sr=RATE, frame_ms=50.0, below_db=15.0):
    """Share of ``frame_ms`` frames whose level is no more than ``below_db``
    under the clip's overall RMS level: an energy detector in the spirit of
    the DNS synthesiser's (which also works on 50 ms frames of the clip
    normalised to -25 dBFS). 0 for silence.

    >>> t = np.arange(32000) / 16000
    >>> x = np.where(t < 1.0, np.sin(2 * np.pi * 200 * t), 0.0)
    >>> round(activity(x), 2)
    0.5
    """
    n = int(sr * frame_ms / 1000)
    frames = x[: x.size // n * n].reshape(-1, n)
    if frames.size == 0 or not np.any(frames):
        return 0.0
    level = 10 * np.log10(np.mean(frames**2, axis=1) + EPS)
    return float(np.mean(level >= rms_dbfs(x) - below_db))


# ------------------------------------------------------------------ reverberation
def simulated_rir(rng, rt60, sr=RATE):
    """A shoebox room's RIR (pyroomacoustics, image-source method): room
    3-10 x 3-10 x 2.5-4 m, walls of uniform absorption matching ``rt60`` by
    Sabine's formula, source and microphone at least 0.5 m from the walls and
    from each other."""
    import pyroomacoustics as pra

    while True:
        dims = np.array([rng.uniform(3, 10), rng.uniform(3, 10), rng.uniform(2.5, 4)])
        try:
            absorption, max_order = pra.inverse_sabine(rt60, dims)
            break
        except ValueError:  # RT60 unreachable in so small a room: another room
            continue
    pos = [rng.uniform(0.5, dims - 0.5) for _ in range(2)]
    while np.linalg.norm(pos[0] - pos[1]) < 0.5:
        pos[1] = rng.uniform(0.5, dims - 0.5)
    room = pra.ShoeBox(dims, fs=sr, materials=pra.Material(absorption), max_order=min(max_order, 60))
    room.add_source(pos[0])
    room.add_microphone(pos[1])
    room.compute_rir()
    return np.asarray(room.rir[0][0], dtype=np.float64)


def early_part(rir, early_ms=50.0, sr=RATE):
    """The RIR up to ``early_ms`` after its direct-path peak (the largest
    magnitude), zero after: the joint task's target filter. Keeping the
    samples before the peak keeps the target time-aligned with the noisy
    speech."""
    end = int(np.argmax(np.abs(rir))) + int(round(sr * early_ms / 1000)) + 1
    return rir[:end].copy()


def _wav_files(folder):
    """Every .wav file under ``folder``, sorted."""
    return sorted(os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs if f.lower().endswith(".wav"))


def list_rirs(rir_dir):
    out = _wav_files(rir_dir)
    if not out:
        raise ValueError(f"{rir_dir}: no .wav room impulse responses")
    return out


def measured_rir(rng, paths):
    path = paths[rng.integers(len(paths))]
    return _read(path), os.path.basename(path)


# ------------------------------------------------------------------ sources
def list_clean(clean_dir, valid_readers):
    """{split: sorted clean files}: validation = the held-out readers' files."""
    files = _wav_files(clean_dir)
    if not files:
        raise ValueError(f"{clean_dir}: no .wav clean speech")
    held = set(valid_readers)
    split = {"train": [], "valid": []}
    for f in files:
        m = READER.search(os.path.basename(f))
        split["valid" if m and m.group(1) in held else "train"].append(f)
    for s, fs in split.items():
        if not fs:
            raise ValueError(f"{clean_dir}: no {s} speech (validation readers: {', '.join(valid_readers)}; "
                             "the DNS names carry reader_<id>)")
    return split


def list_noise(noise_dir):
    files = _wav_files(noise_dir)
    if not files:
        raise ValueError(f"{noise_dir}: no .wav noise")
    return files


def _read(path):
    from ..audio import read_mono

    return read_mono(path, RATE)[0]


def build_signal(rng, files, n, silence, threshold, what):
    """``n`` samples of randomly drawn ``files`` joined by ``silence`` zeros;
    a draw under the activity ``threshold`` is replaced (up to 20 tries).
    Returns (signal, the files used)."""
    for _ in range(20):
        out, used, filled = np.zeros(n), [], 0
        while filled < n:
            path = files[rng.integers(len(files))]
            x = _read(path)
            if x.size == 0:
                continue
            take = min(x.size, n - filled)
            start = int(rng.integers(0, x.size - take + 1))  # a random segment when the file is longer
            out[filled: filled + take] = x[start: start + take]
            used.append(os.path.basename(path))
            filled += take + silence
        if threshold <= 0 or activity(out) >= threshold:
            return out, used
    raise ValueError(f"no {what} clip reached the activity threshold {threshold} in 20 draws "
                     f"(from {len(files)} files): lower it or check the files")


# ------------------------------------------------------------------ one clip
def mix(rng, at_mic, target, noise, snr_db, level_range):
    """The DNS mixing: speech and noise at -25 dBFS, noise scaled to
    ``snr_db`` against ``at_mic``, mixture and target to a drawn level, a 0.99
    peak at most. Returns (noisy, target, noise, level dBFS)."""
    gain = 10 ** ((-25.0 - rms_dbfs(at_mic)) / 20)
    at_mic, target = at_mic * gain, target * gain
    noise = to_level(noise, -25.0) * 10 ** (-snr_db / 20)
    noisy = at_mic + noise
    level = float(rng.uniform(*level_range))
    g = 10 ** ((level - rms_dbfs(noisy)) / 20)
    noisy, target, noise = noisy * g, target * g, noise * g
    peak = max(np.abs(noisy).max(), np.abs(target).max())
    if peak > 0.99:
        noisy, target, noise = (v * (0.99 / peak) for v in (noisy, target, noise))
    return noisy, target, noise, level


def synthesise_clip(cfg, split, index, clean_files, noise_files, rirs=None):
    """One clip, determined by ``(cfg.seed, split, index)``: (noisy, target, metadata)."""
    rng = np.random.default_rng([cfg.seed, SPLITS.index(split), index])
    n = int(round(cfg.clip_seconds * RATE))
    silence = int(round(cfg.silence_seconds * RATE))
    speech, speech_files = build_signal(rng, clean_files, n, silence, cfg.clean_activity_threshold, "speech")
    noise, noise_files_used = build_signal(rng, noise_files, n, silence, cfg.noise_activity_threshold, "noise")
    snr = float(cfg.snrs()[rng.integers(cfg.snr_levels)])
    meta = {"rt60": 0.0, "rir": None}
    at_mic = target = speech
    if cfg.reverb_prob > 0 and rng.uniform() < cfg.reverb_prob:
        if rirs:
            rir, meta["rir"] = measured_rir(rng, rirs)
        else:
            meta["rt60"] = round(float(rng.uniform(*cfg.rt60_range)), 4)
            rir = simulated_rir(rng, meta["rt60"])
        at_mic = np.convolve(speech, rir)[:n]
        target = np.convolve(speech, early_part(rir, cfg.early_ms))[:n] if cfg.task == "joint" else at_mic
    noisy, target, noise, level = mix(rng, at_mic, target, noise, snr, cfg.target_level)
    meta.update(snr=snr, target_level=round(level, 4), speech_files=speech_files, noise_files=noise_files_used,
                speaker=_reader(speech_files[0]))
    return noisy, target, meta


def _reader(name):
    m = READER.search(name)
    return m.group(1) if m else ""


# ------------------------------------------------------------------ the corpus
@functools.lru_cache(maxsize=4)
def _sources(out_dir):
    """The file lists of ``generate``, read once per worker process (sending
    them with every job would copy tens of thousands of paths each time)."""
    with open(os.path.join(out_dir, "synthesis", "sources.json")) as f:
        return json.load(f)


def _job(args):
    cfg, split, index, out_dir = args
    src = _sources(out_dir)
    clean_files, noise_files, rirs = src["clean"][split], src["noise"], src["rirs"]
    uid = f"{split}_fileid_{index}"
    paths = {k: os.path.join(out_dir, split, k, f"fileid_{index}.wav") for k in ("noisy", "clean")}
    meta_path = os.path.join(out_dir, split, "meta", f"fileid_{index}.json")
    if not all(os.path.exists(p) for p in (*paths.values(), meta_path)):  # resume: a clip is written once
        noisy, target, meta = synthesise_clip(cfg, split, index, clean_files, noise_files, rirs)
        for k, x in (("noisy", noisy), ("clean", target)):
            write_wav_atomic(paths[k], x.astype(np.float32), RATE, subtype="PCM_16")
        write_text_atomic(meta_path, json.dumps(meta) + "\n")
    with open(meta_path) as f:
        meta = json.load(f)
    rel = {k: "{data_root}/" + os.path.relpath(v, out_dir) for k, v in paths.items()}
    return uid, {"noisy_wav": rel["noisy"], "clean_wav": rel["clean"], "length": cfg.clip_seconds,
                 "words": "", "speaker": meta["speaker"], "snr": meta["snr"], "rt60": meta["rt60"],
                 "rir": meta["rir"], "target_level": meta["target_level"]}


def generate(clean_dir, noise_dir, out_dir, cfg=None, workers=2, progress=True):
    """Synthesise ``out_dir/{train,valid}/{noisy,clean}/fileid_<i>.wav`` and the
    SpeechBrain manifests ``out_dir/{train,valid}.json`` (paths under
    ``{data_root}`` = ``out_dir``, the training YAMLs' ``data_folder``). A
    folder holding clips of another configuration is refused (one line), not
    mixed. Returns {split: manifest path}."""
    from tqdm import tqdm

    from ..metrics.pool import WorkerPool

    cfg = (cfg or SynthConfig()).check()
    conf_path = os.path.join(out_dir, "synthesis", "config.json")
    stamp = {**cfg.to_json(), "clean_dir": os.path.abspath(clean_dir), "noise_dir": os.path.abspath(noise_dir)}
    os.makedirs(os.path.dirname(conf_path), exist_ok=True)
    if os.path.exists(conf_path):
        with open(conf_path) as f:
            old = json.load(f)
        if old != stamp:
            diff = sorted(k for k in set(old) | set(stamp) if old.get(k) != stamp.get(k))
            raise ValueError(f"{out_dir}: holds clips of another configuration (differs in {', '.join(diff)}); "
                             "use a new folder")
    else:
        write_text_atomic(conf_path, json.dumps(stamp, indent=1) + "\n")
    sources = {"clean": list_clean(clean_dir, cfg.valid_readers), "noise": list_noise(noise_dir),
               "rirs": list_rirs(cfg.rir_dir) if cfg.rir_dir and cfg.reverb_prob > 0 else None}
    # the lists as this run found them: a resumed run with more files on disk
    # would otherwise draw different files for the clips it still has to make
    src_path = os.path.join(out_dir, "synthesis", "sources.json")
    if os.path.exists(src_path):
        with open(src_path) as f:
            if json.load(f) != sources:
                raise ValueError(f"{out_dir}: the clean/noise/RIR files changed since these clips were made; "
                                 "use a new folder")
    else:
        write_text_atomic(src_path, json.dumps(sources) + "\n")
    _sources.cache_clear()
    counts = {"train": cfg.n_train, "valid": cfg.n_valid}
    pool = WorkerPool(workers)
    manifests = {}
    try:
        for split in SPLITS:
            jobs = [(cfg, split, i, out_dir) for i in range(counts[split])]
            items = {}
            bar = tqdm(total=len(jobs), desc=f"DNS 2020 synthesis {split}", unit="clip", disable=not progress,
                       file=sys.stderr)
            for i in range(0, len(jobs), 32):
                for uid, item in pool.map(_job, jobs[i:i + 32], chunksize=1):
                    items[uid] = item
                bar.update(len(jobs[i:i + 32]))
            bar.close()
            path = os.path.join(out_dir, f"{split}.json")
            write_text_atomic(path, json.dumps(items, indent=1) + "\n")
            manifests[split] = path
    finally:
        pool.close()
    return manifests


def find_sources(clean_dir=None, noise_dir=None, dns_dir=None, corpus_dir=None, mirror=None, max_files=None,
                 valid_readers=VALID_READERS):
    """(clean folder, noise folder): given, inside a checkout, or downloaded."""
    from . import dns2020

    if clean_dir or noise_dir:
        if not (clean_dir and noise_dir):
            raise ValueError("give both --clean_dir and --noise_dir")
        return clean_dir, noise_dir
    if dns_dir:
        for base in (os.path.join(dns_dir, "datasets"), dns_dir):
            if all(os.path.isdir(os.path.join(base, k)) for k in ("clean", "noise")):
                return os.path.join(base, "clean"), os.path.join(base, "noise")
        raise ValueError(f"{dns_dir}: no datasets/clean and datasets/noise (run `git lfs pull -I "
                         "datasets/clean,datasets/noise` in the checkout)")
    if corpus_dir:
        keep = tuple(f"reader_{r}" for r in valid_readers)
        return dns2020.fetch_sources(corpus_dir, mirror, max_files, keep)
    raise ValueError("give --clean_dir and --noise_dir, --dns_dir (a checkout) or --corpus_dir (download)")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    d = SynthConfig()
    p.add_argument("--clean_dir", help="clean speech folder (DNS: datasets/clean)")
    p.add_argument("--noise_dir", help="noise folder (DNS: datasets/noise)")
    p.add_argument("--dns_dir", help="a DNS-Challenge checkout holding datasets/clean and datasets/noise")
    p.add_argument("--corpus_dir", help="download the two folders from GitHub (Git LFS) into here")
    p.add_argument("--max_files", type=int, default=None,
                   help="with --corpus_dir: fetch this many files per folder (an even spread; the "
                        "validation readers' files always)")
    p.add_argument("--mirror", default=None, help="base URL serving /api, /raw and /media like GitHub")
    p.add_argument("--out_dir", required=True)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--n_train", type=int, default=d.n_train)
    p.add_argument("--n_valid", type=int, default=d.n_valid)
    p.add_argument("--clip_seconds", type=float, default=d.clip_seconds)
    p.add_argument("--snr", type=float, nargs=3, metavar=("LOWER", "UPPER", "LEVELS"),
                   default=(d.snr_lower, d.snr_upper, d.snr_levels))
    p.add_argument("--target_level", type=float, nargs=2, default=d.target_level)
    p.add_argument("--clean_activity_threshold", type=float, default=d.clean_activity_threshold)
    p.add_argument("--task", choices=("denoise", "joint"), default=d.task)
    p.add_argument("--reverb_prob", type=float, default=None,
                   help="share of reverberant clips (default: 0 for denoise, 0.5 for joint)")
    p.add_argument("--rt60", type=float, nargs=2, default=d.rt60_range)
    p.add_argument("--early_ms", type=float, default=d.early_ms)
    p.add_argument("--rir_dir", default=None, help="measured RIRs (wav) instead of simulated ones")
    p.add_argument("--valid_readers", nargs="+", default=list(d.valid_readers))
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 2))
    args = p.parse_args(argv)
    reverb = args.reverb_prob if args.reverb_prob is not None else (0.5 if args.task == "joint" else 0.0)
    try:
        cfg = SynthConfig(seed=args.seed, n_train=args.n_train, n_valid=args.n_valid,
                          clip_seconds=args.clip_seconds, snr_lower=args.snr[0], snr_upper=args.snr[1],
                          snr_levels=int(args.snr[2]), target_level=tuple(args.target_level),
                          clean_activity_threshold=args.clean_activity_threshold, task=args.task,
                          reverb_prob=reverb, rt60_range=tuple(args.rt60), early_ms=args.early_ms,
                          rir_dir=args.rir_dir, valid_readers=tuple(args.valid_readers))
        clean_dir, noise_dir = find_sources(args.clean_dir, args.noise_dir, args.dns_dir, args.corpus_dir,
                                            args.mirror, args.max_files, cfg.valid_readers)
        manifests = generate(clean_dir, noise_dir, args.out_dir, cfg, args.workers)
    except (ValueError, OSError, DownloadError) as exc:
        print(f"dns_synth: error: {exc}", file=sys.stderr)
        return 1
    print("DNS 2020 training data: " + ", ".join(f"{k} {v}" for k, v in manifests.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
