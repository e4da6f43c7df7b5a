#!/usr/bin/env python
"""Where one training step of the demo goes: the recipe Brain's own
``fit_batch`` on ``hparams/train/mini_semamba.yaml``, timed by its parts.

    python benchmarks/bench_demo_step.py [--steps 6] [--out docs/bench_demo_step.md]

The Brain is built from the YAML as ``se_mamba.recipe.train`` builds it (its
class, generator, loss and optimiser); the batch is prepared by the recipe's
own ``load_pair`` (4 x 1 s crops, RMS-normalised) from the real
VoiceBank-DEMAND pairs bundled with the tests. Nothing of the step is restated here: the script wraps the Brain's
methods (``compute_forward``, ``compute_objectives``, ``generator_loss``,
``optimizers_step``) and ``Tensor.backward`` with timers and calls
``brain.fit_batch``, so each part's time is what the recipe spends in it,
exclusive of the parts nested in it. Where the YAML's ``brain_class`` is
``MetricGANBrain`` (the paper recipes), the backward and the optimiser step
are split by phase (discriminator, generator), and the PESQ targets and the
discriminator's forward passes fall in "the rest of fit_batch". One warm-up
step, then ``--steps`` timed ones, 2 threads, in one process; the float32
2048 x 2048 matmul of the same run gives the machine's speed, so the table
can be set against `make demo`'s training time on another machine.
"""
import argparse
import os
import re
import sys
import tempfile
import time
from collections import defaultdict

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import command_line, matmul_gflops, publish  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
YAML = os.path.join(ROOT, "hparams", "train", "mini_semamba.yaml")
VB = os.path.join(ROOT, "tests", "data", "voicebank")
RUN_SH = os.path.join(ROOT, "recipes", "mini", "run.sh")
TIMED = ("compute_forward", "compute_objectives", "generator_loss", "optimizers_step")


def demo_batch(hp):
    """A SpeechBrain ``PaddedBatch`` of ``batch_size`` real pairs prepared by
    the recipe's own ``se_mamba.dataio.load_pair`` (its ``segment`` crop and
    ``train_normalisation``; crops drawn from a fixed seed)."""
    from speechbrain.dataio.batch import PaddedBatch

    from se_mamba.dataio import load_pair

    crops = torch.Generator().manual_seed(0)
    items = []
    for name in sorted(os.listdir(os.path.join(VB, "clean")))[:hp["batch_size"]]:
        noisy, clean = load_pair(os.path.join(VB, "noisy", name), os.path.join(VB, "clean", name),
                                 segment=hp["segment"], sample_rate=hp["sample_rate"],
                                 normalisation=hp["train_normalisation"], generator=crops)
        items.append({"id": name, "noisy_sig": noisy, "clean_sig": clean})
    return PaddedBatch(items)


class PartTimer:
    """Exclusive wall time per part: a part's time excludes the timed parts
    called inside it (``compute_objectives`` calls ``generator_loss``)."""

    def __init__(self, brain):
        self.brain, self.spent, self.stack = brain, defaultdict(float), []

    def wrap(self, name, fn):
        def timed(*args, **kwargs):
            phase = getattr(self.brain, "phase", None)
            label = name if phase is None else f"{name} ({phase})"
            now = time.perf_counter()
            if self.stack:  # the caller's time stops while this part runs
                outer, since = self.stack[-1]
                self.spent[outer] += now - since
            self.stack.append([label, now])
            try:
                return fn(*args, **kwargs)
            finally:
                label, since = self.stack.pop()
                now = time.perf_counter()
                self.spent[label] += now - since
                if self.stack:
                    self.stack[-1][1] = now
        return timed


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    with open(RUN_SH) as f:  # the recipe's default corpus size (its N_TRAIN)
        found = re.search(r"n_train=\$\{N_TRAIN:-(\d+)\}", f.read())
    if found is None:
        sys.exit(f"{RUN_SH}: no 'n_train=${{N_TRAIN:-N}}' line to take the demo's corpus size from")
    n_train = int(found.group(1))

    from hyperpyyaml import load_hyperpyyaml

    gflops = matmul_gflops(2)
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        with open(YAML) as f:
            hp = load_hyperpyyaml(f, {"data_folder": tmp, "output_folder": tmp})
        brain = hp["brain_class"](modules=hp["modules"], hparams=hp, run_opts={"device": "cpu"}, checkpointer=None)
        brain.on_fit_start()  # the optimisers, as fit() makes them
        brain.modules.train()
        batch = demo_batch(hp)
        timer = PartTimer(brain)
        for name in TIMED:
            if hasattr(brain, name):
                setattr(brain, name, timer.wrap(name, getattr(brain, name)))
        tensor_backward = torch.Tensor.backward
        torch.Tensor.backward = timer.wrap("backward", tensor_backward)
        try:
            brain.fit_batch(batch)  # warm-up: the pool's processes start, the kernels load
            timer.spent.clear()
            t0 = time.perf_counter()
            for _ in range(args.steps):
                brain.fit_batch(batch)
            per_step = (time.perf_counter() - t0) / args.steps
        finally:
            torch.Tensor.backward = tensor_backward
            brain.score_pool.close()
    steps = hp["number_of_epochs"] * -(-n_train // hp["batch_size"])
    rest = per_step - sum(timer.spent.values()) / args.steps
    lines = ["# One demo training step, split (hparams/train/mini_semamba.yaml)", "",
             f"`{command_line()}`", "",
             f"`{type(brain).__name__}.fit_batch`: {args.steps} timed steps after one warm-up, 2 threads, batch "
             f"{hp['batch_size']} x {hp['segment'] / hp['sample_rate']:g} s; float32 2048 x 2048 matmul in the "
             f"same run: {gflops:.0f} GFLOP/s. Each part's time excludes the parts nested in it.", "",
             "| part | ms / step | share |", "|---|---|---|"]
    lines += [f"| `{part}` | {s / args.steps * 1e3:.0f} | {s / args.steps / per_step:.0%} |"
              for part, s in sorted(timer.spent.items(), key=lambda kv: -kv[1])]
    lines.append(f"| the rest of `fit_batch` | {rest * 1e3:.0f} | {rest / per_step:.0%} |")
    lines.append(f"| **step** | **{per_step * 1e3:.0f}** | |")
    lines.append("")
    lines.append(f"{steps} such steps (the demo's training: {hp['number_of_epochs']} epochs of the {n_train}-utterance "
                 f"corpus in batches of {hp['batch_size']}): {steps * per_step / 60:.1f} min, without validation.")
    publish("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
