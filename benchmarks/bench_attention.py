"""The compiled inference attention against PyTorch's CPU flash kernel, at
the attention shapes of the paper models (issue 19's seventh round,
docs/performance.md).

    python benchmarks/bench_attention.py [--out docs/bench_attention.md] [--repeats 7]

Shapes: one 2 s and one 5 s window (the interface's window for models with
attention along time) of a 16 kHz input, STFT hop 100 (201 and 501 frames),
201 frequency bins compressed to 101 by the encoder; time passes attend over
frames (one sequence per bin), frequency passes over bins (one per frame).
Heads: MambAttention's 8 of 8 channels and MP-SENet's 4 of 16. Both
functions run on the same random ``[N, L, 3 * 64]`` input, alternating call
by call in one process; median seconds, 2 threads. The last column is the
largest difference between the two outputs relative to the flash kernel's
peak. ``se_mamba.nn.cpu_attention.KERNEL_MAX_HEAD`` is chosen from this table.
"""
import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import command_line, publish  # noqa: E402

# (label, sequences, length): for a 2 s and a 5 s window
SHAPES = [("2 s, time pass", 101, 201), ("2 s, frequency pass", 201, 101),
          ("5 s, time pass", 101, 501), ("5 s, frequency pass", 501, 101)]
HEADS = [("MambAttention", 8), ("MP-SENet", 4)]
DIM = 64


def flash(qkv, heads):
    n, length, _ = qkv.shape
    q, k, v = qkv.view(n, length, 3, heads, DIM // heads).permute(2, 0, 3, 1, 4)
    return F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, length, DIM)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=None)
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args()
    from se_mamba.nn.scan_kernel import load_kernel

    kernel = load_kernel()
    if kernel is None:
        sys.exit("bench_attention: the compiled kernel is unavailable here (se-mamba info says why)")
    torch.set_num_threads(2)
    torch.manual_seed(0)
    lines = ["# Inference attention: the compiled kernel against the flash kernel (CPU, 2 threads)", "",
             f"`{command_line()}`", "",
             "| heads | shape | sequences x length | flash (ms) | kernel (ms) | speed-up | output diff |",
             "|---|---|---|---|---|---|---|"]
    with torch.no_grad():
        for model, heads in HEADS:
            for label, n, length in SHAPES:
                qkv = torch.randn(n, length, 3 * DIM)
                ours = lambda: kernel.attention_fwd(qkv, heads, False, (DIM // heads) ** -0.5)  # noqa: E731
                ref = lambda: flash(qkv, heads)  # noqa: E731
                diff = ((ours() - ref()).abs().max() / ref().abs().max()).item()
                times = {ours: [], ref: []}
                for _ in range(args.repeats):
                    for fn in (ref, ours):
                        t0 = time.perf_counter()
                        fn()
                        times[fn].append(time.perf_counter() - t0)
                a, b = (sorted(times[f])[args.repeats // 2] * 1e3 for f in (ref, ours))
                lines.append(f"| {model}: {heads} x {DIM // heads} | {label} | {n} x {length} | {a:.1f} | "
                             f"{b:.1f} | {a / b:.2f}x | {diff:.1e} |")
                print(lines[-1], flush=True)
    publish("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
