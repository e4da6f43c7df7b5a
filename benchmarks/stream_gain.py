#!/usr/bin/env python
"""What a stream's fixed input gain costs against per-file normalisation.

    python benchmarks/stream_gain.py [--out docs/stream_gain.md]

Offline, the models scale each file by a gain computed from the whole file.
A stream uses a fixed gain instead (:func:`se_mamba.inference.streaming.default_gain`,
speech assumed at -26 dBov). This compares, on the 15 real VoiceBank-DEMAND
noisy test utterances bundled with the tests, a trained model's output with
per-file normalisation against the same model with the fixed default gain.
It also tries inputs recorded 10 dB quieter or louder than they are, which a
fixed gain does not follow. The network is the same in every row, and for a
causal model the fixed-gain rows are exactly what streaming gives. Models:
the packed demo models (SEMamba small, RMS-normalised; SBM small,
peak-normalised, trained on reverberant speech), since no trained causal
model is packed. Table: mean PESQ (wb), ESTOI and SI-SDR against the clean
references.
"""
import argparse
import os
import sys

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import publish  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
VB = os.path.join(ROOT, "tests", "data", "voicebank")
MODELS = ["recipes/mini/pretrained", "recipes/mini_reverb/pretrained"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=None)
    args = p.parse_args()

    from se_mamba.inference import MambaEnhancer
    from se_mamba.inference.streaming import default_gain
    from se_mamba.metrics.intrusive import pesq_score, si_sdr, stoi_score

    torch.set_num_threads(2)
    names = sorted(os.listdir(os.path.join(VB, "noisy")))
    pairs = [(sf.read(os.path.join(VB, "noisy", n))[0], sf.read(os.path.join(VB, "clean", n))[0]) for n in names]
    lines = ["| model | input gain | input level | PESQ | ESTOI | SI-SDR (dB) |", "|---|---|---|---|---|---|"]
    for src in MODELS:
        model = MambaEnhancer.from_hparams(source=os.path.join(ROOT, src), savedir=None).model
        g = default_gain(model)
        cases = [("per file (offline)", 1.0, None), (f"fixed {g:.2f}", 1.0, g),
                 (f"fixed {g:.2f}", 10 ** (-10 / 20), g), (f"fixed {g:.2f}", 10 ** (10 / 20), g)]
        for label, level, gain in cases:
            scores = []
            for noisy, clean in pairs:
                x = torch.from_numpy(noisy * level).float()[None]
                with torch.no_grad():
                    y = model.enhance(x) if gain is None else model.enhance(x * gain, normalise=False) / gain
                est = y[0].numpy().astype(np.float64) / level
                scores.append((pesq_score(clean, est)[0], stoi_score(clean, est, extended=True), si_sdr(clean, est)))
            m = np.mean(scores, axis=0)
            db = f"{20 * np.log10(level):+.0f} dB" if level != 1.0 else "as recorded"
            lines.append(f"| {src} | {label} | {db} | {m[0]:.3f} | {m[1]:.3f} | {m[2]:.2f} |")
            print(lines[-1], flush=True)
    noisy_m = np.mean([(pesq_score(c, n)[0], stoi_score(c, n, extended=True), si_sdr(c, n)) for n, c in pairs], axis=0)
    lines.append(f"| (noisy input) | | | {noisy_m[0]:.3f} | {noisy_m[1]:.3f} | {noisy_m[2]:.2f} |")
    publish("\n".join([f"# Fixed stream gain vs per-file normalisation ({len(pairs)} VoiceBank-DEMAND "
                       "test utterances)", "", *lines]), args.out)


if __name__ == "__main__":
    main()
