#!/usr/bin/env python
"""Recipe stage: ASR on clean, noisy and enhanced speech (enhancement as an ASR front end).

    python -m se_mamba.recipe.asr --enhanced exp/X/enhanced/test/enhanced.json \\
        --out-dir exp/X/asr/test --results recipes/mini/RESULTS_ASR.md --asr whisper:tiny.en

For each system (noisy, enhanced, clean) every utterance is transcribed
(in parallel processes, with a progress bar) and scored two ways:

* against the reference text (the manifest's ``words``);
* against the ASR transcript of the clean reference (pseudo-reference), which
  isolates what enhancement does to recognition when the recogniser is weak
  on the domain (pocketsphinx on synthetic speech).

Writes ``OUT/transcripts.csv`` (id, system, hypothesis, reference) and a
Markdown table (WER / CER in percent, edit counts). Transcripts are cached in
``OUT/cache.json`` keyed by the backend and its settings plus the file's path,
size and mtime, so re-running the stage only decodes what changed, and another
backend never reuses these transcripts.
"""
import argparse
import csv
import io
import json
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor

from ..asr import build_asr, error_rates
from ..asr.backends import asr_cache_key
from ..fileio import write_text_atomic

SYSTEMS = (("noisy", "noisy_wav"), ("enhanced", "enhanced_wav"), ("clean", "clean_wav"))
_ASR = None


def _init_worker(spec):
    global _ASR
    _ASR = build_asr(spec)


def _decode(path):
    try:
        return path, _ASR.transcribe_file(path), ""
    except Exception as exc:  # recorded, never fatal: one bad file must not stop the stage
        return path, "", f"{type(exc).__name__}: {exc}"


def _key(path, spec):
    """The file (path, size, mtime) and the backend with its settings: a second
    backend never reuses the first one's transcripts."""
    st = os.stat(path)
    return f"{asr_cache_key(spec)}|{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}"


def transcribe_all(paths, spec, workers, cache):
    """{path: (text, error)}. Decodes only paths whose cache key changed;
    failures are returned with their reason and not cached (retried next run)."""
    from tqdm import tqdm

    errors = {}
    todo = sorted({p for p in paths if _key(p, spec) not in cache})
    if todo:
        ctx = multiprocessing.get_context("spawn")  # no fork of a threaded parent
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(spec,)) as pool:
            for path, text, err in tqdm(pool.map(_decode, todo, chunksize=2), total=len(todo),
                                        desc=f"asr ({spec})", unit="utt"):
                if err:
                    errors[path] = err
                else:
                    cache[_key(path, spec)] = text
    return {p: (cache.get(_key(p, spec), ""), errors.get(p, "")) for p in paths}


def present_systems(items):
    """The systems every item has a file for (a test set without clean
    references has no clean row and no pseudo-reference)."""
    return [(s, k) for s, k in SYSTEMS if all(it.get(k) for it in items.values())]


def asr_table(items, hyps):
    """Markdown rows and per-system rates for noisy / enhanced / clean."""
    uids = sorted(items)
    texts = [items[u].get("words", "") for u in uids]
    systems = present_systems(items)
    pseudo = [hyps[items[u]["clean_wav"]][0] for u in uids] if ("clean", "clean_wav") in systems else []
    rows, rates = [], {}
    for system, key in systems:
        hyp = [hyps[items[u][key]][0] for u in uids]
        failed = sum(1 for u in uids if hyps[items[u][key]][1])
        vs_text = error_rates(texts, hyp) if any(t.strip() for t in texts) else None
        vs_pseudo = error_rates(pseudo, hyp) if system != "clean" and any(pseudo) else None
        rates[system] = {"text": vs_text, "pseudo": vs_pseudo, "failed": failed}

        def pct(r, k):
            return f"{100 * r[k]:.1f}" if r else "–"

        edits = (f"{vs_text['substitutions']}/{vs_text['deletions']}/{vs_text['insertions']}"
                 if vs_text else "–")
        rows.append(f"| {system} | {pct(vs_text, 'wer')} | {pct(vs_text, 'cer')} | {edits} | "
                    f"{pct(vs_pseudo, 'wer')} | {pct(vs_pseudo, 'cer')} | {failed} |")
    header = ["| system | WER % (text) | CER % (text) | S/D/I (text) | WER % (vs clean ASR) | "
              "CER % (vs clean ASR) | failed |", "|---|---|---|---|---|---|---|"]
    return header + rows, rates


SNR_BANDS = ((-100.0, 5.0, "below 5 dB"), (5.0, 15.0, "5 to 15 dB"), (15.0, 100.0, "15 dB and above"))


def snr_band_table(items, hyps):
    """WER against the text per input-SNR band (items with an ``snr``, e.g. the
    mini corpus), noisy vs enhanced: where enhancement helps ASR and where it
    hurts. Empty when the manifest records no SNR or no text."""
    uids = [u for u in sorted(items) if isinstance(items[u].get("snr"), (int, float))
            and items[u].get("words", "").strip()]
    if not uids:
        return []
    rows = ["| input SNR | utterances | noisy WER % | enhanced WER % | change (points) | clean WER % |",
            "|---|---|---|---|---|---|"]
    for lo, hi, label in SNR_BANDS:
        band = [u for u in uids if lo <= items[u]["snr"] < hi]
        if not band:
            continue
        texts = [items[u]["words"] for u in band]
        wer = {k: 100 * error_rates(texts, [hyps[items[u][key]][0] for u in band])["wer"]
               for k, key in SYSTEMS if all(items[u].get(key) for u in band)}
        clean = f"{wer['clean']:.1f}" if "clean" in wer else "–"
        rows.append(f"| {label} | {len(band)} | {wer['noisy']:.1f} | {wer['enhanced']:.1f} | "
                    f"{wer['enhanced'] - wer['noisy']:+.1f} | {clean} |")
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--enhanced", required=True, help="enhanced.json from the enhance stage")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--results", required=True, help="Markdown file to write (RESULTS_ASR.md)")
    p.add_argument("--asr", default="whisper:tiny.en", help="whisper:SIZE_OR_PATH | pocketsphinx | speechbrain:SOURCE")
    p.add_argument("--title", default="ASR on enhanced speech")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)
    try:
        with open(args.enhanced) as f:
            items = json.load(f)
        paths = [it[key] for it in items.values() for _, key in present_systems(items)]
        missing = [q for q in paths if not os.path.isfile(q)]
        if missing:
            raise FileNotFoundError(f"{missing[0]}: no such file ({len(missing)} missing)")
        build_asr(args.asr)  # fail here, once, with a clear message if the backend is unusable
    except (OSError, ValueError, KeyError, ImportError, RuntimeError) as exc:
        print(f"asr: error: {args.enhanced}: {exc}", file=sys.stderr)
        return 1
    os.makedirs(args.out_dir, exist_ok=True)
    cache_path = os.path.join(args.out_dir, "cache.json")
    cache = {}
    if os.path.isfile(cache_path):
        with open(cache_path) as f:
            cache = json.load(f)
    hyps = transcribe_all(paths, args.asr, args.workers, cache)
    write_text_atomic(cache_path, json.dumps(cache, indent=1))

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["id", "system", "hypothesis", "reference", "error"])
    for uid in sorted(items):
        for system, key in present_systems(items):
            text, err = hyps[items[uid][key]]
            w.writerow([uid, system, text, items[uid].get("words", ""), err])
    write_text_atomic(os.path.join(args.out_dir, "transcripts.csv"), buf.getvalue())

    rows, _ = asr_table(items, hyps)
    bands = snr_band_table(items, hyps)
    if bands:
        bands = ["By input SNR (the manifest's `snr`), WER against the text:", "", *bands, ""]
    text = "\n".join([
        f"# {args.title}", "",
        f"ASR backend: `{args.asr}`; {len(items)} test utterances. Corpus-level rates after "
        "lower-casing and removing punctuation. \"vs clean ASR\": the reference is the same "
        "recogniser's transcript of the clean signal (pseudo-reference).", "",
        *rows, "", *bands,
        f"Transcripts: `{os.path.relpath(os.path.join(args.out_dir, 'transcripts.csv'))}`.", ""])
    write_text_atomic(args.results, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
