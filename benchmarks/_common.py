"""Helpers shared by the benchmarks: peak-memory probes and subprocess runs.

Peak memory is the process's high-water RSS above its RSS just before the
measured call (VmHWM, reset through /proc/self/clear_refs). Each measurement
should run in a fresh process, so that memory glibc kept from an earlier case
does not hide the next case's allocations.
"""
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
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


def time_enhancer(enh, seconds, repeats, save=None):
    """(median seconds, peak extra GB) of ``enh.enhance_waveform`` on ``seconds``
    of seeded noise at the enhancer's rate, after a 1 s warm-up call;
    ``save``: a .npy path for the output of the last timed call."""
    import numpy as np

    rate = enh.sample_rate
    x = (np.random.default_rng(0).standard_normal(int(rate * seconds)) * 0.1).astype(np.float32)
    enh.enhance_waveform(x[:rate], rate)
    out = []
    res = timed(lambda: out.append(enh.enhance_waveform(x, rate)), repeats, warmup=False)
    if save:
        np.save(save, np.asarray(out[-1]))
    return res


def profile_ops(fn, top=12, shapes_of=()):
    """Self CPU time of ``fn()`` by operator (one call, after a warm-up call):
    {"ops": [[name, ms, share], ...] (the ``top`` largest), "total_ms": ...,
    "shapes": [[name, shapes, calls, ms, share], ...]}: the last, for the
    operators named in ``shapes_of``, split by input shape."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=bool(shapes_of)) as prof:
        fn()
    ev = sorted(((e.self_cpu_time_total, e.key) for e in prof.key_averages()), reverse=True)
    total = sum(t for t, _ in ev)
    by_shape = sorted(((e.self_cpu_time_total, e.key, str(e.input_shapes), e.count)
                       for e in prof.key_averages(group_by_input_shape=True) if e.key in shapes_of), reverse=True)
    return {"ops": [[k, t / 1e3, t / total] for t, k in ev[:top]], "total_ms": total / 1e3,
            "shapes": [[k, sh, n, t / 1e3, t / total] for t, k, sh, n in by_shape[:top]]}


def profile_table(label, res, err):
    """Markdown lines for a :func:`profile_ops` result (or its worker's error)."""
    lines = ["", f"Profile of {label}" + (f": {err}" if err else f", {res['total_ms']:.0f} ms of self CPU time:"),
             ""]
    if res:
        lines += ["| operator | ms | share |", "|---|---|---|"]
        lines += [f"| `{k}` | {ms:.1f} | {100 * f:.1f}% |" for k, ms, f in res["ops"]]
        if res.get("shapes"):
            lines += ["", "The same, split by input shape:", "",
                      "| operator | input shapes | calls | ms | share |", "|---|---|---|---|---|"]
            lines += [f"| `{k}` | `{sh}` | {n} | {ms:.1f} | {100 * f:.1f}% |" for k, sh, n, ms, f in res["shapes"]]
    return lines


def extract(rev, paths=("se_mamba",)):
    """``paths`` of the tree as of git revision ``rev`` (default the
    ``se_mamba`` package; ``()``: the whole tree), in a temporary folder (for
    PYTHONPATH); remove it with :func:`drop_tree`."""
    root = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                          check=True, cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    tmp = tempfile.mkdtemp(prefix="se_mamba_baseline_")
    archive = subprocess.run(["git", "archive", rev, *paths], capture_output=True, check=True, cwd=root)
    subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
    return tmp


def drop_tree(tree):
    if tree:
        shutil.rmtree(tree, ignore_errors=True)


def tree_env(tree):
    """The environment of a worker that imports se_mamba from ``tree`` (None: this checkout)."""
    if tree is None:
        return None
    return {**os.environ, "PYTHONPATH": tree + os.pathsep + os.environ.get("PYTHONPATH", "")}


def count_flops(model, wav, grad=False):
    """(counted, analytic) FLOPs of ``model.enhance(wav)`` in one pass
    (multiply-add = 2). ``counted``: ``torch.utils.flop_counter`` (matmuls,
    convolutions, attention). ``analytic``: what flop counters cannot see, added
    by forward hooks: the selective scan at 9 FLOPs per state update, +2 per
    output for D and the z gate (the convention of VMamba's
    ``selective_scan_flop_jit``), and LSTM cells at 2 * 4 * H * (input + H) per
    step and direction. ``grad=True`` runs with autograd enabled:
    nn.MultiheadAttention then takes its decomposed path (linear +
    scaled_dot_product_attention), which the counter sees; its fused inference
    kernel is invisible to it."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from se_mamba.nn import Mamba

    extra, hooks = [0], []

    def on_mamba(mod, inp, out):
        B, L, _ = inp[0].shape
        extra[0] += 9 * B * L * mod.d_inner * mod.d_state + 2 * B * L * mod.d_inner

    def on_lstm(mod, inp, out):
        B, L, I = inp[0].shape
        dirs = 2 if mod.bidirectional else 1
        extra[0] += 2 * 4 * mod.hidden_size * (I + mod.hidden_size) * B * L * dirs

    for m in model.modules():
        if isinstance(m, Mamba):
            hooks.append(m.register_forward_hook(on_mamba))
        elif isinstance(m, torch.nn.LSTM):
            hooks.append(m.register_forward_hook(on_lstm))
    counter = FlopCounterMode(display=False)
    # the fused path is also taken when no parameter requires grad (a frozen
    # pretrained interface): let them, for the counting pass only
    frozen = [p for p in model.parameters() if not p.requires_grad] if grad else []
    try:
        for p in frozen:
            p.requires_grad_(True)
        with torch.set_grad_enabled(grad), counter:
            model.enhance(wav)
    finally:
        for h in hooks:
            h.remove()
        for p in frozen:
            p.requires_grad_(False)
    return counter.get_total_flops(), extra[0]


def matmul_gflops(threads, size=2048, repeats=10, rounds=3):
    """float32 ``size`` x ``size`` matmul throughput with ``threads`` threads
    (GFLOP/s, multiply-add = 2): the best of ``rounds`` rounds of ``repeats``
    products, after one warm-up (single rounds on these machines read up to
    half the throughput now and then)."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = 0.0
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = max(best, repeats * 2 * size**3 / (time.perf_counter() - t0) / 1e9)
    return best


def command_line():
    """The command that ran this benchmark, as its tables print it:
    ``python benchmarks/NAME.py`` and its arguments, shell-quoted."""
    return " ".join([f"python benchmarks/{os.path.basename(sys.argv[0])}", *map(shlex.quote, sys.argv[1:])])


def publish(text, out=None):
    """Print a result table, and write it atomically to ``out`` if given."""
    print(text)
    if out:
        write_text_atomic(out, text + "\n")
