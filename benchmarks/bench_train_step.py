#!/usr/bin/env python
"""Seconds per training step (generator losses, backward, AdamW) on this CPU,
and how much of the machine's matrix throughput a step uses.

    python benchmarks/bench_train_step.py [--baseline REV] [--out docs/bench_train_step.md]

Cases: the demo model (SEMamba advanced, 16 channels, 2 blocks; batch 4 x 1 s;
1 and 2 threads) and the paper's SEMamba advanced (64 channels, 4 blocks;
batch 4 x 2 s, the step issue 19 names). Each case runs in fresh processes;
a process times 3 steps after one warm-up and the table gives the median of
all timed steps.

``--baseline REV`` also runs every case on the package as it was at the git
revision REV (extracted with ``git archive`` into a temporary folder and put
first on ``PYTHONPATH``), alternating baseline and current processes, so the
speed-up is a ratio measured in one run on one machine.

"counted GFLOP" is what ``torch.utils.flop_counter`` counts in one step:
convolutions and matrix products, forward and backward (multiply-add = 2);
the selective scan and the elementwise work are not in it. "% of matmul" is
that count per second against a float32 2048 x 2048 matmul measured in the
same run with the same threads: the share of the machine's peak the step
turns into counted arithmetic. "peak RSS GB" is the timed processes' memory
high-water mark (this version): mostly the activations autograd keeps for
the backward. ``--profile`` adds the operators of one demo and one paper
step, with the matrix products split by shape.
"""
import argparse
import os
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (command_line, drop_tree, extract, matmul_gflops, parse_args_or_work, profile_ops,  # noqa: E402
                     profile_table, publish, run_worker, tree_env)

# name, channels, blocks, d_state, expand, batch, samples, threads
CASES = [
    ("demo", 16, 2, 8, 2, 4, 16000, 2),
    ("demo", 16, 2, 8, 2, 4, 16000, 1),
    ("paper", 64, 4, 16, 4, 4, 32000, 2),
]
REPEATS = 2  # processes per case and tree


def worker(spec):
    import torch

    kind = spec[0]
    if kind == "matmul":
        return {"gflops": matmul_gflops(spec[1])}

    from se_mamba.losses import GeneratorLoss
    from se_mamba.models import build_model
    from se_mamba.nn.spectral import amplitude_normalise

    _, ch, blocks, d_state, expand, batch, n, threads = spec[:8]
    mode = spec[8]
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    g = build_model("semamba_advanced", channels=ch, num_blocks=blocks,
                    mamba=dict(d_state=d_state, d_conv=4, expand=expand))
    fe, loss, opt = g.front_end, GeneratorLoss(), torch.optim.AdamW(g.parameters(), 3e-4)
    noisy, clean = torch.randn(batch, n) * 0.1, torch.randn(batch, n) * 0.1

    def step():
        _, nn_, cn = amplitude_normalise(noisy, clean)
        m, p, _ = fe.stft(nn_, eps=1e-10)
        mag, pha, com = g(m, p)
        wav = fe.istft(mag, pha, length=n)
        cm, cp, cc = fe.stft(cn, eps=1e-10)
        total, _ = loss({"wav": cn, "mag": cm, "pha": cp, "com": cc},
                        {"wav": wav, "mag": mag, "pha": pha, "com": com, "com_restft": fe.stft(wav, eps=1e-10)[2]})
        opt.zero_grad()
        total.backward()
        opt.step()

    if mode == "profile":  # share of self CPU time by operator, one step after a warm-up
        return profile_ops(step, shapes_of=("aten::mm",))
    if mode == "count":
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as fc:
            step()
        return {"gflop": fc.get_total_flops() / 1e9}
    step()
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    # the process's high-water mark: the activations autograd keeps for one step
    return {"times": times, "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def timed_case(case, tree):
    res, err = run_worker(__file__, [*case, "time"], timeout=900, env=tree_env(tree))
    return (res["times"] if res else []), (res["peak_gb"] if res else float("nan")), err


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", default=None, metavar="REV",
                   help="also time the package as of this git revision, in the same run")
    p.add_argument("--profile", action="store_true",
                   help="also profile one step of the demo and the paper case (and of the baseline)")
    p.add_argument("--out", default=None)
    args = parse_args_or_work(p, worker)
    base_tree = extract(args.baseline) if args.baseline else None
    try:
        peak = {}
        for threads in sorted({c[-1] for c in CASES}):
            res, err = run_worker(__file__, ["matmul", threads], timeout=300)
            peak[threads] = res["gflops"] if res else float("nan")
            print(f"float32 2048 x 2048 matmul, {threads} thread(s): {peak[threads]:.0f} GFLOP/s", flush=True)
        head = "| model | batch x crop | threads | counted GFLOP / step | s / step | % of matmul | peak RSS GB |"
        rule = "|---|---|---|---|---|---|---|"
        if base_tree:
            head += f" s / step at {args.baseline} | speed-up |"
            rule += "---|---|"
        lines = [head, rule]
        for case in CASES:
            name, ch, blocks, _, _, batch, n, threads = case
            res, err = run_worker(__file__, [*case, "count"], timeout=900)
            gflop = res["gflop"] if res else float("nan")
            cur, base, errs, peaks = [], [], [], []
            for _ in range(REPEATS):
                if base_tree:
                    t, _, e = timed_case(case, base_tree)
                    base += t
                    errs += [e] if e else []
                t, pk, e = timed_case(case, None)
                cur += t
                peaks.append(pk)
                errs += [e] if e else []
            if not cur:
                lines.append(f"| {name} | {batch} x {n / 16000:g} s | {threads} | failed: {'; '.join(errs)} |")
                print(lines[-1], flush=True)
                continue
            s = statistics.median(cur)
            label = f"{name} ({ch} ch, {blocks} blocks)"
            row = (f"| {label} | {batch} x {n / 16000:g} s | {threads} | {gflop:.1f} | {s:.3f} | "
                   f"{100 * gflop / s / peak[threads]:.0f}% | {max(peaks):.1f} |")
            if base_tree:
                b = statistics.median(base) if base else float("nan")
                row += f" {b:.3f} | {b / s:.2f}x |"
            lines.append(row)
            print(row, flush=True)
        notes = ["float32 2048 x 2048 matmul on this machine: "
                 + ", ".join(f"{peak[t]:.0f} GFLOP/s with {t} thread(s)" for t in sorted(peak)) + "."]
        if base_tree:
            notes.append(f"Baseline and current processes alternate ({REPEATS} each, 3 timed steps each); "
                         "medians of all timed steps.")
        if args.profile:
            trees = [("this version", None)] + ([(args.baseline, base_tree)] if base_tree else [])
            for case in (CASES[0], CASES[-1]):
                for label, tree in trees:
                    res, err = run_worker(__file__, [*case, "profile"], timeout=900, env=tree_env(tree))
                    notes += profile_table(f"one {case[0]} step ({case[-1]} threads), {label}", res, err)
        publish("\n".join(["# Training step time (CPU)", "", f"`{command_line()}`", "",
                           *lines, "", *notes]), args.out)
    finally:
        drop_tree(base_tree)


if __name__ == "__main__":
    main()
