"""The scoring engine: per-utterance scores of (reference, estimate) pairs and summary tables.

Rows are dicts with ``id``, one value per metric and ``error`` (empty when
every metric scored). A metric that cannot be computed is NaN with the reason
in ``error`` - never a silent zero - and summaries count those failures next
to mean, std and the 95% confidence interval (1.96 std / sqrt(n)).

Input checks (each a recorded reason): unreadable or missing file, estimate
with NaN/inf samples, all-zero estimate, silent reference, too short (under
0.25 s: PESQ's limit), estimate and reference more than ``LENGTH_TOLERANCE``
samples (32 ms) apart in length. Each metric runs under its own guard: a
failing one leaves its cell NaN with ``metric: reason`` and never stops the
others or the run. Audio at another rate is resampled to 16 kHz and
multichannel audio is averaged to mono; smaller length mismatches are trimmed
to the shorter signal. These three are notes (``notes``), reported by the caller.

Metrics (``METRICS``): ``pesq_wb``, ``pesq_nb``, ``stoi``, ``estoi``,
``si_sdr`` (means removed), ``ssnr`` (segmental SNR), ``csig``, ``cbak``,
``covl`` (composite, ``composite_mode`` faithful or paper), ``spk_sim``
(speaker similarity, cosine of GE2E embeddings), and the non-intrusive ``dnsmos_sig``, ``dnsmos_bak``, ``dnsmos_ovrl``, ``dnsmos_p808``.

Two optional metrics run only where the user has their model
(:mod:`se_mamba.metrics.optional`): ``speechbertscore`` (intrusive) and
``nisqa_mos``. Without it their cells read ``not available: <reason>`` in
the CSVs and tables (the row keeps the reason under ``unavailable``); they
are not failures and never a zero.
"""
import csv
import io
import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from ..audio import AUDIO_EXTENSIONS, audio_files, read_mono
from .composite import COMPOSITE_MODES, composite, segmental_snr
from .dnsmos import DNSMOS_KEYS
from .intrusive import pesq_score, si_sdr, stoi_score
from .optional import NOT_AVAILABLE, OPTIONAL, NotAvailable, scorer
from .pool import single_threaded_children

RATE = 16000
INTRUSIVE = ("pesq_wb", "pesq_nb", "stoi", "estoi", "si_sdr", "ssnr", "csig", "cbak", "covl", "spk_sim",
             "speechbertscore")
METRICS = INTRUSIVE + DNSMOS_KEYS + ("nisqa_mos",)
DEFAULT_METRICS = ("pesq_wb", "stoi", "estoi", "si_sdr")
RECIPE_METRICS = ("pesq_wb", "estoi", "si_sdr", "ssnr", "csig", "cbak", "covl", "stoi") + DNSMOS_KEYS
MIN_SAMPLES = RATE // 4  # PESQ needs 0.25 s
SILENCE = 1e-6  # peak below -120 dBFS: no signal to compare against
# an estimate this close in length to its reference is trimmed to the shorter
# (with a note): 512 samples = 32 ms, one frame of the 512-point STFTs common
# in enhancement, which an enhancer that does not restore the length drops;
# further apart, the pair is not aligned and scoring it would be wrong
LENGTH_TOLERANCE = 512

_DNSMOS = None


def parse_metrics(text):
    """``"pesq_wb,estoi"`` (or ``"all"``) -> tuple, with a clear error for unknown names."""
    names = METRICS if text.strip() == "all" else tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise ValueError(f"unknown metric(s) {', '.join(unknown) or '(none)'}; known: {', '.join(METRICS)}, all")
    return names


def _dnsmos():
    global _DNSMOS
    if _DNSMOS is None:
        from .dnsmos import DNSMOS

        _DNSMOS = DNSMOS(threads=1)
    return _DNSMOS


def _estimate_problem(est):
    if est.size == 0:
        return "estimate is empty"
    if not np.all(np.isfinite(est)):
        return "estimate has NaN/inf samples"
    if not np.any(est):
        return "estimate is all zeros"
    return ""


def _reference_problem(ref):
    if ref.size < MIN_SAMPLES:
        return f"too short ({ref.size} samples < {MIN_SAMPLES}, 0.25 s)"
    if np.max(np.abs(ref)) < SILENCE:
        return "silent reference"
    return ""


def _attempt(name, errors, fn, *args):
    """``fn(*args)``, or None with ``name: reason`` recorded in ``errors``: a
    metric's failure is its own, never the run's."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - metric libraries raise anything; the cell records it
        errors.append(f"{name}: {str(exc).strip() or type(exc).__name__}")
        return None


def _guarded(name, errors, fn, *args):
    """``fn(*args)`` as one cell: an exception or a non-finite value is that
    metric's recorded failure and the cell is NaN."""
    value = _attempt(name, errors, fn, *args)
    if value is None:
        return math.nan
    value = float(value)
    if not math.isfinite(value):
        errors.append(f"{name}: not a finite number")
    return value


def _pesq(ref, est, fs, mode):
    value, err = pesq_score(ref, est, fs, mode)
    if err:
        raise ValueError(err.split(": ", 1)[1])
    return value


def _speaker(ref, est, fs):
    from .speaker import speaker_similarity

    return speaker_similarity(ref, est, fs)


_SINGLE = {"pesq_wb": lambda r, e, fs: _pesq(r, e, fs, "wb"), "pesq_nb": lambda r, e, fs: _pesq(r, e, fs, "nb"),
           "stoi": lambda r, e, fs: stoi_score(r, e, fs), "estoi": lambda r, e, fs: stoi_score(r, e, fs, True),
           "si_sdr": lambda r, e, fs: si_sdr(r, e), "ssnr": segmental_snr, "spk_sim": _speaker}


def _optional(metrics, row, errors, ref, est, fs, ref_ok):
    """The optional metrics: a score, a recorded failure, or (no model) the reason in ``row["unavailable"]``."""
    for m in metrics:
        if m not in OPTIONAL or (m in INTRUSIVE and not ref_ok):
            continue
        try:
            fn = scorer(m)
        except NotAvailable as exc:
            row.setdefault("unavailable", {})[m] = str(exc)
            continue
        row[m] = _guarded(m, errors, fn, *((ref, est, fs) if m in INTRUSIVE else (est, fs)))


def score_pair(ref, est, fs=RATE, metrics=DEFAULT_METRICS, composite_mode="faithful"):
    """Score one pair of mono float signals at ``fs`` (already equal length).
    Each metric is computed under its own guard: one that fails leaves NaN and
    its reason in ``error``, and the others are still computed."""
    if composite_mode not in COMPOSITE_MODES:
        raise ValueError(f"composite mode must be one of {COMPOSITE_MODES}, got {composite_mode!r}")
    ref = np.asarray(ref, dtype=np.float64)
    est = np.asarray(est, dtype=np.float64)
    row = {m: math.nan for m in metrics}
    problem = _estimate_problem(est)
    if problem:
        return {**row, "error": problem}
    errors = []
    intrusive = [m for m in metrics if m in INTRUSIVE]
    ref_problem = _reference_problem(ref) if intrusive else ""
    if ref_problem:
        errors.append(ref_problem)
    elif intrusive:
        wanted = [k for k in ("csig", "cbak", "covl") if k in metrics]
        if wanted:  # its PESQ serves as pesq_wb too (also when it failed: same error)
            comp_errors = []
            comp = _attempt("composite", comp_errors, composite, ref, est, fs, composite_mode) or {}
            for k in wanted + (["pesq_wb"] if "pesq_wb" in metrics else []):
                row[k] = comp.get(k, math.nan)
            errors += comp_errors + ([comp["error"]] if comp.get("error") else [])
            missing = [k for k in wanted if not math.isfinite(row[k])]
            if missing and not comp_errors and not comp.get("error"):
                errors.append(f"{'/'.join(missing)}: not a finite number")
        for m in intrusive:
            if m in ("csig", "cbak", "covl") or (m == "pesq_wb" and wanted) or m in OPTIONAL:
                continue
            row[m] = _guarded(m, errors, _SINGLE[m], ref, est, fs)
    if any(m in DNSMOS_KEYS for m in metrics):
        dns = _attempt("dnsmos", errors, lambda: _dnsmos()(est, fs)) or {}
        row.update({k: float(v) for k, v in dns.items() if k in metrics})
    _optional(metrics, row, errors, ref, est, fs, bool(intrusive) and not ref_problem)
    row["error"] = "; ".join(errors)
    return row


def _score_job(job):
    uid, ref_path, est_path, metrics, mode = job
    needs_ref = any(m in INTRUSIVE for m in metrics)
    notes = []
    try:
        if est_path is None:
            raise ValueError(f"missing estimate for {uid}")
        est, n_est = read_mono(est_path)
        notes += n_est
        ref = None
        if needs_ref:
            if ref_path is None:
                raise ValueError(f"missing reference for {uid}")
            ref, n_ref = read_mono(ref_path)
            notes += n_ref
            if len(ref) != len(est):
                if abs(len(ref) - len(est)) > LENGTH_TOLERANCE:
                    raise ValueError(f"length mismatch: estimate {len(est)} vs reference {len(ref)} samples "
                                     f"(more than {LENGTH_TOLERANCE} samples, {LENGTH_TOLERANCE / RATE:g} s, apart)")
                notes.append(f"length mismatch ({len(ref)} vs {len(est)} samples) trimmed")
                n = min(len(ref), len(est))
                ref, est = ref[:n], est[:n]
    except Exception as exc:  # noqa: BLE001 - an unreadable file is that row's failure
        return {"id": uid, **{m: math.nan for m in metrics}, "error": str(exc) or type(exc).__name__,
                "notes": notes}
    row = score_pair(ref if ref is not None else est, est, RATE, metrics, mode)
    return {"id": uid, **row, "notes": notes}


def _run_jobs(jobs, workers, desc):
    """``_score_job`` over ``jobs`` (each names its own metrics) in one pool (progress bar)."""
    from tqdm import tqdm

    if workers <= 1:
        return [_score_job(j) for j in tqdm(jobs, desc=desc, unit="utt")]
    # spawn, not fork, one thread per worker (metrics/pool.py says why; measured:
    # with the libraries' default threads, 2 workers were no faster than 1).
    # The variables reach the spawned workers' numpy, numba, onnxruntime and torch
    # (torch reads OMP_NUM_THREADS when the speaker encoder first imports it).
    with single_threaded_children():
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            return list(tqdm(pool.map(_score_job, jobs, chunksize=2), total=len(jobs), desc=desc, unit="utt"))


def _jobs(triples, metrics, composite_mode):
    return [(u, r, e, tuple(metrics), composite_mode) for u, r, e in triples]


def score_files(triples, metrics=DEFAULT_METRICS, workers=2, composite_mode="faithful", desc="score"):
    """Score ``[(id, ref_path or None, est_path or None)]`` in parallel processes (progress bar)."""
    return _run_jobs(_jobs(triples, metrics, composite_mode), workers, desc)


def score_sets(sets, workers=2, composite_mode="faithful", desc="score"):
    """``[(systems, metrics)]``, each ``systems`` a ``{system: [(id, ref, est)]}``
    -> ``[{system: rows}]``: every set and system in one pool, so the workers
    (their imports and DNSMOS sessions, ~10 s on 2 cores) start once, not once
    per set and system."""
    jobs, where = [], []
    for i, (systems, metrics) in enumerate(sets):
        for name, triples in systems.items():
            jobs += _jobs(triples, metrics, composite_mode)
            where += [(i, name)] * len(triples)
    out = [{name: [] for name in systems} for systems, _ in sets]
    for (i, name), row in zip(where, _run_jobs(jobs, workers, desc)):
        out[i][name].append(row)
    return out


def score_systems(systems, metrics=DEFAULT_METRICS, workers=2, composite_mode="faithful"):
    """``{system: [(id, ref, est)]}`` -> ``{system: rows}``, all systems in one pool."""
    return score_sets([(systems, metrics)], workers, composite_mode, desc="score " + " + ".join(systems))[0]


def _audio_files(root):
    return {rel: path for path, rel in audio_files(root)}


def pair_folders(ref_dir, est_dir):
    """Match files of two folders by relative path (then by file name): [(id, ref, est)],
    with None for the missing side of an unmatched file. ``ref_dir=None`` (non-intrusive
    scoring only) gives every estimate with no reference."""
    for d in (ref_dir, est_dir):
        if d is not None and not os.path.isdir(d):
            raise ValueError(f"{d}: no such folder")
    refs, ests = (_audio_files(ref_dir) if ref_dir else {}), _audio_files(est_dir)
    by_name = {}
    for rel, path in refs.items():
        by_name.setdefault(os.path.basename(rel), []).append(path)
    triples, used = [], set()
    for rel, est in sorted(ests.items()):
        ref = refs.get(rel)
        if ref is None and len(by_name.get(os.path.basename(rel), [])) == 1:
            ref = by_name[os.path.basename(rel)][0]
        used.add(ref)
        triples.append((os.path.splitext(rel)[0], ref, est))
    triples += [(os.path.splitext(rel)[0], p, None) for rel, p in sorted(refs.items()) if p not in used]
    if not triples:
        raise ValueError(f"{est_dir}: no audio files ({', '.join(AUDIO_EXTENSIONS)})")
    return triples


def summarise(rows, metrics=DEFAULT_METRICS):
    """{metric: mean, std, ci95, n (scored), failed}."""
    out = {}
    for m in metrics:
        v = np.array([r[m] for r in rows], dtype=np.float64)
        ok = v[np.isfinite(v)]
        n = ok.size
        why = [r["unavailable"][m] for r in rows if m in r.get("unavailable", {})]
        out[m] = {"mean": float(ok.mean()) if n else math.nan,
                  "std": float(ok.std(ddof=1)) if n > 1 else math.nan,
                  "ci95": float(1.96 * ok.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan,
                  "n": int(n), "failed": int(v.size - n - len(why))}
        if why and not n:  # the metric is unavailable for this system: nothing was scored
            out[m]["unavailable"] = why[0]
    return out


def _fmt(x, digits=3):
    return "–" if not math.isfinite(x) else f"{x:.{digits}f}"


def markdown_table(summaries, metrics=DEFAULT_METRICS, baseline="noisy"):
    """``summaries``: {system: summarise(...)} -> Markdown, one row per metric:
    mean ± 95% CI and std per system, the change of the last system over
    ``baseline`` (when present), scored count and failures."""
    systems = list(summaries)
    head = "| metric | " + " | ".join(f"{s} (mean ± 95% CI) | {s} std" for s in systems)
    delta = baseline in summaries and len(systems) > 1
    head += (f" | Δ {systems[-1]} − {baseline}" if delta else "") + " | n | failed |"
    lines = [head, "|" + "---|" * (1 + 2 * len(systems) + delta + 2)]
    for m in metrics:
        cells = []
        for s in systems:
            st = summaries[s][m]
            if "unavailable" in st:
                cells += [NOT_AVAILABLE + st["unavailable"], "–"]
                continue
            cells += [f"{_fmt(st['mean'])} ± {_fmt(st['ci95'])}", _fmt(st["std"])]
        if delta:
            d = summaries[systems[-1]][m]["mean"] - summaries[baseline][m]["mean"]
            cells.append(f"{d:+.3f}" if math.isfinite(d) else "–")
        counts = [summaries[s][m] for s in systems]
        cells += ["/".join(str(c["n"] + c["failed"]) for c in counts),
                  "/".join(str(c["failed"]) for c in counts)]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def notes_summary(rows):
    """One line counting the notes (resampling, channels, trims), or ''."""
    counts = {}
    for r in rows:
        for n in r.get("notes", []):
            key = n.split(" (")[0]
            counts[key] = counts.get(key, 0) + 1
    return "; ".join(f"{k}: {v} file(s)" for k, v in sorted(counts.items()))


def parse_max_failures(text):
    """``--max-failures``: '5' -> 5 files (int); '0.1' or '10%' -> that share of the files (float)."""
    text = str(text).strip()
    try:
        if text.endswith("%") or "." in text:
            value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
            ok = 0.0 <= value <= 1.0
        else:
            value = int(text)
            ok = value >= 0
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"--max-failures {text!r}: a count >= 0 (5) or a share in [0, 1] (0.1, 10%)")
    return value


def failure_report(rows, max_failures, where):
    """(failed files, files allowed to fail, Markdown lines listing them). A
    file failed when any of its cells (or the file itself) failed, in any
    system; ``max_failures`` is a count or a share of the files."""
    failed = {}
    for system, system_rows in rows.items():
        for r in system_rows:
            if r["error"]:
                failed.setdefault(r["id"], []).append(f"{system}: {r['error']}" if len(rows) > 1 else r["error"])
    n_files = max(len(r) for r in rows.values())
    allowed = max_failures if isinstance(max_failures, int) else int(max_failures * n_files)
    if not failed:
        return 0, allowed, []
    lines = ["", f"Failures: {len(failed)} of {n_files} files ({allowed} accepted by --max-failures):", ""]
    lines += [f"- `{uid}`: {'; '.join(why)}" for uid, why in sorted(failed.items())[:50]]
    if len(failed) > 50:
        lines.append(f"- ... {len(failed) - 50} more in {where}")
    return len(failed), allowed, lines


def csv_text(rows, metrics=DEFAULT_METRICS):
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["id", *metrics, "error"], lineterminator="\n")
    w.writeheader()
    for r in rows:
        why = r.get("unavailable", {})
        w.writerow({k: (NOT_AVAILABLE + why[k] if k in why
                        else "" if isinstance(r.get(k), float) and math.isnan(r[k]) else r.get(k, ""))
                    for k in ["id", *metrics, "error"]})
    return buf.getvalue()


def write_csv(path, rows, metrics=DEFAULT_METRICS):
    from ..fileio import write_text_atomic

    write_text_atomic(path, csv_text(rows, metrics))
