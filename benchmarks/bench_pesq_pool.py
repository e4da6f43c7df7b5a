#!/usr/bin/env python
"""PESQ for MetricGAN and validation: a thread pool (before) against the
persistent worker processes (now), in one run.

    python benchmarks/bench_pesq_pool.py [--out docs/bench_pesq_pool.md]

pesq 0.0.4 holds the GIL for a whole call, so the thread pool the Brains used
ran PESQ one item at a time. Measured on real VoiceBank speech
(tests/data/voicebank), 2 workers either way:

1. the discriminator's PESQ targets of one batch (4 x 2 s): serial, 2 threads,
   2 persistent processes (median of 10 calls);
2. validation scores (PESQ, ESTOI, SI-SDR) of the 15 utterances;
3. a whole MetricGAN training step of the demo-size SEMamba (16 channels,
   2 blocks; batch 4 x 2 s) with each PESQ implementation (median of 5).
"""
import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import soundfile as sf
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import publish  # noqa: E402

VB = os.path.join(ROOT, "tests", "data", "voicebank")
WORKERS = 2


def pairs(seconds=None):
    out = []
    for name in sorted(os.listdir(os.path.join(VB, "clean"))):
        c, _ = sf.read(os.path.join(VB, "clean", name))
        e, _ = sf.read(os.path.join(VB, "noisy", name))
        n = len(c) if seconds is None else int(seconds * 16000)
        out.append((np.resize(c, n), np.resize(e, n)))
    return out


def thread_pesq_targets(clean, est, fs=16000, pool=None):
    """The Brains' PESQ targets before: the same items in a thread pool."""
    from se_mamba.losses.metric import _pesq_or_nan

    c = np.asarray(clean.detach().float().cpu(), dtype=np.float64)
    e = np.asarray(est.detach().float().cpu(), dtype=np.float64)
    with ThreadPoolExecutor(max_workers=WORKERS) as tp:
        scores = list(tp.map(lambda i: _pesq_or_nan(c[i], e[i], fs), range(len(c))))
    return (torch.tensor(scores, dtype=torch.float32) - 1.0) / 3.5


def median_time(fn, n):
    fn()  # warm-up (and the pool's start)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(WORKERS)
    from se_mamba.brains.base import score_valid_pair
    from se_mamba.losses.metric import batch_pesq_targets
    from se_mamba.metrics.pool import WorkerPool

    pool = WorkerPool(WORKERS)
    batch = pairs(2.0)[:4]
    clean = torch.tensor(np.stack([c for c, _ in batch]), dtype=torch.float32)
    est = torch.tensor(np.stack([e for _, e in batch]), dtype=torch.float32)
    rows = []
    serial = median_time(lambda: batch_pesq_targets(clean, est), 10)
    threads = median_time(lambda: thread_pesq_targets(clean, est), 10)
    procs = median_time(lambda: batch_pesq_targets(clean, est, pool=pool), 10)
    rows.append(("PESQ targets, batch 4 x 2 s", serial, threads, procs))

    utts = pairs()
    with ThreadPoolExecutor(max_workers=WORKERS) as tp:
        t_threads = median_time(lambda: list(tp.map(score_valid_pair, utts)), 3)
    t_procs = median_time(lambda: [f.result() for f in [pool.submit(score_valid_pair, p) for p in utts]], 3)
    t_serial = median_time(lambda: [score_valid_pair(p) for p in utts], 3)
    rows.append((f"validation scores, {len(utts)} utterances", t_serial, t_threads, t_procs))

    step_times = metricgan_steps(pool, batch)
    rows.append(("MetricGAN step, demo SEMamba, batch 4 x 2 s", float("nan"), *step_times))
    pool.close()

    lines = [f"PESQ in threads against persistent processes: {WORKERS} workers, torch threads {WORKERS}, "
             f"{os.cpu_count()} CPUs, real VoiceBank speech; one run.", "",
             "| work | serial s | 2 threads s (before) | 2 processes s (now) | speed-up |",
             "|---|---|---|---|---|"]
    for name, s, t, p in rows:
        lines.append(f"| {name} | {'-' if s != s else f'{s:.3f}'} | {t:.3f} | {p:.3f} | {t / p:.2f}x |")
    publish("\n".join(lines), args.out)


def metricgan_steps(pool, batch):
    """Median seconds per MetricGAN step with thread PESQ, then with the pool."""
    import speechbrain as sb
    from hyperpyyaml import load_hyperpyyaml

    import tempfile

    import se_mamba.brains.enhancement as enh
    from se_mamba.brains import MetricGANBrain

    with tempfile.TemporaryDirectory() as tmp, open(os.path.join(ROOT, "hparams", "train", "mini_semamba.yaml")) as f:
        hp = load_hyperpyyaml(f, {"data_folder": tmp, "output_folder": tmp, "score_workers": WORKERS})
        brain = MetricGANBrain(modules=hp["modules"], hparams=hp, run_opts={"device": "cpu"}, checkpointer=None)
    brain.init_optimizers()
    brain.modules.train()
    brain.score_pool = pool
    items = [{"id": str(i), "noisy_sig": torch.tensor(e, dtype=torch.float32),
              "clean_sig": torch.tensor(c, dtype=torch.float32)} for i, (c, e) in enumerate(batch)]
    padded = sb.dataio.batch.PaddedBatch(items)

    def step():
        brain.step += 1
        brain.fit_batch(padded)

    original = enh.batch_pesq_targets
    out = []
    for impl in (thread_pesq_targets, original):
        enh.batch_pesq_targets = impl
        out.append(median_time(step, 5))
    enh.batch_pesq_targets = original
    return out


if __name__ == "__main__":
    main()
