"""``se-mamba score``: score enhanced speech against references (folders or a manifest).

    se-mamba score --ref clean/ --est enhanced/ [--noisy noisy/] --csv scores.csv --summary scores.md \\
        [--composite-mode faithful|paper] [--metrics pesq_wb,estoi,...|all] [--figures DIR]
    se-mamba score --manifest exp/X/enhanced/test/enhanced.json --csv ... --summary ...

Folders are matched by relative path (then file name). Unmatched files,
unreadable audio, silent references, NaN or all-zero estimates, too-short
files, lengths more than 32 ms apart and every metric that cannot be computed
become failed cells with their reason, counted in the summary; the CSVs and
the summary are written first, then the command exits 1 when more files failed
than ``--max-failures`` allows (default 0: any failure), 0 otherwise.
"""
import argparse
import json
import os
import sys

from ..fileio import check_output_folder, write_text_atomic


def add_parser(sub):
    p = sub.add_parser("score", help="score enhanced speech (PESQ, STOI, SI-SDR, composite, DNSMOS)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--est", help="folder of enhanced files")
    src.add_argument("--manifest", help="JSON {id: {clean_wav, enhanced_wav[, noisy_wav]}}")
    p.add_argument("--ref", help="folder of clean references (with --est)")
    p.add_argument("--noisy", help="folder of noisy inputs: adds the noisy-baseline row (with --est)")
    p.add_argument("--csv", required=True, help="per-utterance CSV to write (noisy rows: <name>.noisy.csv)")
    p.add_argument("--summary", required=True, help="Markdown summary to write")
    p.add_argument("--composite-mode", default="faithful", choices=["faithful", "paper"])
    p.add_argument("--metrics", default="pesq_wb,pesq_nb,stoi,estoi,si_sdr,ssnr,csig,cbak,covl",
                   help="comma-separated list or 'all' (adds spk_sim, DNSMOS, speechbertscore, nisqa_mos)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--figures", default=None, help="folder for histograms (and one spectrogram)")
    p.add_argument("--title", default="Scores")
    p.add_argument("--max-failures", default="0", type=_max_failures_arg,
                   help="failed files accepted before the exit status is 1: a count (5) or a share "
                        "of the files (0.1 or 10%%); default 0")
    p.set_defaults(func=run)
    return p


def _max_failures_arg(text):
    from ..metrics.report import parse_max_failures

    try:
        return parse_max_failures(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _check_writable(paths):
    """Check the output files' folders before any scoring (one-line errors) and
    create them: score writes what it computed even when a later step fails."""
    for path in paths:
        if os.path.isdir(path):
            raise ValueError(f"{path}: is a folder, not a file name")
        folder = os.path.dirname(os.path.abspath(path))
        check_output_folder(folder)
        os.makedirs(folder, exist_ok=True)


def _systems(args):
    from ..metrics.report import INTRUSIVE, pair_folders

    if args.manifest:
        with open(args.manifest) as f:
            try:
                items = json.load(f)
            except ValueError as exc:
                raise ValueError(f"{args.manifest}: not valid JSON ({exc})") from None
        out = {}
        if all("noisy_wav" in it for it in items.values()):
            out["noisy"] = [(u, it.get("clean_wav"), it["noisy_wav"]) for u, it in sorted(items.items())]
        out["enhanced"] = [(u, it.get("clean_wav"), it.get("enhanced_wav")) for u, it in sorted(items.items())]
        return out
    if args.ref is None and any(m in INTRUSIVE for m in args.metric_list):
        raise ValueError("--ref is required for intrusive metrics (or use --metrics dnsmos_...)")
    out = {"noisy": pair_folders(args.ref, args.noisy)} if args.noisy else {}
    out["enhanced"] = pair_folders(args.ref, args.est)
    return out


def run(args):
    from ..metrics.report import (failure_report, markdown_table, notes_summary, parse_metrics, score_systems,
                                  summarise, write_csv)

    args.metric_list = parse_metrics(args.metrics)
    systems = _systems(args)
    inputs = {os.path.abspath(p) for triples in systems.values() for t in triples for p in t[1:] if p}
    for out in (args.csv, args.summary):
        if os.path.abspath(out) in inputs:
            raise ValueError(f"{out}: refusing to write over an input file")
    _check_writable([args.csv, args.summary])
    rows = score_systems(systems, args.metric_list, args.workers, args.composite_mode)
    root, _ = os.path.splitext(args.csv)
    write_csv(args.csv, rows["enhanced"], args.metric_list)
    if "noisy" in rows:
        write_csv(root + ".noisy.csv", rows["noisy"], args.metric_list)
    sums = {s: summarise(r, args.metric_list) for s, r in rows.items()}
    text = [f"# {args.title}", "",
            f"{len(rows['enhanced'])} utterances; composite measures in {args.composite_mode} mode; "
            "SI-SDR with means removed; PESQ from the `pesq` package; failures are not averaged.", "",
            markdown_table(sums, args.metric_list)]
    notes = notes_summary([r for rs in rows.values() for r in rs])
    if notes:
        text += ["", f"Notes: {notes}."]
    failed, allowed, listing = failure_report(rows, args.max_failures, args.csv)
    text += listing
    if args.figures:
        from ..metrics.figures import histograms, spectrograms

        os.makedirs(args.figures, exist_ok=True)
        rel = os.path.relpath(args.figures, os.path.dirname(os.path.abspath(args.summary)))
        histograms(os.path.join(args.figures, "histograms.png"), rows, args.metric_list)
        text += ["", f"![histograms]({rel}/histograms.png)"]
        # spectrograms of the middle utterance that scored, all systems plus the reference
        ok = [t for t, r in zip(systems["enhanced"], rows["enhanced"]) if not r["error"] and t[1]]
        if ok:
            uid, ref, est = ok[len(ok) // 2]
            panels = [(s, dict((u, e) for u, _, e in systems[s]).get(uid)) for s in systems] + [("reference", ref)]
            spectrograms(os.path.join(args.figures, "spectrogram.png"), [(n, p) for n, p in panels if p], uid)
            text += ["", f"![spectrograms of {uid}]({rel}/spectrogram.png)"]
    write_text_atomic(args.summary, "\n".join(text) + "\n")
    print("\n".join(text))
    if notes:
        print(f"se-mamba score: note: {notes}")
    if failed > allowed:
        print(f"se-mamba score: error: {failed} of {len(rows['enhanced'])} files failed "
              f"(--max-failures allows {allowed}); reasons in {args.csv}", file=sys.stderr)
        return 1
    return 0
