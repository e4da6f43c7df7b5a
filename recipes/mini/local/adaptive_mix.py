"""An exploration for issue 15 (recipes/mini/README.md): SNR-adaptive
observation adding, evaluated offline on the demo's test set and on the 15
real VoiceBank-DEMAND samples.

out = (1 - w) e + w y, w = wmax * clip((snr_hat - lo) / (hi - lo), 0, 1),
snr_hat = 10 log10(sum e^2 / sum (y - e)^2): the model's own estimate of the
input SNR (e enhanced, y the input). Prints, per (lo, hi, wmax), the demo
test set's gains over noisy and the samples' PESQ / ESTOI / SI-SDR / CSIG /
speaker similarity and Whisper's WER against its transcript of the clean files.

    python recipes/mini/local/adaptive_mix.py --model recipes/mini/pretrained \
        --samples ../shared/data/voicebank_samples --test data/mini/wav/test --out exp/mini/adaptive_mix
"""
import argparse
import glob
import os

import numpy as np
import soundfile as sf

from se_mamba.asr import build_asr, error_rates
from se_mamba.inference import MambaEnhancer
from se_mamba.metrics.report import score_pair

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--model", required=True)
p.add_argument("--samples", required=True, help="folder with clean/ and noisy/ (the real samples)")
p.add_argument("--test", required=True, help="the demo test split: folder with clean/ and noisy/")
p.add_argument("--out", required=True, help="cache of the enhanced signals")
args = p.parse_args()
os.makedirs(args.out, exist_ok=True)
VB, TEST = args.samples, args.test
enh = MambaEnhancer.from_hparams(source=args.model, savedir=os.path.join(args.out, "collected"))

def load_pairs(clean_dir, noisy_dir):
    out = []
    for p in sorted(glob.glob(os.path.join(noisy_dir, "*.wav"))):
        y, fs = sf.read(p); c, _ = sf.read(os.path.join(clean_dir, os.path.basename(p)))
        out.append((os.path.basename(p), c, y, enh.enhance_file(p)))
    return out

cache = os.path.join(args.out, "enhanced.npz")
if os.path.exists(cache):
    d = np.load(cache, allow_pickle=True); vb, test = list(d["vb"]), list(d["test"])
else:
    vb = load_pairs(f"{VB}/clean", f"{VB}/noisy"); test = load_pairs(f"{TEST}/clean", f"{TEST}/noisy")
    np.savez(cache, vb=np.array(vb, dtype=object), test=np.array(test, dtype=object))

def snr_hat(y, e):
    return 10 * np.log10(np.sum(e ** 2) / (np.sum((y - e) ** 2) + 1e-12))

def mixed(items, lo, hi, wmax):
    out = []
    for n, c, y, e in items:
        w = 0.0 if wmax == 0 else wmax * np.clip((snr_hat(y, e) - lo) / (hi - lo), 0, 1)
        out.append((n, c, y, (1 - w) * e + w * y))
    return out

asr = build_asr("whisper:tiny.en")
ref_text = [asr.transcribe(c) for _, c, _, _ in vb]
noisy_text = [asr.transcribe(y) for _, _, y, _ in vb]
print("VB noisy WER", round(100 * error_rates(ref_text, noisy_text)["wer"], 1))
print("snr_hat VB", [round(snr_hat(y, e), 1) for _, _, y, e in vb])
M = ("pesq_wb", "estoi", "si_sdr", "csig", "spk_sim")
base_test = np.mean([[score_pair(c, y, 16000, ("pesq_wb", "estoi", "si_sdr"))[m] for m in ("pesq_wb", "estoi", "si_sdr")] for _, c, y, _ in test], 0)
for lo, hi, wmax in [(0, 1, 0), (0, 1, 0.3), (5, 20, 0.6), (8, 20, 0.6), (10, 25, 0.8), (5, 15, 0.5), (10, 20, 0.9)]:
    t = mixed(test, lo, hi, wmax); v = mixed(vb, lo, hi, wmax)
    ts = np.mean([[score_pair(c, o, 16000, ("pesq_wb", "estoi", "si_sdr"))[m] for m in ("pesq_wb", "estoi", "si_sdr")] for _, c, _, o in t], 0)
    vs = np.mean([[score_pair(c, o, 16000, M)[m] for m in M] for _, c, _, o in v], 0)
    wer = error_rates(ref_text, [asr.transcribe(o) for _, _, _, o in v])["wer"]
    print(f"lo {lo} hi {hi} wmax {wmax}: test gain PESQ {ts[0]-base_test[0]:+.3f} ESTOI {ts[1]-base_test[1]:+.4f} SI-SDR {ts[2]-base_test[2]:+.2f} | VB " +
          " ".join(f"{m} {x:.3f}" for m, x in zip(M, vs)) + f" WER {100*wer:.1f}", flush=True)
