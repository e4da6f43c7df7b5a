#!/usr/bin/env python
"""Real-time factor of the SB models and Mamba-base on one 10 s clip, 2 CPU threads.

    python benchmarks/bench_sb.py [--out docs/bench_sb.md] [--repeats 3] [--seconds 10]
    python benchmarks/bench_sb.py --profile     # where one SBM call spends its time

One table, one run: SBM 1 step, SBM causal 1 step, SB-NCSN++ at 1/10/50 ODE
steps and Mamba-base, each at its registry default size with
random weights (speed does not depend on the weights). Every case runs in a
fresh process: model build, one warm-up call on 1 s, then the median of
``--repeats`` calls on the clip (``torch.no_grad``). RTF = seconds / clip
seconds; peak memory is the RSS high-water mark above the RSS before the call.
Goals (the SB issue): SBM 1 step >= 10x faster than SB-NCSN++ at 50 steps, and
RTF < 1 on 2 cores.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import parse_args_or_work, publish, run_worker, timed  # noqa: E402

CASES = [  # label, registry name, steps (None: predictive)
    ("SBM, 1 step", "sbm", 1), ("SBM causal, 1 step", "sbm_causal", 1),
    ("SB-NCSN++, 1 step", "sb_ncsnpp", 1), ("SB-NCSN++, 10 steps", "sb_ncsnpp", 10),
    ("SB-NCSN++, 50 steps", "sb_ncsnpp", 50), ("Mamba-base", "mamba_base", None)]


def profile_worker(seconds):
    """Shares of CPU self time of one SBM call, by operator family."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from se_mamba.models import build_model

    torch.set_num_threads(2)
    model = build_model("sbm").eval()
    clip = torch.randn(1, int(16000 * seconds)) * 0.1
    with torch.no_grad():
        model.enhance(clip[:, :16000])
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            model.enhance(clip)
    ev = {e.key: e.self_cpu_time_total for e in prof.key_averages()}
    total = sum(ev.values())
    groups = {"selective scan": ("FusedScan",), "matmul": ("aten::mm", "aten::addmm", "aten::bmm"),
              "copies": ("aten::copy_",), "convolutions": ("aten::mkldnn_convolution", "aten::convolution",
                                                           "aten::_convolution", "aten::slow_conv")}
    return {g: sum(v for k, v in ev.items() if any(k.startswith(p) or p in k for p in pats)) / total
            for g, pats in groups.items()}


def worker(spec):
    import torch

    from se_mamba.models import build_model

    if spec[0] == "profile":
        return profile_worker(spec[1])
    name, steps, seconds, repeats = spec
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = build_model(name).eval()
    clip = torch.randn(1, int(16000 * seconds)) * 0.1
    kwargs = {"steps": steps} if steps else {}
    with torch.no_grad():
        model.enhance(clip[:, :16000], **kwargs)  # warm-up (kernel load, allocator)
        sec, peak_gb = timed(lambda: model.enhance(clip, **kwargs), repeats, warmup=False)
    return {"s": sec, "peak_gb": peak_gb, "params": sum(p.numel() for p in model.parameters())}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=None)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--profile", action="store_true", help="only profile one SBM call")
    args = parse_args_or_work(p, worker)
    if args.profile:
        res, err = run_worker(__file__, ["profile", args.seconds], timeout=600)
        print(err or "SBM, one call on a {:g} s clip, share of CPU self time: ".format(args.seconds)
              + ", ".join(f"{k} {100 * v:.0f}%" for k, v in res.items()))
        return
    lines = ["| system | parameters | network calls | s per clip (median) | RTF | peak extra memory (GB) |",
             "|---|---|---|---|---|---|"]
    results = {}
    for label, name, steps in CASES:
        res, err = run_worker(__file__, [name, steps, args.seconds, args.repeats], timeout=3600)
        results[label] = res
        if err:
            lines.append(f"| {label} | ? | {steps or 1} | {err} | – | – |")
        else:
            lines.append(f"| {label} | {res['params']:,} | {steps or 1} | {res['s']:.2f} | "
                         f"{res['s'] / args.seconds:.3f} | {res['peak_gb']:.2f} |")
        print(lines[-1], flush=True)
    sbm, ncsn50 = results.get("SBM, 1 step"), results.get("SB-NCSN++, 50 steps")
    notes = []
    if sbm and ncsn50:
        ratio = ncsn50["s"] / sbm["s"]
        notes.append(f"SBM 1 step is {ratio:.1f}x faster than SB-NCSN++ at 50 steps "
                     f"(goal >= 10x: {'met' if ratio >= 10 else 'MISSED'}); "
                     f"SBM RTF {sbm['s'] / args.seconds:.3f} (goal < 1: "
                     f"{'met' if sbm['s'] < args.seconds else 'MISSED'}).")
    head = [f"# SB models: real-time factor on a {args.seconds:g} s clip (2 CPU threads, fp32, "
            f"median of {args.repeats})", ""]
    publish("\n".join(head + lines + [""] + notes), args.out)


if __name__ == "__main__":
    main()
