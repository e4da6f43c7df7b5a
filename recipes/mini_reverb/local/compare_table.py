#!/usr/bin/env python
"""One table of the systems of the mini_reverb comparison (stage 4's per-utterance scores).

    python recipes/mini_reverb/local/compare_table.py --exp-dir exp/mini_reverb \\
        --systems "SBM 1 step=sbm/test" "SB-NCSN++ 10 steps=sb_ncsnpp/test" ... \\
        --out recipes/mini_reverb/RESULTS.md

Each system is ``LABEL=MODEL/TEST_TAG`` (scores in ``EXP_DIR/MODEL/scores/TEST_TAG/enhanced.csv``);
the noisy row comes from the first system's ``noisy.csv``. Mean ± 95% CI per metric,
the parameter count of each model (from its packed or training hyperparameters).
"""
import argparse
import csv
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))

from se_mamba.fileio import write_text_atomic  # noqa: E402
from se_mamba.metrics.report import summarise  # noqa: E402

METRICS = ("pesq_wb", "estoi", "si_sdr", "dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl")


def read_rows(path):
    with open(path) as f:
        return [{"id": r["id"], **{m: float(r[m]) if r.get(m) not in (None, "") else float("nan")
                                   for m in METRICS}} for r in csv.DictReader(f)]


def paired(rows_a, rows_b, metric):
    """Mean and 95% CI of the per-utterance difference a - b (utterances scored in both)."""
    b = {r["id"]: r[metric] for r in rows_b}
    d = np.array([r[metric] - b[r["id"]] for r in rows_a if r["id"] in b], dtype=np.float64)
    d = d[np.isfinite(d)]
    if d.size < 2:
        return float("nan"), float("nan")
    return float(d.mean()), float(1.96 * d.std(ddof=1) / np.sqrt(d.size))


def n_params(exp):
    from se_mamba.recipe.enhance import load_experiment
    model, _ = load_experiment(exp)
    return sum(p.numel() for p in model.parameters())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp-dir", required=True)
    p.add_argument("--systems", nargs="+", required=True, metavar="LABEL=MODEL/TAG")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    table, params, rows = {}, {}, {}
    for spec in args.systems:
        label, _, where = spec.partition("=")
        model, _, tag = where.partition("/")
        scores = os.path.join(args.exp_dir, model, "scores", tag)
        if not os.path.isfile(os.path.join(scores, "enhanced.csv")):
            p.error(f"{scores}/enhanced.csv: no such file (run stage 4 for {model} first)")
        if not table:
            rows["noisy"] = read_rows(os.path.join(scores, "noisy.csv"))
            table["noisy"] = summarise(rows["noisy"], METRICS)
        rows[label] = read_rows(os.path.join(scores, "enhanced.csv"))
        table[label] = summarise(rows[label], METRICS)
        params[label] = params.get(label) or n_params(os.path.join(args.exp_dir, model))
    lines = ["| system | params | " + " | ".join(METRICS) + " |",
             "|---|---|" + "---|" * len(METRICS)]
    for label, st in table.items():
        cells = [f"{st[m]['mean']:.3f} ± {st[m]['ci95']:.3f}" if np.isfinite(st[m]["mean"]) else "–"
                 for m in METRICS]
        count = f"{params[label]:,}" if label in params else "–"
        lines.append(f"| {label} | {count} | " + " | ".join(cells) + " |")
    n = table["noisy"][METRICS[0]]["n"]
    first = list(rows)[1]
    diff = [f"Paired per-utterance differences, {first} minus each system (mean ± 95% CI; "
            "positive = the first system is better; an interval containing 0 is no evidence either way):", "",
            "| versus | " + " | ".join(METRICS) + " |", "|---|" + "---|" * len(METRICS)]
    for label in list(rows)[2:]:
        cells = ["{:+.3f} ± {:.3f}".format(*paired(rows[first], rows[label], m)) for m in METRICS]
        diff.append(f"| {label} | " + " | ".join(cells) + " |")
    text = (f"Test set: {n} utterances (mean ± 95% CI); SI-SDR in dB with means removed; "
            "PESQ wideband; DNSMOS P.835.\n\n" + "\n".join(lines) + "\n\n" + "\n".join(diff) + "\n")
    write_text_atomic(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
