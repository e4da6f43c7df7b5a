#!/usr/bin/env python
"""Recipe stage: score noisy and enhanced speech against the clean reference.

    python -m se_mamba.recipe.score --enhanced exp/X/enhanced/test/enhanced.json \\
        --out-dir exp/X/scores --results recipes/mini/RESULTS.md --title "mini / semamba"

Writes per-utterance CSVs (``noisy.csv``, ``enhanced.csv``), the means as
``summary.json`` (read by the recipes' paper tables) and the results
file: one row per metric with noisy and enhanced mean ± 95% CI, std and the
improvement (``se_mamba.metrics.report.RECIPE_METRICS``: PESQ-wb, ESTOI,
SI-SDR, SSNR, CSIG/CBAK/COVL (faithful mode), STOI, DNSMOS), with a
spectrogram figure (noisy / enhanced / clean) of one utterance and metric
histograms next to it. A test set whose manifest has no clean references
(``clean_wav`` null: real recordings, or references that are themselves
reverberant) is scored with the non-intrusive measures only (DNSMOS, and
NISQA where its weights are present), and says so;
with ``--metrics`` naming ``spk_sim`` and every item giving a
``speaker_ref_wav`` (DNS 2020: the reverberant speech, or the real
recording itself), also with speaker similarity against that.
Files that failed are listed with their reasons in the results file; the
stage exits 1 after writing everything when more failed than
``--max-failures`` allows (default 0).
"""
import argparse
import json
import os
import sys

from ..fileio import write_text_atomic
from ..metrics.figures import histograms, spectrograms
from .published import published_table
from ..metrics.report import (INTRUSIVE, RECIPE_METRICS, failure_report, markdown_table, notes_summary, parse_max_failures,
                              parse_metrics, score_systems, summarise, write_csv)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--enhanced", required=True, help="enhanced.json from the enhance stage")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--results", required=True, help="Markdown results file to write")
    p.add_argument("--title", default="results")
    p.add_argument("--metrics", default=",".join(RECIPE_METRICS))
    p.add_argument("--composite-mode", default="faithful", choices=["faithful", "paper"])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--published", default=None, metavar="RECIPE:SET/MODEL",
                   help="put the published numbers of MODEL on this test set next to ours "
                        "(se_mamba.recipe.published; nothing when none are known)")
    p.add_argument("--max-failures", default="0",
                   help="failed files accepted before the exit status is 1: a count or a share (0.1, 10%%)")
    args = p.parse_args(argv)
    try:
        max_failures = parse_max_failures(args.max_failures)
        metrics = parse_metrics(args.metrics)
        with open(args.enhanced) as f:
            items = json.load(f)
    except (OSError, ValueError) as exc:
        print(f"score: error: {args.enhanced}: {exc}", file=sys.stderr)
        return 1
    with_ref = {bool(it.get("clean_wav")) for it in items.values()}
    if len(with_ref) > 1:
        print(f"score: error: {args.enhanced}: some items have a clean reference and some do not; "
              "split the test set", file=sys.stderr)
        return 1
    has_ref = with_ref == {True}
    # without a clean reference: the non-intrusive measures, and speaker
    # similarity against the item's speaker reference when every item has one
    # (DNS 2020 with_reverb: the reverberant speech; real recordings: the input)
    speaker_ref = not has_ref and all(it.get("speaker_ref_wav") for it in items.values())
    if not has_ref:
        metrics = [m for m in metrics if m not in INTRUSIVE or (m == "spk_sim" and speaker_ref)]
        if not metrics:
            print(f"score: error: {args.enhanced}: no clean references and no non-intrusive metric asked for",
                  file=sys.stderr)
            return 1
    ref_key = "clean_wav" if has_ref else "speaker_ref_wav"
    os.makedirs(args.out_dir, exist_ok=True)
    systems = {system: [(u, it.get(ref_key), it[key]) for u, it in sorted(items.items())]
               for system, key in (("noisy", "noisy_wav"), ("enhanced", "enhanced_wav"))}
    rows = score_systems(systems, metrics, args.workers, args.composite_mode)
    for system, system_rows in rows.items():
        write_csv(os.path.join(args.out_dir, f"{system}.csv"), system_rows, metrics)
    sums = {k: summarise(v, metrics) for k, v in rows.items()}
    # the means in machine-readable form (paper tables across experiments read it); NaN -> null
    clean = {k: {m: {f: (None if isinstance(x, float) and x != x else x) for f, x in d.items()}
                 for m, d in v.items()} for k, v in sums.items()}
    write_text_atomic(os.path.join(args.out_dir, "summary.json"),
                      json.dumps({"composite_mode": args.composite_mode, "n_utterances": len(items),
                                  "systems": clean}, indent=1) + "\n")
    results_dir = os.path.dirname(os.path.abspath(args.results))
    stem = os.path.splitext(os.path.basename(args.results))[0].lower()
    spec_name, hist_name = f"{stem}_spectrogram.png", f"{stem}_histograms.png"
    first = sorted(items)[len(items) // 2]
    it = items[first]
    panels = [("noisy", it["noisy_wav"]), ("enhanced", it["enhanced_wav"])]
    panels += [("clean", it["clean_wav"])] if has_ref else []
    spectrograms(os.path.join(results_dir, spec_name), panels, f"{args.title}: {first}")
    histograms(os.path.join(results_dir, hist_name), rows, metrics)
    notes = notes_summary([r for rs in rows.values() for r in rs])
    failed, allowed, failures = failure_report(rows, max_failures, os.path.relpath(args.out_dir))
    paper = published_table(*args.published.rsplit("/", 1), sums) if args.published and has_ref else []
    text = "\n".join([
        f"# {args.title}", "",
        *([] if has_ref else [
            "No clean reference in this test set: the non-intrusive measures only"
            + ("; speaker similarity against each item's speaker reference (`speaker_ref_wav`)."
               if "spk_sim" in metrics else "."), ""]),
        f"Test set: {len(items)} utterances. Mean ± 95% CI (1.96 std / sqrt(n)) and std; SI-SDR with "
        f"means removed; PESQ wideband (`pesq` package); composite measures in {args.composite_mode} mode; "
        "DNSMOS P.835 / P.808 (non-intrusive). Failed scores are counted, never averaged.", "",
        markdown_table(sums, metrics), "",
        *paper,
        *([f"Notes: {notes}.", ""] if notes else []),
        *([*failures[1:], ""] if failures else []),
        f"Per-utterance scores: `{os.path.relpath(args.out_dir)}`; figures: `{spec_name}` "
        f"(utterance {first}), `{hist_name}`.", "",
        f"![spectrograms]({spec_name})", "", f"![histograms]({hist_name})", ""])
    write_text_atomic(args.results, text)
    print(text)
    if failed > allowed:
        print(f"score: error: {failed} of {len(items)} files failed (--max-failures allows {allowed}); "
              f"reasons in {args.results}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
