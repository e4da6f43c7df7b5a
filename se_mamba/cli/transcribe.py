"""``se-mamba transcribe``: enhance, then transcribe (the enhancer as an ASR front end).

    se-mamba transcribe meeting.wav calls/ --model recipes/mini/pretrained [--asr whisper:tiny.en]
    se-mamba transcribe calls/ --model PKG --asr speechbrain:speechbrain/asr-crdnn-rnnlm-librispeech \\
        --csv transcripts.csv --enhanced-dir enhanced/ [--no-enhance]

Inputs as for ``se-mamba enhance`` (files, folders, list files). Prints one
``path<TAB>text`` line per file (or writes ``--csv``: path, text); with
``--enhanced-dir`` the enhanced audio is kept there. ``--no-enhance`` runs the
same ASR on the raw input, for comparison (no model is loaded; ``--model``
is then not needed). Failures are reported at the end
(exit status 1); the other files are still transcribed.
"""
import argparse
import csv
import io
import os
import sys

from ..fileio import write_text_atomic
from .enhance import add_model_options, collect_inputs, load_enhancer


def add_parser(sub):
    p = sub.add_parser("transcribe", help="enhance then transcribe audio (ASR front end)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT")
    p.add_argument("--asr", default="whisper:tiny.en", help="whisper:SIZE_OR_PATH (default: the bundled tiny.en) | pocketsphinx | speechbrain:SOURCE")
    p.add_argument("--csv", default=None, help="write path,text rows here instead of printing")
    p.add_argument("--enhanced-dir", default=None, help="keep the enhanced audio in this folder")
    p.add_argument("--no-enhance", action="store_true", help="transcribe the raw input instead")
    add_model_options(p, model_required=False)
    p.set_defaults(func=run)
    return p


def run(args):
    from tqdm import tqdm

    from ..fileio import check_output_folder
    from ..inference.enhancer import check_jobs
    from ..inference.pipeline import EnhanceThenTranscribe

    keep_dir = args.enhanced_dir if args.enhanced_dir and not args.no_enhance else None
    jobs = collect_inputs(args.inputs, keep_dir, prog="se-mamba transcribe")
    if not jobs:
        raise ValueError("no audio files found in the inputs")
    if keep_dir:
        check_output_folder(keep_dir)
        check_jobs([(path, os.path.join(keep_dir, rel)) for path, rel in jobs])
    if args.model is None and not args.no_enhance:
        raise ValueError("--model is required (or --no-enhance to transcribe the raw input)")
    pipe = EnhanceThenTranscribe(None if args.no_enhance else load_enhancer(args), args.asr, device=args.device)
    rows, failures = [], []
    for path, rel in tqdm(jobs, desc="transcribe", unit="file", disable=args.csv is None):
        keep = os.path.join(keep_dir, rel) if keep_dir else None
        try:
            text = pipe.transcribe_file(path, enhance=not args.no_enhance, enhanced_path=keep)
        except (ValueError, RuntimeError, OSError) as exc:
            failures.append(str(exc).strip().splitlines()[0])
            continue
        rows.append((path, text))
        if args.csv is None:
            print(f"{path}\t{text}", flush=True)
    if args.csv is not None:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["path", "text"])
        w.writerows(rows)
        write_text_atomic(args.csv, buf.getvalue())
        print(f"transcribed {len(rows)}/{len(jobs)} files -> {args.csv}")
    for msg in failures:
        print(f"se-mamba transcribe: failed: {msg}", file=sys.stderr)
    return 1 if failures else 0
