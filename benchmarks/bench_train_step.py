#!/usr/bin/env python
"""Seconds per training step of the demo model (generator losses, backward, AdamW).

    python benchmarks/bench_train_step.py [--out docs/bench_train_step.md]

Each case runs in a fresh process with its own thread count: the demo's
small SEMamba (16 channels, 2 blocks) and an 8-channel variant, 1 s and 2 s
crops, batch 4 or 2, 1 or 2 intra-op threads; median of 3 steps after one
warm-up. The last line profiles one step of the demo case (share of
convolution backward and of the selective scan).
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import parse_args_or_work, publish, run_worker  # noqa: E402

CASES = [  # channels, batch, samples, threads
    (16, 4, 16000, 2), (16, 4, 16000, 1), (16, 2, 16000, 1), (16, 4, 32000, 2), (8, 4, 16000, 2)]


def worker(spec):
    import torch

    from se_mamba.losses import GeneratorLoss
    from se_mamba.models import build_model
    from se_mamba.nn.spectral import amplitude_normalise

    ch, batch, n, threads, profile = spec
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    g = build_model("semamba_advanced", channels=ch, num_blocks=2, mamba=dict(d_state=8, d_conv=4, expand=2))
    fe, loss, opt = g.front_end, GeneratorLoss(), torch.optim.AdamW(g.parameters(), 3e-3)
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

    step()
    if profile:
        from torch.profiler import ProfilerActivity, profile as prof

        with prof(activities=[ProfilerActivity.CPU]) as p:
            step()
        ev = {e.key: e.self_cpu_time_total for e in p.key_averages()}
        total = sum(ev.values())
        scan = sum(v for k, v in ev.items() if "FusedScan" in k)
        return {"conv_bwd": ev.get("aten::convolution_backward", 0) / total, "scan": scan / total}
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return {"s": statistics.median(times), "params": sum(q.numel() for q in g.parameters())}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=None)
    args = parse_args_or_work(p, worker)
    lines = ["| channels | parameters | batch x crop | threads | s / step |", "|---|---|---|---|---|"]
    for ch, batch, n, threads in CASES:
        res, err = run_worker(__file__, [ch, batch, n, threads, False], timeout=600)
        cell = err or f"{res['s']:.2f}"
        lines.append(f"| {ch} | {res['params'] if res else '?'} | {batch} x {n / 16000:g} s | {threads} | {cell} |")
        print(lines[-1], flush=True)
    res, err = run_worker(__file__, [16, 4, 16000, 2, True], timeout=600)
    prof_line = err or (f"Profile of the demo case (16 channels, 4 x 1 s, 2 threads): convolution backward "
                        f"{100 * res['conv_bwd']:.0f}% of CPU self time, selective scan {100 * res['scan']:.0f}%.")
    publish("\n".join(["# Training step time of the demo model (2 CPU cores)", "", *lines, "", prof_line]), args.out)


if __name__ == "__main__":
    main()
