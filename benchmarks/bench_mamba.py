#!/usr/bin/env python
"""Selective-scan and Mamba-layer benchmark on CPU (one table, one run).

Compares, at SEMamba-advanced shapes (d_model 64, expand 4 -> d_inner 256,
d_state 16), forward and forward+backward wall time and peak extra memory of

  (a) ``sequential``: mamba-ssm's ``selective_scan_ref`` form (decays and
      inputs materialised as B*d*L*N, a Python loop over time, autograd);
  (b) ``parallel``: a work-efficient recursive-doubling parallel scan that
      materialises B*L*d*N tensors at every level (autograd);
  (c) ``ours``: ``se_mamba`` fused C++ scan (and ``ours-torch``, the
      pure-PyTorch chunked fallback);

with 1 and 2 threads, and the share of a whole Mamba layer's time spent in
our scan.

Shapes (batch 2 for 2 s, batch 1 for 10 s; 201 bins -> 100 after the encoder):
  time pass  B=200 (2 x 100 bins),  L=321 frames
  freq pass  B=642 (2 x 321 frames), L=100 bins
  long       B=100 (1 x 100 bins),  L=1601 frames (10 s)

Every measurement runs in a fresh subprocess; peak memory is the process's
high-water RSS above its RSS once the inputs exist (VmHWM, reset before the
call). Times are the median of ``--repeats`` runs after one warm-up (one run,
no warm-up, for the slow sequential baseline). Cases whose memory or time
would be unreasonable on a 24 GB / 2-core machine are skipped and marked.

Usage::

    python benchmarks/bench_mamba.py                 # full table (~15 min)
    python benchmarks/bench_mamba.py --quick         # ours only, small repeats
    python benchmarks/bench_mamba.py --out docs/bench_mamba.md
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")  # same allocator for every variant

from _common import publish, run_worker, timed  # noqa: E402

SHAPES = {"time": (200, 321), "freq": (642, 100), "long": (100, 1601)}
D_MODEL, EXPAND, D_STATE = 64, 4, 16
D_INNER = D_MODEL * EXPAND
MEM_LIMIT_GB = 14.0  # skip materialising cases predicted above this


# --------------------------------------------------------------- variants
def scan_sequential(u, delta, A, B, C, D, z, delta_bias):
    """mamba-ssm's selective_scan_ref (layout [B, d, L] as it expects)."""
    import torch
    import torch.nn.functional as F

    u, delta, z = (t.transpose(1, 2) for t in (u, delta, z))
    B, C = B.transpose(1, 2), C.transpose(1, 2)
    delta = F.softplus(delta + delta_bias[..., None])
    deltaA = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))
    deltaB_u = torch.einsum("bdl,bnl,bdl->bdln", delta, B, u)
    x = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])
    ys = []
    for i in range(u.shape[2]):
        x = deltaA[:, :, i] * x + deltaB_u[:, :, i]
        ys.append(torch.einsum("bdn,bn->bd", x, C[:, :, i]))
    y = torch.stack(ys, dim=2) + u * D[:, None]
    return (y * F.silu(z)).transpose(1, 2)


def _doubling(a, b):
    """h_t = a_t h_{t-1} + b_t along dim 1 by recursive pairing (materialising)."""
    import torch

    L = a.shape[1]
    if L == 1:
        return b
    if L % 2:
        a = torch.cat([a, torch.ones_like(a[:, :1])], 1)
        b = torch.cat([b, torch.zeros_like(b[:, :1])], 1)
    a0, a1, b0, b1 = a[:, 0::2], a[:, 1::2], b[:, 0::2], b[:, 1::2]
    h_odd = _doubling(a1 * a0, a1 * b0 + b1)
    h_even = b0 + a0 * torch.cat([torch.zeros_like(h_odd[:, :1]), h_odd[:, :-1]], 1)
    return torch.stack([h_even, h_odd], 2).flatten(1, 2)[:, :L]


def scan_parallel(u, delta, A, B, C, D, z, delta_bias):
    import torch
    import torch.nn.functional as F

    delta = F.softplus(delta + delta_bias)
    a = torch.exp(delta.unsqueeze(-1) * A)
    b = (delta * u).unsqueeze(-1) * B.unsqueeze(2)
    h = _doubling(a, b)
    y = torch.einsum("bldn,bln->bld", h, C) + u * D
    return y * F.silu(z)


def scan_ours(backend):
    def run(u, delta, A, B, C, D, z, delta_bias):
        from se_mamba.nn.selective_scan import selective_scan_fn

        return selective_scan_fn(u, delta, A, B, C, D, z, delta_bias, True, backend=backend)

    return run


VARIANTS = {
    "sequential": scan_sequential,
    "parallel": scan_parallel,
    "ours": scan_ours("fused"),
    "ours-torch": scan_ours("torch"),
}


# ---------------------------------------------------------------- worker
def worker(spec):
    """Run one case in this (fresh) process; print a JSON result line."""
    import torch

    torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    Bsz, L = SHAPES[spec["shape"]]
    if spec["kind"] == "layer":
        from se_mamba.nn import Mamba

        layer = Mamba(D_MODEL, d_state=D_STATE, expand=EXPAND)
        x = torch.randn(Bsz, L, D_MODEL, requires_grad=True)
        fn = lambda: layer(x)  # noqa: E731
        params = [x] + list(layer.parameters())
    else:
        ins = [
            torch.randn(Bsz, L, D_INNER),
            torch.randn(Bsz, L, D_INNER) - 1.0,
            -torch.arange(1, D_STATE + 1, dtype=torch.float32).repeat(D_INNER, 1),
            torch.randn(Bsz, L, D_STATE),
            torch.randn(Bsz, L, D_STATE),
            torch.ones(D_INNER),
            torch.randn(Bsz, L, D_INNER),
            torch.zeros(D_INNER),
        ]
        for t in ins:
            t.requires_grad_()
        fn = lambda: VARIANTS[spec["variant"]](*ins)  # noqa: E731
        params = ins
        if spec["variant"] == "ours":
            from se_mamba.nn.scan_kernel import load_kernel

            load_kernel()  # build/load outside the timed region

    def once():
        if spec["mode"] == "fwd":
            with torch.no_grad():
                fn()
        else:
            out = fn()
            torch.autograd.grad(out.sum(), params)

    t, peak = timed(once, spec["repeats"], warmup=spec.get("warmup", True))
    print(json.dumps({"time": t, "peak_gb": peak}))


# ---------------------------------------------------------------- driver
def predicted_gb(variant, shape):
    """Rough peak of the materialising baselines (B*L*d*N floats per tensor)."""
    Bsz, L = SHAPES[shape]
    one = Bsz * L * D_INNER * D_STATE * 4 / 2**30
    return {"sequential": 4 * one, "parallel": 8 * one}.get(variant, 0.0)


def skip_reason(variant, shape, mode):
    if predicted_gb(variant, shape) > MEM_LIMIT_GB:
        return f"skipped: ~{predicted_gb(variant, shape):.0f} GB predicted"
    if variant == "sequential" and mode == "fwd+bwd" and shape == "long":
        return "skipped: backward quadratic in L (>30 min)"
    return None


def fmt(res, err):
    if err:
        return err, "-"
    return f"{res['time']:.3f}", f"{res['peak_gb']:.2f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="ours only, 1 repeat (a smoke run)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--shapes", default="time,freq,long")
    ap.add_argument("--out", help="also write the Markdown tables to this file")
    args = ap.parse_args()
    if args.worker:
        return worker(json.loads(args.worker))

    try:
        from tqdm import tqdm
    except ImportError:  # progress is a nicety
        tqdm = lambda x, **k: x  # noqa: E731

    threads = [int(t) for t in args.threads.split(",")]
    shapes = args.shapes.split(",")
    variants = ["ours"] if args.quick else ["sequential", "parallel", "ours", "ours-torch"]
    repeats = 1 if args.quick else args.repeats
    cases = [(v, s, n, m) for s in shapes for n in threads for v in variants for m in ("fwd", "fwd+bwd")]
    cases += [("layer", s, n, m) for s in shapes for n in threads for m in ("fwd", "fwd+bwd")]
    results = {}
    for v, s, n, m in tqdm(cases, desc="bench_mamba", unit="case"):
        reason = None if v == "layer" else skip_reason(v, s, m)
        if reason:
            results[(v, s, n, m)] = (None, reason)
            continue
        slow = v == "sequential"
        spec = {"kind": "layer" if v == "layer" else "scan", "variant": v, "shape": s, "threads": n,
                "mode": m, "repeats": 1 if slow else repeats, "warmup": not slow}
        results[(v, s, n, m)] = run_worker(__file__, spec, timeout=2400)

    import torch

    lines = [
        f"torch {torch.__version__}, {os.cpu_count()} CPUs, d_inner {D_INNER}, d_state {D_STATE}, "
        f"float32; times in s (median of {repeats}), peak = extra RSS in GB.",
        "",
        "| shape (B, L) | threads | variant | fwd s | fwd+bwd s | fwd peak GB | fwd+bwd peak GB |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in shapes:
        for n in threads:
            for v in variants + ["layer"]:
                tf, pf = fmt(*results[(v, s, n, "fwd")])
                tb, pb = fmt(*results[(v, s, n, "fwd+bwd")])
                name = "Mamba layer (ours, all of it)" if v == "layer" else v
                lines.append(f"| {s} {SHAPES[s]} | {n} | {name} | {tf} | {tb} | {pf} | {pb} |")
    lines += ["", "Ratios (same run): speed-up of ours over each baseline; scan share of the layer.", "",
              "| shape | threads | fwd+bwd vs sequential | fwd+bwd vs parallel | fwd vs sequential | "
              "fwd vs parallel | scan/layer fwd | scan/layer fwd+bwd |",
              "|---|---|---|---|---|---|---|---|"]

    def ratio(a, b, m):
        ra, rb = results.get((a, s, n, m)), results.get((b, s, n, m))
        if not ra or not rb or ra[1] or rb[1]:
            return "-"
        return f"{ra[0]['time'] / rb[0]['time']:.1f}x"

    def share(m):
        ro, rl = results[("ours", s, n, m)], results[("layer", s, n, m)]
        if ro[1] or rl[1]:
            return "-"
        return f"{ro[0]['time'] / rl[0]['time']:.0%}"

    for s in shapes:
        for n in threads:
            lines.append(f"| {s} | {n} | {ratio('sequential', 'ours', 'fwd+bwd')} | "
                         f"{ratio('parallel', 'ours', 'fwd+bwd')} | {ratio('sequential', 'ours', 'fwd')} | "
                         f"{ratio('parallel', 'ours', 'fwd')} | {share('fwd')} | {share('fwd+bwd')} |")
    publish("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
