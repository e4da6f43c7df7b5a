"""First use of the fused CPU kernels (``se_mamba/csrc/mamba_cpu.cpp``): the
compile on an empty extension cache, then a load from the warm cache.

    python benchmarks/bench_kernel_build.py [--baseline REV] [--repeats 1] [--out docs/bench_kernel_build.md]

Each case runs in a fresh process with its own empty ``TORCH_EXTENSIONS_DIR``
and times :func:`se_mamba.nn.scan_kernel.load_kernel` (the build every user
pays once per machine, torch version and source); a second process times the
load from the cache it left. ``--baseline REV`` also builds the package as it
was at the git revision ``REV``, alternating baseline and current builds, so
both see the same machine.
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import command_line, drop_tree, extract, parse_args_or_work, publish, run_worker, tree_env  # noqa: E402


def worker(spec):
    from se_mamba.nn import scan_kernel

    t0 = time.perf_counter()
    module = scan_kernel.load_kernel()
    seconds = time.perf_counter() - t0
    if module is None:
        raise SystemExit(f"no kernel: {scan_kernel.kernel_status()}")
    return {"seconds": seconds, "so_kb": os.path.getsize(module.__file__) / 1024}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", default=None, metavar="REV")
    p.add_argument("--repeats", type=int, default=1, help="builds per version (each about 30-70 s on 2 cores)")
    p.add_argument("--out", default=None)
    args = parse_args_or_work(p, worker)
    base_tree = extract(args.baseline) if args.baseline else None
    trees = ([(args.baseline, base_tree)] if base_tree else []) + [("this version", None)]
    res = {label: {"build": [], "load": [], "so_kb": None} for label, _ in trees}
    try:
        for r in range(args.repeats):
            for label, tree in trees:
                cache = tempfile.mkdtemp(prefix="se_mamba_ext_")
                env = {**(tree_env(tree) or os.environ), "TORCH_EXTENSIONS_DIR": cache}
                try:
                    for kind in ("build", "load"):
                        out, err = run_worker(__file__, {}, 900, env)
                        if err:
                            raise SystemExit(f"{label}: {kind} failed: {err}")
                        res[label][kind].append(out["seconds"])
                        res[label]["so_kb"] = out["so_kb"]
                        print(f"{label} {kind} {r + 1}/{args.repeats}: {out['seconds']:.1f} s", flush=True)
                finally:
                    shutil.rmtree(cache, ignore_errors=True)
    finally:
        drop_tree(base_tree)
    lines = [f"# First use of the fused CPU kernels ({os.cpu_count()} cores)", "", f"`{command_line()}`", "",
             "Median over the repeats; build: `load_kernel()` on an empty extension cache (compile + load), "
             "load: the same call in a new process on the cache the build left.", "",
             "| version | build (s) | cached load (s) | library (KiB) |", "|---|---|---|---|"]
    for label, _ in trees:
        r = res[label]
        lines.append(f"| {label} | {statistics.median(r['build']):.1f} | {statistics.median(r['load']):.2f} | "
                     f"{r['so_kb']:.0f} |")
    if base_tree:
        ratio = statistics.median(res[args.baseline]["build"]) / statistics.median(res["this version"]["build"])
        lines += ["", f"Build speed-up over {args.baseline}: {ratio:.2f}x"]
    publish("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
