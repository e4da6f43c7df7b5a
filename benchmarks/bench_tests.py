"""Slow tests timed against an earlier revision, alternating, in one run: what
a change did to ``make test`` on a machine whose speed drifts between runs.

    python benchmarks/bench_tests.py --baseline REV [--out docs/bench_tests.md] NODE_ID...

The baseline is the whole tree at ``REV`` (``git archive``: tests, recipes,
package) in a temporary folder, imported first through ``PYTHONPATH``; this
checkout is the other side. Each test runs alone in a fresh pytest process,
baseline then current, test by test, so both see the same machine; the table
gives pytest's own ``call`` time of each. The fused kernel of each version is
built (or found in the cache) before any timing.
"""
import argparse
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import command_line, drop_tree, extract, publish, tree_env  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_test(tree, node):
    """pytest's call time of ``node`` run in ``tree`` (seconds), or an error line."""
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=50",
                          "--durations-min=0", node],
                         cwd=tree, env=tree_env(tree), capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        return None, (out.stdout.strip().splitlines() or ["failed"])[-1][:80]
    times = [float(m.group(1)) for m in re.finditer(r"^([\d.]+)s call\s+(\S+)$", out.stdout, re.M)]
    return sum(times), None


def _ratio(new, old):
    return f"{new / old:.2f}" if old > 0 else "–"  # a test under pytest's 0.01 s resolution


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", required=True, metavar="REV")
    p.add_argument("--out", default=None)
    p.add_argument("nodes", nargs="+", help="pytest node ids, e.g. tests/test_compare.py::test_x")
    args = p.parse_args()
    base = extract(args.baseline, paths=())
    rows = []
    try:
        for tree in (base, ROOT):  # each version's kernel, built now (not inside a timed test)
            subprocess.run([sys.executable, "-c", "from se_mamba.nn.scan_kernel import kernel_status as k; print(k())"],
                           cwd=tree, env=tree_env(tree), check=True, capture_output=True)
        for node in args.nodes:
            (old, err_old), (new, err_new) = run_test(base, node), run_test(ROOT, node)
            rows.append((node, old, new, err_old or err_new))
            print(f"{node}: {old} -> {new} {err_old or err_new or ''}", flush=True)
    finally:
        drop_tree(base)
    lines = [f"# Slow tests against {args.baseline} ({os.cpu_count()} cores)", "", f"`{command_line()}`", "",
             "pytest's call time of each test, alone in a fresh process; baseline and this version alternate.", "",
             f"| test | {args.baseline} (s) | this version (s) | ratio |", "|---|---|---|---|"]
    total_old = total_new = 0.0
    for node, old, new, err in rows:
        if err:
            lines.append(f"| `{node}` | – | – | failed: {err} |")
            continue
        total_old, total_new = total_old + old, total_new + new
        lines.append(f"| `{node}` | {old:.1f} | {new:.1f} | {_ratio(new, old)} |")
    if len(rows) > 1:
        lines.append(f"| all | {total_old:.1f} | {total_new:.1f} | {_ratio(total_new, total_old)} |")
    publish("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
