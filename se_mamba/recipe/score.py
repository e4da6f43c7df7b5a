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
``--max-failures`` allows (default 0) in any set.

Several test sets in one call (``--enhanced``, ``--out-dir`` and
``--results`` once per set, in order; ``--title`` and ``--published`` once,
or once per set) are scored in one pool of worker processes, whose start
(imports, DNSMOS sessions: ~10 s on 2 cores) is then paid once; each set
still gets its own files. Every set's manifest is checked before any is scored.
"""
import argparse
import json
import os
import sys

from ..fileio import write_text_atomic
from ..metrics.figures import histograms, spectrograms
from .published import published_table
from ..metrics.report import (INTRUSIVE, RECIPE_METRICS, failure_report, markdown_table, notes_summary, parse_max_failures,
                              parse_metrics, score_sets, summarise, write_csv)


def prepare_set(enhanced, metrics):
    """(items, metrics, systems, has_ref) of one test set's ``enhanced.json``:
    the metrics it can be scored with and its noisy/enhanced triples. A set
    that cannot be scored raises ValueError with a one-line reason naming the file."""
    try:
        with open(enhanced) as f:
            items = json.load(f)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{enhanced}: {exc}") from exc
    with_ref = {bool(it.get("clean_wav")) for it in items.values()}
    if len(with_ref) > 1:
        raise ValueError(f"{enhanced}: some items have a clean reference and some do not; split the test set")
    has_ref = with_ref == {True}
    # without a clean reference: the non-intrusive measures, and speaker
    # similarity against the item's speaker reference when every item has one
    # (DNS 2020 with_reverb: the reverberant speech; real recordings: the input)
    speaker_ref = not has_ref and all(it.get("speaker_ref_wav") for it in items.values())
    if not has_ref:
        metrics = [m for m in metrics if m not in INTRUSIVE or (m == "spk_sim" and speaker_ref)]
        if not metrics:
            raise ValueError(f"{enhanced}: no clean references and no non-intrusive metric asked for")
    ref_key = "clean_wav" if has_ref else "speaker_ref_wav"
    systems = {system: [(u, it.get(ref_key), it[key]) for u, it in sorted(items.items())]
               for system, key in (("noisy", "noisy_wav"), ("enhanced", "enhanced_wav"))}
    return items, metrics, systems, has_ref


def report_set(items, metrics, rows, has_ref, out_dir, results, title, published, composite_mode, max_failures):
    """Write one set's CSVs, summary.json, figures and results file; True when
    more files failed than ``max_failures`` allows."""
    os.makedirs(out_dir, exist_ok=True)
    for system, system_rows in rows.items():
        write_csv(os.path.join(out_dir, f"{system}.csv"), system_rows, metrics)
    sums = {k: summarise(v, metrics) for k, v in rows.items()}
    # the means in machine-readable form (paper tables across experiments read it); NaN -> null
    clean = {k: {m: {f: (None if isinstance(x, float) and x != x else x) for f, x in d.items()}
                 for m, d in v.items()} for k, v in sums.items()}
    write_text_atomic(os.path.join(out_dir, "summary.json"),
                      json.dumps({"composite_mode": composite_mode, "n_utterances": len(items),
                                  "systems": clean}, indent=1) + "\n")
    results_dir = os.path.dirname(os.path.abspath(results))
    stem = os.path.splitext(os.path.basename(results))[0].lower()
    spec_name, hist_name = f"{stem}_spectrogram.png", f"{stem}_histograms.png"
    first = sorted(items)[len(items) // 2]
    it = items[first]
    panels = [("noisy", it["noisy_wav"]), ("enhanced", it["enhanced_wav"])]
    panels += [("clean", it["clean_wav"])] if has_ref else []
    spectrograms(os.path.join(results_dir, spec_name), panels, f"{title}: {first}")
    histograms(os.path.join(results_dir, hist_name), rows, metrics)
    notes = notes_summary([r for rs in rows.values() for r in rs])
    failed, allowed, failures = failure_report(rows, max_failures, os.path.relpath(out_dir))
    paper = published_table(*published.rsplit("/", 1), sums) if published and has_ref else []
    text = "\n".join([
        f"# {title}", "",
        *([] if has_ref else [
            "No clean reference in this test set: the non-intrusive measures only"
            + ("; speaker similarity against each item's speaker reference (`speaker_ref_wav`)."
               if "spk_sim" in metrics else "."), ""]),
        f"Test set: {len(items)} utterances. Mean ± 95% CI (1.96 std / sqrt(n)) and std; SI-SDR with "
        f"means removed; PESQ wideband (`pesq` package); composite measures in {composite_mode} mode; "
        "DNSMOS P.835 / P.808 (non-intrusive). Failed scores are counted, never averaged.", "",
        markdown_table(sums, metrics), "",
        *paper,
        *([f"Notes: {notes}.", ""] if notes else []),
        *([*failures[1:], ""] if failures else []),
        f"Per-utterance scores: `{os.path.relpath(out_dir)}`; figures: `{spec_name}` "
        f"(utterance {first}), `{hist_name}`.", "",
        f"![spectrograms]({spec_name})", "", f"![histograms]({hist_name})", ""])
    write_text_atomic(results, text)
    print(text)
    if failed > allowed:
        print(f"score: error: {failed} of {len(items)} files failed (--max-failures allows {allowed}); "
              f"reasons in {results}", file=sys.stderr)
        return True
    return False


def _per_set(p, name, values, n):
    """One value for every set, or one per set."""
    if values is None or len(values) == n:
        return values or [None] * n
    if len(values) == 1:
        return values * n
    p.error(f"{n} test sets but {len(values)} {name} values: give one, or one per --enhanced file")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--enhanced", required=True, nargs="+", help="enhanced.json from the enhance stage, one per set")
    p.add_argument("--out-dir", required=True, nargs="+", help="per-utterance scores folder, one per set")
    p.add_argument("--results", required=True, nargs="+", help="Markdown results file to write, one per set")
    p.add_argument("--title", nargs="+", default=["results"], help="one, or one per set")
    p.add_argument("--metrics", default=",".join(RECIPE_METRICS))
    p.add_argument("--composite-mode", default="faithful", choices=["faithful", "paper"])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--published", default=None, nargs="+", metavar="RECIPE:SET/MODEL",
                   help="put the published numbers of MODEL on this test set next to ours, one per set "
                        "(se_mamba.recipe.published; nothing when none are known)")
    p.add_argument("--max-failures", default="0",
                   help="failed files accepted per set before the exit status is 1: a count or a share (0.1, 10%%)")
    args = p.parse_args(argv)
    n = len(args.enhanced)
    if len(args.out_dir) != n or len(args.results) != n:
        p.error(f"{n} --enhanced files but {len(args.out_dir)} --out-dir and {len(args.results)} --results: "
                "give one of each per set")
    titles, published = _per_set(p, "--title", args.title, n), _per_set(p, "--published", args.published, n)
    try:  # every set is checked before any is scored
        max_failures = parse_max_failures(args.max_failures)
        metrics = parse_metrics(args.metrics)
        sets = [prepare_set(e, metrics) for e in args.enhanced]
    except ValueError as exc:
        print(f"score: error: {exc}", file=sys.stderr)
        return 1
    rows = score_sets([(systems, m) for _, m, systems, _ in sets], args.workers, args.composite_mode,
                      desc="score noisy + enhanced")
    failed = False
    for (items, m, _, has_ref), r, out_dir, res, title, pub in zip(sets, rows, args.out_dir, args.results, titles,
                                                                   published):
        failed |= report_set(items, m, r, has_ref, out_dir, res, title, pub, args.composite_mode, max_failures)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
