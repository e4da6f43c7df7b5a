#!/usr/bin/env python
"""How close the paper models come to this CPU's matrix throughput at inference.

    python benchmarks/bench_cpu_limit.py [--out docs/bench_cpu_limit.md] [--models a,b] [--lengths 2,10,60]
        [--baseline REV] [--profile MODEL:SECONDS]

In one run: the float32 2048 x 2048 matmul throughput of this machine
(1 and 2 threads), then for each paper-size model (random weights; speed does
not depend on them) and input length, enhancement through ``MambaEnhancer``
chunked as the interface does (``MambaEnhancer``'s default windows: 10 s, 5 s
for models with attention along time, 1 s overlap; ``--chunks`` compares
other lengths), with 2 threads:

* the FLOPs of that call (multiply-add = 2), counted on exactly the windows
  the interface cuts: ``torch.utils.flop_counter`` for matmuls, convolutions
  and attention, plus the selective scan and LSTM cells analytically
  (``_common.count_flops``);
* the seconds (median of ``--repeats`` calls after a 1 s warm-up; one call at
  60 s and longer), the RTF, the achieved GFLOP/s and that as a share of
  the 2-thread matmul throughput;
* the peak extra memory (RSS high-water mark above the RSS before the call).

Each case runs in a fresh process. Issue 19's goal: SEMamba advanced and
causal at 50 % of the matmul throughput at every length, MP-SENet and
MambAttention at 40 %.

``--baseline REV`` also runs every case on the package as of git revision
REV (extracted with ``git archive``), its process just before the current
one's, and adds its seconds, the speed-up and the largest difference between
the two outputs relative to the baseline's peak (same weights: same seed,
same constructors).
"""
import argparse
import os
import sys

os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")  # as se_mamba.cli.main: before torch loads

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (command_line, count_flops, drop_tree, extract, matmul_gflops, parse_args_or_work,  # noqa: E402
                     profile_ops, profile_table, publish, run_worker, time_enhancer, tree_env)

DEFAULT_MODELS = ["semamba_advanced", "semamba_causal", "mpsenet", "mambattention"]
GOAL = {"semamba_advanced": 0.5, "semamba_causal": 0.5, "mpsenet": 0.4, "mambattention": 0.4}


def window_lengths(n, chunk, overlap):
    """The lengths of the windows ``overlap_add`` cuts ``n`` samples into."""
    from se_mamba.inference.chunking import chunk_starts

    if chunk is None or n <= chunk:
        return [n]
    return [min(s + chunk, n) - s for s in chunk_starts(n, chunk, overlap)]


def worker(spec):
    import torch

    if spec[0] == "matmul":
        return {"gflops": matmul_gflops(spec[1])}
    if spec[0] == "profile":
        return profile_call(*spec[1:])
    _, name, seconds, repeats, chunk_seconds, count, save = spec
    from se_mamba.inference import MambaEnhancer

    torch.set_num_threads(2)
    torch.manual_seed(0)
    enh = MambaEnhancer.from_model(name, chunk_seconds=chunk_seconds)
    model, rate = enh.model, enh.sample_rate
    n = int(rate * seconds)
    chunk = None if enh.chunk_seconds is None else int(round(enh.chunk_seconds * rate))
    overlap = int(round(enh.overlap_seconds * rate))
    counted = analytic = 0
    by_length = {}
    for length in window_lengths(n, chunk, overlap) if count else []:
        if length not in by_length:
            wav = torch.randn(1, length) * 0.1
            by_length[length] = count_flops(model, wav, grad=model.attends_over_time)
        counted += by_length[length][0]
        analytic += by_length[length][1]
    sec, peak = time_enhancer(enh, seconds, repeats, save=save)
    return {"s": sec, "peak_gb": peak, "gflop": (counted + analytic) / 1e9, "scan_gflop": analytic / 1e9,
            "chunk": enh.chunk_seconds}


def profile_call(name, seconds):
    """Self CPU time by operator of one enhancement call (after a warm-up)."""
    import numpy as np
    import torch

    from se_mamba.inference import MambaEnhancer

    torch.set_num_threads(2)
    torch.manual_seed(0)
    enh = MambaEnhancer.from_model(name)
    x = (np.random.default_rng(0).standard_normal(int(enh.sample_rate * seconds)) * 0.1).astype(np.float32)
    return profile_ops(lambda: enh.enhance_waveform(x, enh.sample_rate))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=None)
    p.add_argument("--models", default=",".join(DEFAULT_MODELS))
    p.add_argument("--lengths", default="2,10,60", help="input lengths in seconds")
    p.add_argument("--repeats", type=int, default=3, help="timed calls per case (one at 60 s and longer)")
    p.add_argument("--chunks", default="auto",
                   help="chunk lengths in seconds to compare, e.g. auto,10 (auto: the interface's default)")
    p.add_argument("--rounds", type=int, default=1,
                   help="run every case this many times, the chunk variants alternating; the median is shown")
    p.add_argument("--baseline", default=None, metavar="REV",
                   help="also run every case on the package as of this git revision, in the same run")
    p.add_argument("--profile", default=None, metavar="MODEL:SECONDS",
                   help="also profile one call (and one on the baseline), e.g. semamba_advanced:10")
    args = parse_args_or_work(p, worker)
    base_tree = extract(args.baseline) if args.baseline else None
    try:
        run(args, base_tree)
    finally:
        drop_tree(base_tree)


def max_rel_diff(new, ref):
    import numpy as np

    a, b = np.load(new), np.load(ref)
    if a.shape != b.shape:
        return float("inf")
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


def run(args, base_tree):
    import tempfile
    from tqdm import tqdm

    import torch

    def matmul(threads):
        res, _ = run_worker(__file__, ["matmul", threads], timeout=600)
        return res["gflops"] if res else float("nan")

    before, one = matmul(2), matmul(1)
    chunks = ["auto" if c == "auto" else float(c) for c in args.chunks.split(",")]
    cases = [(m, float(s), c) for m in args.models.split(",") for s in args.lengths.split(",") for c in chunks]
    runs = {case: [] for case in cases}
    base_runs = {case: [] for case in cases}
    diffs = {}
    flops = {}
    scratch = tempfile.mkdtemp(prefix="bench_cpu_limit_")
    for _ in tqdm(range(args.rounds), desc="rounds", unit="round", disable=args.rounds == 1):
        for model, seconds, chunk in tqdm(cases, desc="bench_cpu_limit", unit="case"):
            case = (model, seconds, chunk)
            spec = ["model", model, seconds, 1 if seconds >= 60 else args.repeats, chunk]
            saved = {}
            if base_tree:
                saved["base"] = os.path.join(scratch, "base.npy")
                res, err = run_worker(__file__, spec + [False, saved["base"]], timeout=3600,
                                      env=tree_env(base_tree))
                base_runs[case].append((res, err))
                tqdm.write(f"{model} {seconds:g} s, chunks {chunk}, {args.baseline}: {err or res}")
            count = case not in flops  # the count does not change between rounds
            saved["new"] = os.path.join(scratch, "new.npy")
            res, err = run_worker(__file__, spec + [count, saved["new"]], timeout=3600)
            if res and count:
                flops[case] = (res["gflop"], res["scan_gflop"])
            runs[case].append((res, err))
            if base_tree and res and base_runs[case][-1][0]:
                diffs[case] = max(diffs.get(case, 0.0), max_rel_diff(saved["new"], saved["base"]))
            tqdm.write(f"{model} {seconds:g} s, chunks {chunk}: {err or res}")
    drop_tree(scratch)
    results = []
    for (model, seconds, chunk), done in runs.items():
        ok = sorted((r for r, e in done if r), key=lambda r: r["s"])
        if not ok:
            results.append((model, seconds, None, done[-1][1]))
            continue
        res = dict(ok[len(ok) // 2], peak_gb=max(r["peak_gb"] for r in ok))
        res["gflop"], res["scan_gflop"] = flops[(model, seconds, chunk)]
        base = sorted(r["s"] for r, _ in base_runs[(model, seconds, chunk)] if r)
        res["base_s"] = base[len(base) // 2] if base else None
        res["diff"] = diffs.get((model, seconds, chunk))
        results.append((model, seconds, res, None))
    # the machine's speed drifts during a long run: the reference is the higher
    # of the 2-thread throughputs measured before and after the models
    after = matmul(2)
    ref = max(before, after)
    lines = [f"float32 2048 x 2048 matmul: {one:.0f} GFLOP/s with 1 thread; with 2 threads {before:.0f} "
             f"GFLOP/s before the models and {after:.0f} after, the reference is {ref:.0f}. "
             f"torch {torch.__version__}, {os.cpu_count()} CPUs.", "",
             "| model | input (s) | chunks | GFLOP (of which scan/LSTM) | seconds | RTF | GFLOP/s | "
             "% of matmul | goal | peak extra GB |" + (f" s at {args.baseline} | speed-up | output diff |"
                                                       if base_tree else ""),
             "|---|---|---|---|---|---|---|---|---|---|" + ("---|---|---|" if base_tree else "")]
    for model, seconds, res, err in results:
        goal = f"{GOAL[model]:.0%}" if model in GOAL else "-"
        if err:
            lines.append(f"| {model} | {seconds:g} | | {err} | | | | | {goal} | |" + (" | | |" if base_tree else ""))
            continue
        rate = res["gflop"] / res["s"]
        chunk = "whole" if res["chunk"] is None or seconds <= res["chunk"] else f"{res['chunk']:g} s"
        row = (f"| {model} | {seconds:g} | {chunk} | {res['gflop']:.1f} ({res['scan_gflop']:.1f}) | "
               f"{res['s']:.2f} | {res['s'] / seconds:.3f} | {rate:.1f} | {rate / ref:.0%} | {goal} | "
               f"{res['peak_gb']:.2f} |")
        if base_tree:
            b = res["base_s"]
            row += (f" {b:.2f} | {b / res['s']:.2f}x | {res['diff']:.1e} |" if b
                    else " failed | | |")
        lines.append(row)
    rounds = f"; the median of {args.rounds} rounds, alternating" if args.rounds > 1 else ""
    if args.profile:
        name, seconds = args.profile.split(":")
        for label, tree in [("this version", None)] + ([(args.baseline, base_tree)] if base_tree else []):
            res, err = run_worker(__file__, ["profile", name, float(seconds)], timeout=3600, env=tree_env(tree))
            lines += profile_table(f"one {seconds} s call of {name} (2 threads), {label}", res, err)
    if base_tree:
        lines += ["", f"The baseline ({args.baseline}) ran in its own process just before each current one; "
                  "output diff: the largest difference between the two enhanced signals relative to the "
                  "baseline's peak."]
    publish("\n".join([f"# Inference against the CPU's matmul limit (2 threads, fp32; median of "
                       f"{args.repeats} calls, 1 at 60 s and longer{rounds})", "",
                       f"`{command_line()}`", "", *lines]),
            args.out)


if __name__ == "__main__":
    main()
