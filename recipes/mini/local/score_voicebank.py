#!/usr/bin/env python
"""Enhance the 15 real VoiceBank-DEMAND test samples with a packed model, score
them, and measure what enhancement does to Whisper.

    python recipes/mini/local/score_voicebank.py --model recipes/mini/pretrained \\
        --samples ../shared/data/voicebank_samples --out exp/mini/voicebank

``--mix-noisy A`` enhances with observation adding (``se-mamba enhance
--mix-noisy``). ``--input clean`` enhances the clean files instead: what the
model does to real speech with no noise to remove (a model that leaves speech
alone scores near ESTOI 1 and speaker similarity 1 there). The files go through ``MambaEnhancer.from_hparams`` (the users' path) into
OUT/enhanced/*.wav; ``se-mamba score --metrics all`` scores them against the
samples' clean files with the noisy files as the baseline (OUT/scores.csv,
OUT/scores.md); Whisper (``--asr``, default the bundled tiny.en) transcribes
clean, noisy and enhanced speech, and OUT/asr.md gives the WER of noisy and
enhanced against Whisper's transcript of the clean file (the samples come
without reference texts).
"""
import argparse
import glob
import os
import sys

from se_mamba.cli.main import main as se_mamba
from se_mamba.fileio import write_text_atomic, write_wav_atomic


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="packed folder (recipe stage 6)")
    p.add_argument("--samples", required=True, help="folder with clean/ and noisy/")
    p.add_argument("--out", required=True)
    p.add_argument("--asr", default="whisper:tiny.en")
    p.add_argument("--mix-noisy", type=float, default=0.0, metavar="A", help="observation adding share (0: off)")
    p.add_argument("--input", choices=("noisy", "clean"), default="noisy",
                   help="which file of each pair to enhance (clean: the model's effect on speech alone)")
    args = p.parse_args()
    from se_mamba.asr import build_asr, error_rates
    from se_mamba.inference import MambaEnhancer

    if not os.path.isfile(os.path.join(args.model, "hyperparams.yaml")):
        sys.exit(f"score_voicebank: error: {args.model}: not a packed model folder (no hyperparams.yaml)")
    enhancer = MambaEnhancer.from_hparams(source=args.model, savedir=os.path.join(args.out, "collected"),
                                          mix_noisy=args.mix_noisy)
    noisy_files = sorted(glob.glob(os.path.join(args.samples, "noisy", "*.wav")))
    if not noisy_files:
        sys.exit(f"score_voicebank: error: {args.samples}/noisy: no .wav files")
    os.makedirs(os.path.join(args.out, "enhanced"), exist_ok=True)
    for path in noisy_files:
        out = os.path.join(args.out, "enhanced", os.path.basename(path))
        source = path if args.input == "noisy" else os.path.join(args.samples, "clean", os.path.basename(path))
        write_wav_atomic(out, enhancer.enhance_file(source).astype("float32"), enhancer.sample_rate, subtype="FLOAT")
    status = se_mamba(["score", "--ref", os.path.join(args.samples, "clean"),
                       "--est", os.path.join(args.out, "enhanced"), "--noisy", os.path.join(args.samples, "noisy"),
                       "--csv", os.path.join(args.out, "scores.csv"), "--summary", os.path.join(args.out, "scores.md"),
                       "--metrics", "all", "--title", "packed model on VoiceBank-DEMAND samples"
                       + (f" (mix_noisy {args.mix_noisy})" if args.mix_noisy else "")
                       + (" (input: the clean files)" if args.input == "clean" else "")])
    asr = build_asr(args.asr)
    names = [os.path.basename(p) for p in noisy_files]
    text = {kind: [asr.transcribe_file(os.path.join(folder, n)) for n in names]
            for kind, folder in (("clean", os.path.join(args.samples, "clean")),
                                 ("noisy", os.path.join(args.samples, "noisy")),
                                 ("enhanced", os.path.join(args.out, "enhanced")))}
    rows = ["| system | WER % vs Whisper on clean | S/D/I |", "|---|---|---|"]
    for kind in ("noisy", "enhanced"):
        r = error_rates(text["clean"], text[kind])
        rows.append(f"| {kind} | {100 * r['wer']:.1f} | {r['substitutions']}/{r['deletions']}/{r['insertions']} |")
    report = "\n".join([f"# {args.asr} on {len(names)} VoiceBank-DEMAND samples", "",
                        "Reference: the same recogniser's transcript of the clean file.", "", *rows, ""])
    write_text_atomic(os.path.join(args.out, "asr.md"), report)
    print(report)
    sys.exit(status)


if __name__ == "__main__":
    main()
