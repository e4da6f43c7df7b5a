"""``se-mamba enhance``: enhance files, folders or a list of files.

    se-mamba enhance noisy.wav other.flac -o enhanced/ --model recipes/mini/pretrained
    se-mamba enhance recordings/ -o enhanced/ --model sbm_small_folder --sb-steps 1
    se-mamba enhance list.txt -o out/ --model semamba_advanced --checkpoint g_00xxxxxx.pth

INPUT: audio files, folders (searched recursively; the tree is kept under
OUT) or a text file listing one audio path per line. ``--model``: a packed
folder or Hugging Face repo id (``from_hparams``), or a registry name with
``--checkpoint`` (a released official checkpoint; without one the weights are
random, which only a speed test wants). Any sample rate and channel count;
the output has the input's rate, channels and (where possible) format.
``--pcs`` adds perceptual contrast stretching; ``--mix-noisy A`` gives back a
share A of the input (observation adding, for ASR front-ends). ``--stream N`` runs a causal
model (semamba_causal, semamba_basic, sbm_causal) as a live stream with N
STFT frames per network call and prints its algorithmic latency.
Writes are atomic and never replace an input. Folders are scanned for every
format soundfile reads (other files are counted and reported as skipped), an
output folder inside an input folder is not scanned, and two inputs that would
write one output are an error before anything is enhanced. The output folder
is checked (a folder, writable) first. Failures (missing, unreadable, empty,
NaN, unwritable) are reported at the end, one line each, and give exit status
1; the other files are still enhanced.
"""
import argparse
import os
import sys
import time


def add_parser(sub):
    p = sub.add_parser("enhance", help="enhance audio files or folders with a pretrained model",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="audio file, folder or list file")
    p.add_argument("-o", "--out", required=True, help="output folder")
    add_model_options(p)
    p.set_defaults(func=run)
    return p


def add_model_options(p, model_required=True):
    """The options that choose and configure the enhancer (shared with ``transcribe``)."""
    p.add_argument("--model", required=model_required, help="packed folder, hub repo id, official:NAME (se-mamba download --list), or registry name")
    p.add_argument("--checkpoint", default=None, help="official checkpoint file (with a registry name)")
    p.add_argument("--savedir", default=None, help="where from_hparams keeps fetched files")
    p.add_argument("--device", default="cpu")
    p.add_argument("--sb-steps", type=int, default=None, help="SB models: sampling steps")
    p.add_argument("--sampler", choices=("ode", "sde"), default=None, help="SB models: sampler")
    p.add_argument("--t-max", type=float, default=None,
                   help="SB models: the time sampling starts from (default 1)")
    p.add_argument("--chunk", type=float, default=None,
                   help="chunk length in seconds (0: whole file; default 10, or 5 for models with "
                        "attention along time)")
    p.add_argument("--overlap", type=float, default=1.0, help="chunk overlap in seconds")
    p.add_argument("--pcs", action="store_true",
                   help="perceptual contrast stretching of the output (SEMamba +PCS)")
    p.add_argument("--mix-noisy", type=float, default=0.0, metavar="A",
                   help="observation adding: output (1-A) x enhanced + A x input, 0 <= A < 1 "
                        "(less speech distortion for ASR; default 0)")
    p.add_argument("--stream", type=int, default=None, metavar="FRAMES",
                   help="causal models: enhance as a live stream, FRAMES STFT frames per network call "
                        "(1 = frame by frame); prints the algorithmic latency")


def collect_inputs(inputs, out_dir=None, prog="se-mamba enhance"):
    """[(input path, relative output path)] from files, folders and list
    files; an output folder inside an input folder is not scanned (its files
    would be enhanced again on the next run), and the files a folder scan
    skips are counted in one line on stderr."""
    from ..audio import describe_skipped, scan_audio

    jobs, skipped = [], {}
    for item in inputs:
        if os.path.isdir(item):
            found, skip = scan_audio(item, exclude=[out_dir] if out_dir else ())
            jobs += found
            for ext, n in skip.items():
                skipped[ext] = skipped.get(ext, 0) + n
        elif item.lower().endswith((".txt", ".lst", ".list")):
            if not os.path.isfile(item):
                raise ValueError(f"{item}: no such list file")
            base = os.path.dirname(os.path.abspath(item))
            with open(item) as f:
                for line in f:
                    line = line.strip()
                    if line and not line.startswith("#"):
                        path = line if os.path.isabs(line) else os.path.join(base, line)
                        jobs.append((path, os.path.basename(path)))
        else:
            jobs.append((item, os.path.basename(item)))
    if skipped:
        print(f"{prog}: skipped {describe_skipped(skipped)} file(s): not audio that soundfile reads",
              file=sys.stderr)
    return jobs


def load_enhancer(args):
    from ..inference import MambaEnhancer

    kw = dict(sb_steps=args.sb_steps, sampler=args.sampler, t_max=args.t_max,
              chunk_seconds="auto" if args.chunk is None else (args.chunk or None),
              overlap_seconds=args.overlap, pcs=args.pcs, stream_block_frames=args.stream,
              mix_noisy=args.mix_noisy, run_opts={"device": args.device})
    if args.checkpoint:
        if not os.path.isfile(args.checkpoint):
            raise ValueError(f"{args.checkpoint}: no such checkpoint file")
        return MambaEnhancer.from_model(args.checkpoint, **kw)
    from ..models import list_models

    if args.model in list_models() and not os.path.isdir(args.model):
        print(f"se-mamba enhance: warning: {args.model} has random weights (no --checkpoint)", file=sys.stderr)
        return MambaEnhancer.from_model(args.model, **kw)
    return MambaEnhancer.from_hparams(source=args.model, savedir=args.savedir, **kw)


def run(args):
    from ..fileio import check_output_folder
    from ..inference.enhancer import check_jobs

    jobs = collect_inputs(args.inputs, args.out)
    if not jobs:
        raise ValueError("no audio files found in the inputs")
    check_output_folder(args.out)
    jobs = check_jobs([(p, os.path.join(args.out, rel)) for p, rel in jobs])
    enhancer = load_enhancer(args)
    if args.stream is not None:
        s = enhancer.streamer(block_frames=args.stream)
        print(f"streaming {args.stream} frame(s) per call: algorithmic latency {s.latency_samples} samples "
              f"({s.latency_ms:.1f} ms at {s.sample_rate} Hz), input gain {s.gain:.2f}")
    t0 = time.perf_counter()
    done, failures, seconds = enhancer.enhance_files(jobs)
    wall = time.perf_counter() - t0
    rtf = wall / seconds if seconds else float("nan")
    print(f"enhanced {len(done)}/{len(jobs)} files, {seconds:.1f} s of audio in {wall:.1f} s (RTF {rtf:.3f}) "
          f"-> {args.out}")
    for msg in failures:
        print(f"se-mamba enhance: failed: {msg}", file=sys.stderr)
    return 1 if failures else 0
