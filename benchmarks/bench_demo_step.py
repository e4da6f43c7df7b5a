#!/usr/bin/env python
"""Where one training step of the demo goes: the step of
``hparams/train/mini_semamba.yaml``'s Brain split into its parts.

    python benchmarks/bench_demo_step.py [--steps 6] [--out docs/bench_demo_step.md]

The generator, loss and optimiser are the recipe's own (built from the
YAML); the batch is the recipe's (4 x 1 s crops, RMS-normalised), cut from
the real VoiceBank-DEMAND pairs bundled with the tests. Each step runs the
parts in the Brain's order: the generator forward (STFT, network, iSTFT, the
clean STFTs), the generator losses, the backward and the AdamW step. Where
the YAML's ``brain_class`` is ``MetricGANBrain`` (the paper recipes; the
demo's ``SEBrain`` has none of it), the PESQ targets in the recipe's worker
pool, the discriminator step and the metric term come in between, as in
``MetricGANBrain.fit_batch``. One warm-up
step, then ``--steps`` timed ones, 2 threads, in one process; the float32
2048 x 2048 matmul of the same run gives the machine's speed, so the table
can be set against `make demo`'s training time on another machine.
"""
import argparse
import glob
import os
import sys
import tempfile
import time

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import command_line, matmul_gflops, publish  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
YAML = os.path.join(ROOT, "hparams", "train", "mini_semamba.yaml")
VB = os.path.join(ROOT, "tests", "data", "voicebank")


def demo_batch(batch, n):
    """``batch`` clean/noisy pairs of ``n`` samples, each pair scaled to unit
    noisy RMS (the recipe's ``train_normalisation: rms`` scales the whole
    utterance before cropping; the step's cost does not depend on which)."""
    clean, noisy = [], []
    for path in sorted(glob.glob(os.path.join(VB, "clean", "*.wav")))[:batch]:
        c = sf.read(path, dtype="float32")[0][:n]
        y = sf.read(path.replace(os.sep + "clean" + os.sep, os.sep + "noisy" + os.sep), dtype="float32")[0][:n]
        g = 1.0 / np.sqrt(np.mean(y**2))
        clean.append(c * g)
        noisy.append(y * g)
    return torch.from_numpy(np.stack(clean)), torch.from_numpy(np.stack(noisy))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--out", default=None)
    args = p.parse_args()

    from hyperpyyaml import load_hyperpyyaml

    from se_mamba.brains import MetricGANBrain
    from se_mamba.losses import batch_pesq_targets, discriminator_loss, metric_generator_loss
    from se_mamba.metrics.pool import WorkerPool

    gflops = matmul_gflops(2)
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp, open(YAML) as f:
        hp = load_hyperpyyaml(f, {"data_folder": tmp, "output_folder": tmp})
    metricgan = issubclass(hp["brain_class"], MetricGANBrain)
    gen, loss = hp["generator"], hp["loss"]
    g_opt = hp["g_opt_class"](gen.parameters())
    if metricgan:
        disc, w = hp["discriminator"], hp["metric_weight"]
        d_opt = hp["d_opt_class"](disc.parameters())
    fe, eps = gen.front_end, hp["stft_eps"]
    clean, noisy = demo_batch(hp["batch_size"], hp["segment"])
    pool = WorkerPool(hp["score_workers"])
    parts = ["generator forward", *(["PESQ targets (worker pool)", "discriminator step"] if metricgan else []),
             "generator losses" + (" + metric term" if metricgan else ""), "generator backward", "generator AdamW"]
    spent = dict.fromkeys(parts, 0.0)

    def step():
        marks = [time.perf_counter()]
        n_mag, n_pha, _ = fe.stft(noisy, eps=eps)
        mag, pha, com = gen(n_mag, n_pha)
        wav = fe.istft(mag, pha, length=noisy.shape[-1])
        c_mag, c_pha, c_com = fe.stft(clean, eps=eps)
        marks.append(time.perf_counter())
        if metricgan:
            targets = batch_pesq_targets(clean, wav.detach(), pool=pool)
            marks.append(time.perf_counter())
            d_opt.zero_grad()
            discriminator_loss(disc, c_mag, mag.detach(), targets).backward()
            d_opt.step()
            marks.append(time.perf_counter())
        ref = {"wav": clean, "mag": c_mag, "pha": c_pha, "com": c_com}
        est = {"wav": wav, "mag": mag, "pha": pha, "com": com, "com_restft": fe.stft(wav, eps=eps)[2]}
        total = loss(ref, est)[0]
        if metricgan:
            total = total + w * metric_generator_loss(disc, c_mag, mag)
        marks.append(time.perf_counter())
        g_opt.zero_grad()
        total.backward()
        marks.append(time.perf_counter())
        g_opt.step()
        marks.append(time.perf_counter())
        return np.diff(marks)

    try:
        step()  # warm-up: the pool's processes start, the kernels load
        t0 = time.perf_counter()
        for _ in range(args.steps):
            for part, s in zip(parts, step()):
                spent[part] += s
        per_step = (time.perf_counter() - t0) / args.steps
    finally:
        pool.close()
    lines = ["# One demo training step, split (hparams/train/mini_semamba.yaml)", "",
             f"`{command_line()}`", "",
             f"`{hp['brain_class'].__name__}`'s step: {args.steps} timed steps after one warm-up, 2 threads, batch {hp['batch_size']} x "
             f"{hp['segment'] / hp['sample_rate']:g} s; float32 2048 x 2048 matmul in the same run: "
             f"{gflops:.0f} GFLOP/s.", "",
             "| part | ms / step | share |", "|---|---|---|"]
    lines += [f"| {part} | {s / args.steps * 1e3:.0f} | {s / args.steps / per_step:.0%} |" for part, s in spent.items()]
    lines.append(f"| **step** | **{per_step * 1e3:.0f}** | |")
    lines.append("")
    lines.append(f"900 such steps (the demo's training): {900 * per_step / 60:.1f} min, without validation.")
    publish("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
