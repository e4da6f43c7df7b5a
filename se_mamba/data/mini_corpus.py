"""The embedded mini corpus: synthetic noisy speech generated on the spot.

Clean speech reads sentences from a small grammar over word lists written for
this project, resampled to 16 kHz. A share ``neural_fraction`` of the
utterances is spoken by Piper's neural en_US-joe-medium voice (recorded human
speech modelled by a VITS vocoder: far closer to real speech than formant
synthesis), made into several voices by warping its pitch and formants and
varied in tempo and prosody; the rest by espeak-ng voices (``espeakng-loader``),
which add speaker variety. Splits use disjoint voices (espeak variants, Piper
warps) and disjoint sentences. Noises come
from :mod:`se_mamba.data.noises`, with distinct realisations per split. They
are mixed at SNRs drawn uniformly from a range (default -5 to 20 dB), and
the SNR is recorded. With ``reverb_prob > 0`` the speech is first convolved
with a synthetic room impulse response (RT60 drawn from a range); the
target then keeps only the direct path and the early reflections (first
50 ms).

SNR definition: 10 log10(||speech at the microphone||^2 / ||noise||^2),
where the speech at the microphone is the dry (or reverberant) speech. For
dry items it is exactly recoverable from the files as noisy - clean.

Everything is deterministic from ``seed``: the same arguments give the same
bytes (speech is synthesised in a fresh process, see
:mod:`se_mamba.data.tts`).

Output layout (SpeechBrain JSON manifests, paths under ``{data_root}``)::

    OUT/train.json valid.json test.json   {id: {noisy_wav, clean_wav, length,
                                            words, snr, noise_type, rt60, speaker, tts}}
    OUT/wav/<split>/{clean,noisy}/<id>.wav  (16 kHz, int16)
    OUT/summary.md                          per-split table
    OUT/corpus_config.json                  the arguments (reruns with the same
                                            arguments are skipped)
"""
import json
import logging
import os
from dataclasses import asdict, dataclass, field

import numpy as np

from ..audio import resample
from ..fileio import write_text_atomic, write_wav_atomic
from .noises import NOISE_KINDS, make_noise, spectral_tilt

logger = logging.getLogger(__name__)
SR = 16000
SPLITS = ("train", "valid", "test")

# ------------------------------------------------------------------ text
DETERMINERS = ["the", "a", "this", "that", "every", "one"]
ADJECTIVES = ["small", "bright", "quiet", "heavy", "green", "old", "clever", "warm", "narrow",
              "brave", "soft", "yellow", "distant", "busy", "simple", "golden", "cold", "gentle"]
NOUNS = ["garden", "teacher", "river", "window", "doctor", "basket", "engine", "village", "letter",
         "farmer", "mountain", "kitchen", "painter", "bridge", "island", "student", "market",
         "lantern", "captain", "forest", "pocket", "singer", "harbour", "blanket", "station"]
NAMES = ["Anna", "Peter", "Maria", "Thomas", "Laura", "Daniel", "Sofia", "Martin", "Helen",
         "Oscar", "Clara", "Victor"]
VERBS = ["carried", "painted", "opened", "found", "watched", "cleaned", "followed", "visited",
         "repaired", "described", "borrowed", "noticed", "collected", "remembered", "pushed"]
PREPOSITIONS = ["near", "behind", "across", "beside", "under", "inside", "past", "towards"]
TIMES = ["in the morning", "after lunch", "on monday", "last winter", "before dawn",
         "every evening", "at noon", "during the storm", "yesterday", "next week"]
NUMBERS = ["two", "three", "four", "five", "seven", "ten", "twelve"]


def _pick(rng, a):
    return a[rng.integers(len(a))]


def make_sentence(rng):
    """One sentence of the grammar (4 templates)."""
    k = rng.integers(4)
    if k == 0:
        return (f"{_pick(rng, DETERMINERS)} {_pick(rng, ADJECTIVES)} {_pick(rng, NOUNS)} {_pick(rng, VERBS)} "
                f"the {_pick(rng, NOUNS)} {_pick(rng, PREPOSITIONS)} the {_pick(rng, NOUNS)}")
    if k == 1:
        return (f"{_pick(rng, NAMES)} {_pick(rng, VERBS)} {_pick(rng, NUMBERS)} {_pick(rng, ADJECTIVES)} "
                f"{_pick(rng, NOUNS)}s {_pick(rng, TIMES)}")
    if k == 2:
        return (f"{_pick(rng, TIMES)} the {_pick(rng, NOUNS)} {_pick(rng, VERBS)} "
                f"{_pick(rng, NAMES)} {_pick(rng, PREPOSITIONS)} the {_pick(rng, ADJECTIVES)} {_pick(rng, NOUNS)}")
    return (f"{_pick(rng, NAMES)} and {_pick(rng, NAMES)} {_pick(rng, VERBS)} a {_pick(rng, ADJECTIVES)} "
            f"{_pick(rng, NOUNS)} {_pick(rng, PREPOSITIONS)} the {_pick(rng, NOUNS)}")


# --------------------------------------------------------------- speakers
ACCENTS = ["en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc"]
VARIANTS = {  # espeak-ng voice variants, disjoint between splits
    "train": ["m1", "m2", "m4", "m5", "m6", "f1", "f2", "f4", "adam", "andy", "john", "linda",
              "paul", "robert", "steph", "david"],
    "valid": ["m7", "f3", "iven", "annie"],
    "test": ["m3", "m8", "f5", "michael", "travis"],
}


# Piper's one neural voice made into several: its output read as if sampled at
# rate x warp shifts pitch and formants by warp (a shorter or longer vocal
# tract) and the tempo by 1 / warp; the warps are disjoint between splits
PIPER_WARPS = {
    "train": (0.86, 0.90, 0.94, 0.98, 1.02, 1.06, 1.10, 1.14),
    "valid": (0.95, 1.05),
    "test": (0.92, 0.97, 1.03, 1.08),
}


def piper_voice(warp):
    return f"joe@{warp:.2f}"


def speakers(split):
    """The split's voices: espeak-ng accent x variant, and the warped neural voice."""
    return [f"{acc}+{var}" for var in VARIANTS[split] for acc in ACCENTS] + \
        [piper_voice(w) for w in PIPER_WARPS[split]]


# ---------------------------------------------------------------- config
@dataclass
class CorpusConfig:
    seed: int = 1234
    n_train: int = 400
    n_valid: int = 40
    n_test: int = 40
    snr_range: tuple = (-5.0, 20.0)
    train_snr_range: tuple = None  # the training split's SNRs (None: snr_range)
    train_tilt_db: float = 0.0  # training speech and noise each tilted by U(-x, x) dB/octave
    noise_kinds: tuple = NOISE_KINDS
    reverb_prob: float = 0.0
    rt60_range: tuple = (0.2, 0.8)
    early_ms: float = 50.0
    level_range_db: tuple = (-28.0, -18.0)  # RMS level of the mixture, dBFS
    rates: tuple = (140, 200)
    pitches: tuple = (30, 75)
    neural_fraction: float = 1.0  # share of training utterances spoken by the Piper voice (the rest: espeak-ng)
    n_real: int = 0  # training mixtures of real recorded speech (se_mamba.data.real_speech), added to n_train
    eval_neural_fraction: float = 1.0  # the same share in validation and test
    length_scales: tuple = (0.85, 1.15)  # Piper tempo range (> 1: slower)
    noise_scales: tuple = (0.5, 0.8)  # Piper voice variability
    noise_ws: tuple = (0.6, 1.0)  # Piper timing variability
    extra: dict = field(default_factory=dict)

    def sizes(self):
        return {"train": self.n_train, "valid": self.n_valid, "test": self.n_test}

    def to_json(self):
        d = asdict(self)
        return json.loads(json.dumps(d))  # tuples -> lists, comparable with a re-read file


# ---------------------------------------------------------------- reverb
def synth_rir(rng, rt60, early_ms=50.0, sr=SR):
    """Synthetic RIR: unit direct path, sparse early reflections (< early_ms)
    and an exponentially decaying diffuse tail (-60 dB at rt60) whose energy
    sits 0-8 dB below the direct path. Returns (rir, n_early)."""
    n = int(sr * max(1.2 * rt60, early_ms / 1000 * 2))
    t = np.arange(n) / sr
    h = np.zeros(n)
    h[0] = 1.0
    n_early = int(sr * early_ms / 1000)
    for _ in range(rng.integers(4, 10)):
        pos = rng.integers(int(0.002 * sr), n_early)
        h[pos] += rng.uniform(-0.6, 0.6) * np.exp(-6.9078 * t[pos] / rt60)
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)
    tail[: int(0.005 * sr)] = 0.0
    drr_db = rng.uniform(0.0, 8.0)
    tail *= np.sqrt(10 ** (-drr_db / 10) / (np.sum(tail**2) + 1e-12))
    return h + tail, n_early


# ---------------------------------------------------------------- mixing
def mix(rng, speech_at_mic, target, noise, snr_db, level_range_db):
    """Scale ``noise`` to ``snr_db`` against ``speech_at_mic``, set the
    mixture level, avoid clipping; the same gain goes to the target."""
    p_s = np.mean(speech_at_mic**2)
    noise = noise * np.sqrt(p_s / (np.mean(noise**2) + 1e-20) / 10 ** (snr_db / 10))
    noisy = speech_at_mic + noise
    gain = 10 ** (rng.uniform(*level_range_db) / 20) / (np.sqrt(np.mean(noisy**2)) + 1e-12)
    peak = max(np.abs(noisy).max(), np.abs(target).max()) * gain
    if peak > 0.99:
        gain *= 0.99 / peak
    return noisy * gain, target * gain


def _write(path, x):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_wav_atomic(path, np.clip(x, -1.0, 1.0), SR, subtype="PCM_16")


def plan_split(cfg, split, sentences_taken):
    """Texts, speakers and synthesis settings of one split (deterministic)."""
    rng = np.random.default_rng([cfg.seed, SPLITS.index(split), 0])
    n = cfg.sizes()[split]
    spk = speakers(split)
    items = []
    guard = 0
    while len(items) < n:
        s = make_sentence(rng)
        guard += 1
        if guard > 100 * (n + 10):
            raise ValueError(f"{split}: cannot draw {n} distinct sentences from the grammar")
        if s in sentences_taken:
            continue
        sentences_taken.add(s)
        share = cfg.neural_fraction if split == "train" else cfg.eval_neural_fraction
        # no draw at 0 or 1: an espeak-only corpus keeps the bytes it had before the neural voice
        if share >= 1.0 or (share > 0.0 and rng.uniform() < share):
            warp = float(PIPER_WARPS[split][rng.integers(len(PIPER_WARPS[split]))])
            items.append({"text": s, "split": split, "engine": "piper", "voice": piper_voice(warp), "warp": warp,
                          "length_scale": round(float(rng.uniform(*cfg.length_scales)), 3),
                          "noise_scale": round(float(rng.uniform(*cfg.noise_scales)), 3),
                          "noise_w": round(float(rng.uniform(*cfg.noise_ws)), 3)})
        else:
            espeak = [v for v in spk if "+" in v]
            items.append({"text": s, "split": split, "engine": "espeak", "voice": espeak[rng.integers(len(espeak))],
                          "rate": int(rng.integers(cfg.rates[0], cfg.rates[1] + 1)),
                          "pitch": int(rng.integers(cfg.pitches[0], cfg.pitches[1] + 1))})
    return items


def synthesise(cfg, items):
    """Clean 16 kHz speech of every planned item, in order: espeak-ng and Piper
    each in one fresh process (reproducible bytes, see :mod:`se_mamba.data.tts`)."""
    from .tts import piper_in_fresh_process, synthesize_in_fresh_process

    out = [None] * len(items)
    espeak = [k for k, it in enumerate(items) if it["engine"] == "espeak"]
    piper = [k for k, it in enumerate(items) if it["engine"] == "piper"]
    if espeak:
        logger.info("synthesising %d utterances with espeak-ng", len(espeak))
        wavs, sr = synthesize_in_fresh_process(
            [dict(text=items[k]["text"], voice=items[k]["voice"], rate=items[k]["rate"],
                  pitch=items[k]["pitch"], seed=cfg.seed * 100003 + k) for k in espeak])
        for k, w in zip(espeak, wavs):
            out[k] = resample(w.astype(np.float64) / 32768.0, sr, SR)
    # one seeded process per split: a split's neural speech does not depend on how
    # many neural utterances the splits before it had (the training mix)
    for i, split in enumerate(SPLITS):
        ks = [k for k in piper if items[k]["split"] == split]
        if not ks:
            continue
        logger.info("synthesising %d %s utterances with Piper (en_US-joe-medium)", len(ks), split)
        wavs, sr = piper_in_fresh_process(
            [dict(text=items[k]["text"], length_scale=items[k]["length_scale"],
                  noise_scale=items[k]["noise_scale"], noise_w=items[k]["noise_w"]) for k in ks], cfg.seed * 10 + i)
        for k, w in zip(ks, wavs):
            # the warped rate on a 50 Hz grid: a small rational ratio to 16 kHz (an
            # arbitrary rate makes the resampling kernel thousands of taps long)
            out[k] = resample(w.astype(np.float64), int(round(sr * items[k]["warp"] / 50) * 50), SR)
    return out


def generate(out_dir, cfg=None, progress=True):
    """Generate the corpus under ``out_dir`` (skipped if already generated
    with the same configuration). Returns {split: manifest path}."""
    from tqdm import tqdm

    cfg = cfg or CorpusConfig()
    os.makedirs(out_dir, exist_ok=True)
    conf_path = os.path.join(out_dir, "corpus_config.json")
    manifests = {s: os.path.join(out_dir, f"{s}.json") for s in SPLITS}
    if os.path.exists(conf_path) and all(os.path.exists(p) for p in manifests.values()):
        with open(conf_path) as f:
            if json.load(f) == cfg.to_json():
                logger.info("mini corpus already generated in %s (same configuration): skipped", out_dir)
                return manifests
    taken = set()
    plans = {s: plan_split(cfg, s, taken) for s in SPLITS}
    wavs = synthesise(cfg, [it for s in SPLITS for it in plans[s]])
    k = 0
    summary = {}
    for split in SPLITS:
        items = plans[split]
        clean = wavs[k: k + len(items)]
        k += len(items)
        rng = np.random.default_rng([cfg.seed, SPLITS.index(split), 1])
        # the training augmentation draws from its own stream: the noises, SNRs
        # and levels of every split stay the bytes they are without it
        aug = np.random.default_rng([cfg.seed, SPLITS.index(split), 2])
        train = split == "train"
        snr_range = cfg.train_snr_range if train and cfg.train_snr_range else cfg.snr_range
        tilt = cfg.train_tilt_db if train else 0.0
        manifest = {}
        bar = tqdm(range(len(items)), desc=f"mini corpus {split}", disable=not progress, unit="utt")
        for i in bar:
            it = items[i]
            pool = [c for j, c in enumerate(clean) if items[j]["voice"] != it["voice"]] or clean
            manifest[f"{split}_{i:05d}"] = _mixture(cfg, out_dir, split, f"{split}_{i:05d}", clean[i], pool, rng,
                                                    aug, snr_range, tilt, words=it["text"], speaker=it["voice"],
                                                    tts=it["engine"])
        if train and cfg.n_real:
            # real recordings, after the synthetic items and from their own
            # stream: the synthetic items keep their bytes
            real_rng = np.random.default_rng([cfg.seed, SPLITS.index(split), 3])
            for i, (name, speech) in enumerate(_real_pieces(out_dir, cfg.n_real, progress)):
                uid = f"{split}_real_{i:05d}"
                manifest[uid] = _mixture(cfg, out_dir, split, uid, speech, clean, real_rng, real_rng, snr_range,
                                         tilt, words="", speaker=name.rsplit(":", 1)[0], tts="real")
        _write_json(manifests[split], manifest)
        summary[split] = manifest
    write_text_atomic(os.path.join(out_dir, "summary.md"), summary_table(summary, cfg))
    _write_json(conf_path, cfg.to_json())
    return manifests


def _mixture(cfg, out_dir, split, uid, speech, pool, rng, aug, snr_range, tilt, **fields):
    """Mix one utterance (noise from ``pool``'s other voices for babble and
    speech-shaped noise), write its two files, return its manifest entry."""
    n = speech.size
    if tilt > 0:
        speech = spectral_tilt(speech, aug.uniform(-tilt, tilt), SR)
    kind = cfg.noise_kinds[rng.integers(len(cfg.noise_kinds))]
    snr = float(rng.uniform(*snr_range))
    rt60 = 0.0
    target = at_mic = speech
    if cfg.reverb_prob > 0 and rng.uniform() < cfg.reverb_prob:
        rt60 = float(rng.uniform(*cfg.rt60_range))
        rir, n_early = synth_rir(rng, rt60, cfg.early_ms)
        at_mic = np.convolve(speech, rir)[:n]
        target = np.convolve(speech, rir[:n_early])[:n]
    noise = make_noise(kind, rng, n, SR, pool)
    if tilt > 0:
        noise = spectral_tilt(noise, aug.uniform(-tilt, tilt), SR)
    noisy, target = mix(rng, at_mic, target, noise, snr, cfg.level_range_db)
    rel = {"clean": f"wav/{split}/clean/{uid}.wav", "noisy": f"wav/{split}/noisy/{uid}.wav"}
    _write(os.path.join(out_dir, rel["clean"]), target)
    _write(os.path.join(out_dir, rel["noisy"]), noisy)
    return {"noisy_wav": "{data_root}/" + rel["noisy"], "clean_wav": "{data_root}/" + rel["clean"],
            "length": round(n / SR, 4), "words": fields["words"], "snr": round(snr, 4), "noise_type": kind,
            "rt60": round(rt60, 4), "speaker": fields["speaker"], "tts": fields["tts"]}


def _real_pieces(out_dir, count, progress):
    """``count`` pieces of real speech (:mod:`se_mamba.data.real_speech`), the
    pieces in order, cycling when ``count`` exceeds them."""
    from .real_speech import load

    real = load(os.path.join(out_dir, "real_speech"), progress=progress)
    return [real[i % len(real)] for i in range(count)]


def _write_json(path, obj):
    write_text_atomic(path, json.dumps(obj, indent=2) + "\n")


def summary_table(manifests, cfg):
    lines = [f"# Mini corpus (seed {cfg.seed})", "",
             "| split | utterances | hours | speakers | neural voice (Piper) | real speech | SNR mean (dB) | "
             "SNR range | reverberant | noise types |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for split, man in manifests.items():
        v = list(man.values())
        if not v:
            continue
        snrs = np.array([x["snr"] for x in v])
        kinds = {}
        for x in v:
            kinds[x["noise_type"]] = kinds.get(x["noise_type"], 0) + 1
        kinds_s = ", ".join(f"{k} {c}" for k, c in sorted(kinds.items()))
        lines.append(f"| {split} | {len(v)} | {sum(x['length'] for x in v) / 3600:.3f} | "
                     f"{len({x['speaker'] for x in v})} | {sum(x.get('tts') == 'piper' for x in v)} | "
                     f"{sum(x.get('tts') == 'real' for x in v)} | "
                     f"{snrs.mean():.1f} | {snrs.min():.1f} to "
                     f"{snrs.max():.1f} | {sum(x['rt60'] > 0 for x in v)} | {kinds_s} |")
    return "\n".join(lines) + "\n"
