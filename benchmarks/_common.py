"""Helpers shared by the benchmarks: peak-memory probes and subprocess runs.

Peak memory is the process's high-water RSS above its RSS just before the
measured call (VmHWM, reset through /proc/self/clear_refs). Each measurement
should run in a fresh process, so that memory glibc kept from an earlier case
does not hide the next case's allocations.
"""
import json
import os
import subprocess
import sys
import time

from se_mamba.fileio import write_text_atomic


def rss_kb(field="VmRSS"):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def reset_peak():
    """Reset VmHWM to the current RSS; False where the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def timed(fn, repeats, warmup=True):
    """(median seconds, peak extra GB) of ``fn()`` over ``repeats`` runs."""
    if warmup:
        fn()
    times, peak_kb = [], 0
    for _ in range(repeats):
        base = rss_kb()
        ok = reset_peak()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if ok:
            peak_kb = max(peak_kb, rss_kb("VmHWM") - base)
    times.sort()
    return times[len(times) // 2], peak_kb / 2**20


def parse_args_or_work(parser, worker):
    """``parser.parse_args()`` for the parent; in a child started by
    :func:`run_worker` (hidden ``--worker SPEC``), run ``worker(spec)``, print
    its result as the last stdout line and exit."""
    import argparse

    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        sys.exit(0)
    return args


def run_worker(script, spec, timeout, env=None):
    """Run ``script --worker SPEC`` in a fresh process (environment ``env``,
    default this one's); (result dict, error)."""
    cmd = [sys.executable, os.path.abspath(script), "--worker", json.dumps(spec)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return None, f"timeout>{timeout}s"
    if out.returncode != 0:
        return None, (out.stderr.strip().splitlines() or ["failed"])[-1][:60]
    return json.loads(out.stdout.strip().splitlines()[-1]), None




def publish(text, out=None):
    """Print a result table, and write it atomically to ``out`` if given."""
    print(text)
    if out:
        write_text_atomic(out, text + "\n")
