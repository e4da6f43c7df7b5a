"""Per-utterance scoring of (reference, estimate) pairs and summary tables.

Rows are dicts with ``id`` and one value per metric (NaN when a metric
failed, with the reason in ``error``); summaries give mean, std, 95%
confidence interval (normal approximation, 1.96 * std / sqrt(n)) and the
count of failures, so no failure is hidden in an average.
"""
import csv
import math
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from .intrusive import pesq_score, si_sdr, stoi_score

DEFAULT_METRICS = ("pesq_wb", "stoi", "estoi", "si_sdr")


def score_pair(ref, est, fs=16000, metrics=DEFAULT_METRICS):
    row, errors = {}, []
    for m in metrics:
        if m == "pesq_wb":
            row[m], err = pesq_score(ref, est, fs, "wb")
        elif m == "pesq_nb":
            row[m], err = pesq_score(ref, est, fs, "nb")
        elif m == "stoi":
            row[m], err = stoi_score(ref, est, fs), ""
        elif m == "estoi":
            row[m], err = stoi_score(ref, est, fs, extended=True), ""
        elif m == "si_sdr":
            row[m], err = si_sdr(ref, est), ""
        else:
            raise ValueError(f"unknown metric {m!r}; known: pesq_wb, pesq_nb, stoi, estoi, si_sdr")
        if err:
            errors.append(err)
    row["error"] = "; ".join(errors)
    return row


def _score_files(args):
    uid, ref_path, est_path, metrics = args
    import soundfile as sf

    try:
        ref, fs = sf.read(ref_path, dtype="float64")
        est, fs2 = sf.read(est_path, dtype="float64")
    except Exception as exc:
        return {"id": uid, **{m: math.nan for m in metrics}, "error": f"unreadable: {exc}"}
    n = min(len(ref), len(est))
    row = score_pair(ref[:n], est[:n], fs, metrics)
    return {"id": uid, **row}


def score_files(triples, metrics=DEFAULT_METRICS, workers=2):
    """Score ``[(id, ref_path, est_path)]`` in parallel processes."""
    from tqdm import tqdm

    jobs = [(u, r, e, tuple(metrics)) for u, r, e in triples]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(tqdm(pool.map(_score_files, jobs, chunksize=4), total=len(jobs), desc="score",
                         unit="utt"))


def summarise(rows, metrics=DEFAULT_METRICS):
    out = {}
    for m in metrics:
        v = np.array([r[m] for r in rows], dtype=np.float64)
        ok = v[np.isfinite(v)]
        n = ok.size
        out[m] = {"mean": float(ok.mean()) if n else math.nan,
                  "std": float(ok.std(ddof=1)) if n > 1 else math.nan,
                  "ci95": float(1.96 * ok.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan,
                  "n": int(n), "failed": int(v.size - n)}
    return out


def markdown_table(summaries, metrics=DEFAULT_METRICS):
    """``summaries``: {row name: summarise(...)} -> Markdown (mean ± 95% CI)."""
    head = "| system | " + " | ".join(metrics) + " | n | failed |"
    lines = [head, "|" + "---|" * (len(metrics) + 3)]
    for name, s in summaries.items():
        cells = [f"{s[m]['mean']:.3f} ± {s[m]['ci95']:.3f}" for m in metrics]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {s[metrics[0]]['n'] + s[metrics[0]]['failed']} "
                     f"| {max(s[m]['failed'] for m in metrics)} |")
    return "\n".join(lines)


def write_csv(path, rows, metrics=DEFAULT_METRICS):
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["id", *metrics, "error"])
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in ["id", *metrics, "error"]})
    os.replace(tmp, path)
