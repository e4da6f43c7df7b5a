#!/usr/bin/env python
"""Write a folder of mixed-rate, mixed-format noisy files to try ``se-mamba enhance`` on.

    python examples/mixed_rate_folder.py mixed/

From the VoiceBank-DEMAND noisy test utterances bundled with the tests: one
16 kHz 16-bit WAV, one 8 kHz WAV in a subfolder, one 48 kHz stereo 24-bit
FLAC and one 44.1 kHz float WAV. Refuses to write into an existing folder.
"""
import argparse
import os
import sys

import numpy as np
import soundfile as sf

from se_mamba.audio import resample

SAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "voicebank", "noisy")
LAYOUT = [  # (source utterance, output path, rate, channels, subtype)
    ("p232_003.wav", "p232_003_16k.wav", 16000, 1, "PCM_16"),
    ("p232_015.wav", "phone/p232_015_8k.wav", 8000, 1, "PCM_16"),
    ("p232_016.wav", "p232_016_48k_stereo.flac", 48000, 2, "PCM_24"),
    ("p257_024.wav", "p257_024_44k.wav", 44100, 1, "FLOAT"),
]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    args = p.parse_args()
    if os.path.exists(args.out):
        sys.exit(f"mixed_rate_folder: {args.out} exists; give a new folder")
    for src, rel, rate, channels, subtype in LAYOUT:
        x, fs = sf.read(os.path.join(SAMPLES, src))
        y = resample(x, fs, rate)
        y = np.stack([y, 0.8 * y], 1) if channels == 2 else y
        path = os.path.join(args.out, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        sf.write(path, y, rate, subtype=subtype)
        print(f"{path}: {rate} Hz, {channels} ch, {subtype}, {len(y) / rate:.2f} s")


if __name__ == "__main__":
    main()
