"""Mamba's ``dt_proj`` weight gradient in its two layouts, and the Mamba layer
with each, on this CPU (issue 19's fifth round, docs/performance.md).

    python benchmarks/bench_dt_proj.py [--out docs/bench_dt_proj.md]

Products: ``F.linear``'s backward computes the weight gradient as
``grad_out^T @ x``; :mod:`se_mamba.nn.low_rank_linear` as ``(x^T @ grad_out)^T``
(same numbers). Shapes: the paper SEMamba step's (128 400 tokens, rank 4,
256 channels), a middle one and the demo's (rank 1, 32 channels). Layer: one
Mamba layer's forward + backward at the demo's two pass shapes, with
``low_rank_linear`` and with ``F.linear`` swapped in between alternating calls
(one process, so both see the same machine). 2 threads; medians.
"""
import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import command_line, publish, timed  # noqa: E402

PRODUCTS = [(128400, 4, 256), (64400, 2, 64), (64400, 1, 32)]   # tokens, rank, channels
LAYERS = [(4 * 201, 81), (4 * 81, 201)]   # demo batch 4: (batch * F, T) and (batch * T, F)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    import se_mamba.nn.mamba as mamba
    from se_mamba.nn.low_rank_linear import low_rank_linear

    torch.set_num_threads(2)
    torch.manual_seed(0)
    lines = ["# dt_proj's weight gradient (CPU, 2 threads)", "", f"`{command_line()}`", "",
             "| tokens x rank -> channels | grad_out^T @ x (ms) | (x^T @ grad_out)^T (ms) | speed-up |",
             "|---|---|---|---|"]
    for t, r, o in PRODUCTS:
        g, x = torch.randn(t, o), torch.randn(t, r)
        old = timed(lambda: g.t() @ x, 7)[0]
        new = timed(lambda: (x.t() @ g).t().contiguous(), 7)[0]
        lines.append(f"| {t} x {r} -> {o} | {old * 1e3:.2f} | {new * 1e3:.2f} | {old / new:.2f}x |")
        print(lines[-1], flush=True)
    lines += ["", "One demo-size Mamba layer (d_model 16, d_state 8), forward + backward, 30 calls each, alternating:",
              "", "| batch x length | F.linear (ms) | low_rank_linear (ms) | speed-up |", "|---|---|---|---|"]
    for b, length in LAYERS:
        layer = mamba.Mamba(d_model=16, d_state=8)
        h = torch.randn(b, length, 16)

        def run():
            layer.zero_grad()
            layer(h).square().mean().backward()

        run()
        res = {F.linear: [], low_rank_linear: []}
        try:
            for i in range(60):
                fn = (low_rank_linear, F.linear)[i % 2]
                mamba.low_rank_linear = fn
                t0 = time.perf_counter()
                run()
                res[fn].append(time.perf_counter() - t0)
        finally:
            mamba.low_rank_linear = low_rank_linear
        old, new = statistics.median(res[F.linear]), statistics.median(res[low_rank_linear])
        lines.append(f"| {b} x {length} | {old * 1e3:.1f} | {new * 1e3:.1f} | {old / new:.2f}x |")
        print(lines[-1], flush=True)
    publish("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
