#!/usr/bin/env python
"""How much of each frequency band of the clean speech survives enhancement.

    python recipes/mini/local/band_balance.py --model recipes/mini/pretrained \\
        --samples ../shared/data/voicebank_samples

For every sample: the energy of the enhanced signal over the energy of the
clean signal in octave-like bands, on the frames where the clean speech is
active (within 30 dB of its loudest frame). Printed as a Markdown table, in
dB, mean over the samples. A flat row near 0 dB is a model that keeps the
speech's spectral balance; a falling row is a model that cuts high
frequencies (the demo model before the training tilt augmentation: -2.4 dB
below 250 Hz, -6.4 dB above 6 kHz on the VoiceBank samples). ``--input
clean`` enhances the clean files instead: the model's effect on speech with
no noise to remove.
"""
import argparse
import glob
import os
import sys

import numpy as np
import soundfile as sf

EDGES = (0, 250, 500, 1000, 2000, 3000, 4000, 6000, 8000)


def band_ratios_db(clean, enhanced, fs=16000, n_fft=512, hop=128):
    """Enhanced / clean energy (dB) per band of :data:`EDGES` on speech-active frames."""
    from scipy.signal import stft

    f, _, c = stft(clean, fs, nperseg=n_fft, noverlap=n_fft - hop)
    _, _, e = stft(enhanced, fs, nperseg=n_fft, noverlap=n_fft - hop)
    c, e = np.abs(c) ** 2, np.abs(e) ** 2
    frame = c.sum(0)
    active = frame > frame.max() * 1e-3
    out = []
    for lo, hi in zip(EDGES[:-1], EDGES[1:]):
        band = (f >= lo) & (f < hi) if hi < EDGES[-1] else (f >= lo)
        out.append(10 * np.log10(e[band][:, active].sum() / c[band][:, active].sum()))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="packed folder (recipe stage 6)")
    p.add_argument("--samples", required=True, help="folder with clean/ and noisy/")
    p.add_argument("--input", choices=("noisy", "clean"), default="noisy",
                   help="which file of each pair to enhance (clean: the model's effect on speech alone)")
    args = p.parse_args()
    from se_mamba.inference import MambaEnhancer

    if not os.path.isfile(os.path.join(args.model, "hyperparams.yaml")):
        sys.exit(f"band_balance: error: {args.model}: not a packed model folder (no hyperparams.yaml)")
    enhancer = MambaEnhancer.from_hparams(source=args.model, savedir=None)  # a local folder: used in place
    files = sorted(glob.glob(os.path.join(args.samples, "noisy", "*.wav")))
    if not files:
        sys.exit(f"band_balance: error: {args.samples}/noisy: no .wav files")
    rows = []
    for path in files:
        ref = os.path.join(args.samples, "clean", os.path.basename(path))
        if not os.path.isfile(ref):
            sys.exit(f"band_balance: error: {ref}: no clean reference for {path}")
        clean, fs = sf.read(ref)
        rows.append(band_ratios_db(clean, enhancer.enhance_file(path if args.input == "noisy" else ref), fs))
    bands = [f"{lo}-{hi} Hz" for lo, hi in zip(EDGES[:-1], EDGES[1:])]
    print(f"Enhanced / clean energy (dB) on speech frames, mean of {len(rows)} files, model {args.model}, "
          f"enhancing the {args.input} files\n")
    print("| " + " | ".join(bands) + " |")
    print("|" + "---|" * len(bands))
    print("| " + " | ".join(f"{x:+.1f}" for x in np.mean(rows, 0)) + " |")


if __name__ == "__main__":
    main()
