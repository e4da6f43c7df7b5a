#!/usr/bin/env python
"""Recipe stage: score noisy and enhanced speech against the clean reference.

    python -m se_mamba.recipe.score --enhanced exp/X/enhanced/test/enhanced.json \\
        --out-dir exp/X/scores --results recipes/mini/RESULTS.md --title "mini / semamba"

Writes per-utterance CSVs (``noisy.csv``, ``enhanced.csv``), a results file
(Markdown: mean ± 95% CI of PESQ-wb, STOI, ESTOI, SI-SDR (mean removed) for
noisy and enhanced, and the improvement), and a spectrogram figure
(noisy / enhanced / clean) of one utterance.
"""
import argparse
import json
import os
import sys

import numpy as np

from ..fileio import write_text_atomic
from ..metrics.report import DEFAULT_METRICS, markdown_table, score_files, summarise, write_csv


def spectrogram_figure(path, noisy, enhanced, clean, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import soundfile as sf

    cmap = matplotlib.colormaps["magma"].copy()
    cmap.set_bad(cmap(0.0))  # digital silence (-inf dB) drawn as the floor, not blank
    cmap.set_under(cmap(0.0))
    fig, axes = plt.subplots(3, 1, figsize=(8, 7), sharex=True)
    for ax, (name, p) in zip(axes, [("noisy", noisy), ("enhanced", enhanced), ("clean", clean)]):
        x, fs = sf.read(p)
        with np.errstate(divide="ignore"):  # log of exact zeros: -inf, shown as the floor
            ax.specgram(x, NFFT=400, Fs=fs, noverlap=300, cmap=cmap, vmin=-130)
        ax.set_ylabel("Hz")
        ax.set_title(name)
    axes[-1].set_xlabel("s")
    fig.suptitle(title)
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--enhanced", required=True, help="enhanced.json from the enhance stage")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--results", required=True, help="Markdown results file to write")
    p.add_argument("--title", default="results")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)
    try:
        with open(args.enhanced) as f:
            items = json.load(f)
    except (OSError, ValueError) as exc:
        print(f"score: error: {args.enhanced}: {exc}", file=sys.stderr)
        return 1
    os.makedirs(args.out_dir, exist_ok=True)
    rows = {}
    for system, key in (("noisy", "noisy_wav"), ("enhanced", "enhanced_wav")):
        rows[system] = score_files([(u, it["clean_wav"], it[key]) for u, it in items.items()],
                                   workers=args.workers)
        write_csv(os.path.join(args.out_dir, f"{system}.csv"), rows[system])
    sums = {k: summarise(v) for k, v in rows.items()}
    delta = " | ".join(f"{sums['enhanced'][m]['mean'] - sums['noisy'][m]['mean']:+.3f}" for m in DEFAULT_METRICS)
    fig_name = os.path.splitext(os.path.basename(args.results))[0].lower() + "_spectrogram.png"
    fig_path = os.path.join(os.path.dirname(os.path.abspath(args.results)), fig_name)
    first = sorted(items)[len(items) // 2]
    it = items[first]
    spectrogram_figure(fig_path, it["noisy_wav"], it["enhanced_wav"], it["clean_wav"], f"{args.title}: {first}")
    text = "\n".join([
        f"# {args.title}", "",
        f"Test set: {len(items)} utterances. Mean ± 95% CI; SI-SDR with means removed; "
        "PESQ wideband (pesq package), STOI/ESTOI (pystoi).", "",
        markdown_table(sums), f"| improvement | {delta} | | |", "",
        f"Per-utterance scores: `{os.path.relpath(args.out_dir)}`; figure: `{fig_name}` "
        f"(utterance {first}).", "",
        f"![spectrograms]({fig_name})", ""])
    write_text_atomic(args.results, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
