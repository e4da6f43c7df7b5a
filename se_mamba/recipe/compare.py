#!/usr/bin/env python
"""One comparison table of several systems on one or more test sets, from the
recipe stages' outputs (stage 4's per-utterance scores, stage 3's timing).

    python -m se_mamba.recipe.compare --exp-dir exp/dns2020 \\
        --sets "dns2020_no_reverb dns2020_with_reverb dns2020_real" \\
        --systems "SBM, 1 step=sbm" "SB-NCSN++, 50 ODE steps=sb_ncsnpp" \\
                  "SB-NCSN++, 1 ODE step=sb_ncsnpp:_default1" "Mamba-base=mamba_base" \\
        --out exp/dns2020/COMPARISON.md

A system is ``LABEL=MODEL[:SUFFIX]``: its scores on set S are in
``EXP/MODEL/scores/S<SUFFIX>/enhanced.csv`` and its timing in
``EXP/MODEL/enhanced/S<SUFFIX>/timing.json`` (the recipe stages' layout; the
suffix is what ``--sb_steps``/``--sampler`` add, e.g. ``_default1``,
``_sde10``). Per set: the noisy input and every system, mean ± 95% CI of
each metric the set was scored with (a set without clean references has
DNSMOS only), the parameter count and the real-time factor measured when the
set was enhanced; then the paired per-utterance differences between the
first system and each other one (mean ± 95% CI over the utterances both
scored).
"""
import argparse
import csv
import json
import math
import os
import sys

import numpy as np

from ..fileio import write_text_atomic
from ..metrics.optional import NOT_AVAILABLE
from ..metrics.report import summarise

METRICS = ("pesq_wb", "estoi", "si_sdr", "spk_sim", "speechbertscore", "dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl",
           "dnsmos_p808", "nisqa_mos")


def read_rows(path):
    """Per-utterance rows of a stage-4 CSV; absent or empty cells are NaN, and
    a "not available: <reason>" cell (a metric without its model) is NaN with
    the reason under ``unavailable``."""
    rows = []
    with open(path) as f:
        for r in csv.DictReader(f):
            row, why = {"id": r["id"]}, {}
            for m in METRICS:
                cell = r.get(m) or ""
                if cell.startswith(NOT_AVAILABLE):
                    why[m] = cell[len(NOT_AVAILABLE):]
                row[m] = float(cell) if cell and m not in why else math.nan
            rows.append({**row, "unavailable": why} if why else row)
    return rows


def paired(rows_a, rows_b, metric):
    """Mean and 95% CI of the per-utterance difference a - b over the
    utterances both scored (NaN, NaN below two)."""
    b = {r["id"]: r[metric] for r in rows_b}
    d = np.array([r[metric] - b[r["id"]] for r in rows_a if r["id"] in b], dtype=np.float64)
    d = d[np.isfinite(d)]
    if d.size < 2:
        return math.nan, math.nan
    return float(d.mean()), float(1.96 * d.std(ddof=1) / np.sqrt(d.size))


def parse_system(spec):
    """``LABEL=MODEL[:SUFFIX]`` -> (label, model, suffix); the label may hold "=".

    >>> parse_system("SBM, 1 step from t = 0.5=sbm:_t0.5")
    ('SBM, 1 step from t = 0.5', 'sbm', '_t0.5')
    """
    label, sep, where = spec.rpartition("=")
    if not sep or not label or not where:
        raise ValueError(f"{spec!r}: expected LABEL=MODEL[:SUFFIX]")
    model, _, suffix = where.partition(":")
    return label, model, suffix


def n_params(exp):
    from .enhance import load_experiment

    model, _ = load_experiment(exp)
    return sum(p.numel() for p in model.parameters())


def _cell(mean, ci, signed=False, unavailable=None):
    if unavailable is not None:
        return NOT_AVAILABLE + unavailable
    if not math.isfinite(mean):
        return "–"
    return (f"{mean:+.3f}" if signed else f"{mean:.3f}") + (f" ± {ci:.3f}" if math.isfinite(ci) else "")


def set_table(exp_dir, test_set, systems, params):
    """The Markdown section of one test set."""
    rows, rtf = {}, {}
    for label, model, suffix in systems:
        tag = f"{test_set}{suffix}"
        scores = os.path.join(exp_dir, model, "scores", tag, "enhanced.csv")
        if not os.path.isfile(scores):
            raise ValueError(f"{scores}: no such file (run stages 3-4 of {model} on {test_set} first)")
        if not rows:
            rows["noisy"] = read_rows(os.path.join(os.path.dirname(scores), "noisy.csv"))
        rows[label] = read_rows(scores)
        timing = os.path.join(exp_dir, model, "enhanced", tag, "timing.json")
        if os.path.isfile(timing):
            with open(timing) as f:
                t = json.load(f)
            rtf[label] = f"{t['rtf']:.3f} ({t['device']}, {t['threads']} threads)"
        else:
            rtf[label] = "not recorded"
    summaries = {label: summarise(r, METRICS) for label, r in rows.items()}
    metrics = [m for m in METRICS if any(s[m]["n"] or "unavailable" in s[m] for s in summaries.values())]
    n = max(s[m]["n"] for s in summaries.values() for m in metrics) if metrics else 0
    lines = [f"## {test_set} ({n} utterances)", "",
             "| system | params | RTF | " + " | ".join(metrics) + " |", "|---|---|---|" + "---|" * len(metrics)]
    for label, s in summaries.items():
        count = f"{params[label]:,}" if label in params else "–"
        cells = [_cell(s[m]["mean"], s[m]["ci95"], unavailable=s[m].get("unavailable")) for m in metrics]
        lines.append(f"| {label} | {count} | {rtf.get(label, '–')} | " + " | ".join(cells) + " |")
    labels = [label for label, _, _ in systems]
    if len(labels) > 1:
        first = labels[0]
        lines += ["", f"Paired per-utterance differences, {first} minus each system (mean ± 95% CI; an interval "
                  "containing 0 is no evidence either way):", "",
                  "| versus | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
        for label in labels[1:]:
            cells = [_cell(*paired(rows[first], rows[label], m), signed=True,
                           unavailable=summaries[label][m].get("unavailable")) for m in metrics]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def compare(exp_dir, sets, systems, param_counts=True):
    systems = [parse_system(s) if isinstance(s, str) else s for s in systems]
    params = {}
    if param_counts:
        for label, model, _ in systems:
            params[label] = n_params(os.path.join(exp_dir, model))
    head = ("Mean ± 95% CI per metric; PESQ wideband; SI-SDR in dB; DNSMOS P.835 (SIG/BAK/OVRL) and P.808; "
            "speaker similarity: cosine of speaker embeddings against the clean reference (without one: "
            "against the item's speaker reference, see the set's RESULTS file); SpeechBERTScore (WavLM Large "
            "layer 14, precision) and NISQA MOS where their models are present (docs/scoring.md); RTF: enhancement "
            "seconds / audio seconds, measured when the set was enhanced. Higher is better everywhere "
            "but RTF.")
    return head + "\n\n" + "\n\n".join(set_table(exp_dir, s, systems, params) for s in sets) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp-dir", required=True)
    p.add_argument("--sets", required=True, help="test sets, space-separated")
    p.add_argument("--systems", nargs="+", required=True, metavar="LABEL=MODEL[:SUFFIX]")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    try:
        text = compare(args.exp_dir, args.sets.split(), args.systems)
    except (OSError, ValueError) as exc:
        print(f"compare: error: {exc}", file=sys.stderr)
        return 1
    write_text_atomic(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
