#!/usr/bin/env python
"""Streaming cost of the causal models on 2 CPU threads: can they keep up live?

    python benchmarks/bench_stream.py [--out docs/bench_stream.md] [--seconds 10] [--frames 1,4,16]

For each causal zoo model at its paper size (random weights: speed does not
depend on them) and each block size (STFT frames per network call), a
``--seconds`` clip is fed to :class:`~se_mamba.inference.StreamingEnhancer`
one block of samples at a time, as a sound card would deliver it. Reported:
the algorithmic latency, the median and 95th-percentile wall time of a call
against its budget (the audio duration of one block: a stream keeps up when
calls finish within it), the streaming RTF (total compute / audio), and the
offline RTF of the same model on the whole clip. Each model runs in a fresh
process with the CLI's allocator setting.
"""
import argparse
import os
import sys

os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")  # as se_mamba.cli.main: before torch loads

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import parse_args_or_work, publish, run_worker  # noqa: E402

MODELS = ["semamba_causal", "semamba_basic", "sbm_causal"]


def worker(spec):
    import time

    import numpy as np
    import torch

    from se_mamba.inference import StreamingEnhancer
    from se_mamba.models import build_model

    name, seconds, frames = spec
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = build_model(name).eval()
    x = torch.randn(int(16000 * seconds)) * 0.05
    with torch.no_grad():
        model.enhance(x[:16000][None])  # warm-up
        t0 = time.perf_counter()
        model.enhance(x[None])
        offline = time.perf_counter() - t0
    rows = []
    for f in frames:
        s = StreamingEnhancer(model, block_frames=f)
        block = f * s.front_end.hop_length
        s.enhance(x[:16000], block_samples=block)  # warm-up
        calls = []
        s.reset()
        for i in range(0, x.shape[0], block):
            t0 = time.perf_counter()
            s.process(x[i:i + block])
            calls.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        s.flush()
        calls.append(time.perf_counter() - t0)
        calls = np.array(calls[2:])  # the first blocks only fill the STFT window
        rows.append({"frames": f, "latency_ms": s.latency_ms, "budget_ms": 1000 * block / 16000,
                     "median_ms": 1000 * float(np.median(calls)), "p95_ms": 1000 * float(np.percentile(calls, 95)),
                     "rtf": float(calls.sum()) / seconds})
    return {"offline_rtf": offline / seconds, "rows": rows,
            "params": sum(p.numel() for p in model.parameters())}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=None)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--frames", default="1,4,16", help="STFT frames per network call")
    p.add_argument("--models", default=",".join(MODELS))
    args = parse_args_or_work(p, worker)
    frames = [int(v) for v in args.frames.split(",")]
    lines = ["| model | parameters | frames / call | latency (ms) | call budget (ms) | median call (ms) | "
             "p95 call (ms) | streaming RTF | keeps up | offline RTF |", "|---|---|---|---|---|---|---|---|---|---|"]
    for model in args.models.split(","):
        res, err = run_worker(__file__, [model, args.seconds, frames], timeout=7200)
        if err:
            lines.append(f"| {model} | | | {err} | | | | | | |")
            continue
        for r in res["rows"]:
            keeps = "yes" if r["p95_ms"] <= r["budget_ms"] else "no"
            lines.append(f"| {model} | {res['params']:,} | {r['frames']} | {r['latency_ms']:.1f} | "
                         f"{r['budget_ms']:.2f} | {r['median_ms']:.2f} | {r['p95_ms']:.2f} | {r['rtf']:.3f} | "
                         f"{keeps} | {res['offline_rtf']:.3f} |")
            print(lines[-1], flush=True)
    publish("\n".join([f"# Streaming the causal models ({args.seconds:g} s clip, 2 CPU threads, fp32)", "",
                       *lines]), args.out)


if __name__ == "__main__":
    main()
