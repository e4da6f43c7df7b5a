#!/usr/bin/env python
"""MambAttention's Table I from whatever experiments exist: models (rows) x
{VB-DemandEx, DNS 2020 no_reverb, EARS-WHAM_v2} x {PESQ, SSNR, ESTOI, SI-SDR},
with the noisy input and the paper's published rows, then DNSMOS OVRL on the
sets scored without a reference (DNS 2020 with_reverb and real recordings).

    python recipes/vb_demandex/local/paper_table.py --exp_dir exp/vb_demandex --out exp/vb_demandex/TABLE_I.md

Reads ``<exp_dir>/<model>/scores/<set>/summary.json`` (stage 4). A cell whose
experiment or test set has not been scored is "–" and listed under the table,
never left out silently.
"""
import argparse
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", ".."))

from se_mamba.fileio import write_text_atomic  # noqa: E402
from se_mamba.recipe.published import PUBLISHED  # noqa: E402

SETS = (("test", "VB-DemandEx"), ("dns2020_no_reverb", "DNS 2020 (no reverb)"), ("ears_wham_v2", "EARS-WHAM_v2"))
METRICS = (("pesq_wb", "PESQ"), ("ssnr", "SSNR"), ("estoi", "ESTOI"), ("si_sdr", "SI-SDR"))
DNSMOS_SETS = (("dns2020_with_reverb", "DNS 2020 with reverb"), ("dns2020_real", "DNS 2020 real recordings"))
# Table I's row order: the paper's model, its ablations (Table III), then the baselines
ORDER = ("mambattention", "mambattention_attn_after", "mambattention_no_sharing", "mambattention_freq_first",
         "semamba_advanced", "mpsenet", "lstm_attention", "lstm_senet")
NAMES = {"mambattention": "MambAttention", "mambattention_attn_after": "MambAttention, attention after Mamba",
         "mambattention_no_sharing": "MambAttention, no weight sharing",
         "mambattention_freq_first": "MambAttention, frequency before time",
         "semamba_advanced": "Mamba (SEMamba; = no MHA)", "mpsenet": "Conformer (MP-SENet)",
         "lstm_attention": "LSTM-Attention", "lstm_senet": "LSTM"}


def load(exp_dir):
    """{model: {set: summary}} of every scored experiment."""
    out = {}
    for model in sorted(os.listdir(exp_dir)) if os.path.isdir(exp_dir) else []:
        scores = os.path.join(exp_dir, model, "scores")
        if not os.path.isdir(scores):
            continue
        for s in sorted(os.listdir(scores)):
            path = os.path.join(scores, s, "summary.json")
            if os.path.isfile(path):
                with open(path) as f:
                    out.setdefault(model, {})[s] = json.load(f)
    return out


def _cell(summary, system, metric):
    try:
        v = summary["systems"][system][metric]["mean"]
    except (KeyError, TypeError):
        return None
    return None if v is None or not math.isfinite(v) else v


def _fmt(v):
    return "–" if v is None else f"{v:.2f}"


def table(results):
    models = [m for m in ORDER if m in results] + sorted(m for m in results if m not in ORDER)
    head = "| system | " + " | ".join(f"{name} {label}" for _, name in SETS for _, label in METRICS) + " |"
    lines = [head, "|---" * (1 + len(SETS) * len(METRICS)) + "|"]
    missing = []

    def row(label, get):
        cells = [get(s, m) for s, _ in SETS for m, _ in METRICS]
        lines.append(f"| {label} | " + " | ".join(_fmt(c) for c in cells) + " |")
        return cells

    # noisy input: from any experiment that scored the set (the noisy files are the same)
    def noisy(s, m):
        for model in models:
            v = _cell(results[model].get(s), "noisy", m)
            if v is not None:
                return v
        return None

    row("Noisy (ours)", noisy)
    row("Noisy (published)", lambda s, m: PUBLISHED.get(f"vb_demandex:{s}", {}).get("noisy", (None, {}))[1].get(m))
    row("MambAttention (published)",
        lambda s, m: PUBLISHED.get(f"vb_demandex:{s}", {}).get("mambattention", (None, {}))[1].get(m))
    for model in models:
        cells = row(f"{NAMES.get(model, model)} (ours)", lambda s, m: _cell(results[model].get(s), "enhanced", m))
        absent = [name for (s, name) in SETS if s not in results[model]]
        if absent:
            missing.append(f"{model}: not scored on {', '.join(absent)}")
        elif any(c is None for c in cells):
            missing.append(f"{model}: some metrics failed on every utterance (see its RESULTS_<set>.md)")
    if not models:
        missing.append("no experiment has been scored yet (stage 4)")
    return lines, missing


def dnsmos_table(results):
    models = [m for m in ORDER if m in results] + sorted(m for m in results if m not in ORDER)
    lines = ["| system | " + " | ".join(name for _, name in DNSMOS_SETS) + " |", "|---|---|---|"]
    have = [m for m in models if any(s in results[m] for s, _ in DNSMOS_SETS)]
    if have:
        base = next(results[m] for m in have)
        lines.append("| Noisy | " + " | ".join(_fmt(_cell(base.get(s), "noisy", "dnsmos_ovrl"))
                                               for s, _ in DNSMOS_SETS) + " |")
    for m in have:
        lines.append(f"| {NAMES.get(m, m)} | " + " | ".join(_fmt(_cell(results[m].get(s), "enhanced", "dnsmos_ovrl"))
                                                       for s, _ in DNSMOS_SETS) + " |")
    return lines if have else []


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--exp_dir", required=True)
    p.add_argument("--out", required=True, help="Markdown file to write")
    args = p.parse_args(argv)
    results = load(args.exp_dir)
    lines, missing = table(results)
    text = ["# VB-DemandEx recipe: MambAttention Table I layout", "",
            "Trained on VB-DemandEx; PESQ (wideband), SSNR (dB), ESTOI, SI-SDR (dB), means over each test set "
            "(EARS-WHAM_v2 in 10 s chunks). Published: Kühne et al., MambAttention, Table I.", "", *lines, ""]
    if missing:
        text += ["Missing cells (–): " + "; ".join(missing) + ".", ""]
    dns = dnsmos_table(results)
    if dns:
        text += ["DNSMOS OVRL (P.835) where the reference is reverberant or absent:", "", *dns, ""]
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_text_atomic(args.out, "\n".join(text))
    print("\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
