"""Run the original NISQA implementation (``nisqa/NISQA_lib.py`` of the
``nisqa`` 2.0.post2 wheel, github.com/gabrielmittag/NISQA) on deterministic
stand-in weights and write its five outputs per file to reference.json, the
numbers tests/test_metrics_optional.py checks our implementation against.

    pip download --no-deps nisqa==2.0.post2 && unzip nisqa-2.0.post2-py3-none-any.whl -d /tmp/nisqa_src
    python tests/data/nisqa/make_reference.py --nisqa-src /tmp/nisqa_src

The wheel's pandas and matplotlib imports are not used by these functions;
without those packages installed they are replaced by empty stand-ins.
"""
import argparse
import json
import os
import sys
from unittest import mock

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]
FILES = ("voicebank/noisy/p232_003.wav", "voicebank/clean/p232_003.wav")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--nisqa-src", required=True, help="the unpacked wheel (holds nisqa/NISQA_lib.py)")
    a = p.parse_args()
    sys.path.insert(0, a.nisqa_src)
    for name in ("pandas", "matplotlib", "matplotlib.pyplot"):
        try:
            __import__(name)
        except ImportError:
            sys.modules[name] = mock.MagicMock()
    import nisqa.NISQA_lib as NL

    from reference_nisqa import random_state
    from se_mamba.metrics.nisqa import DEFAULT_ARGS, NISQADim

    args = DEFAULT_ARGS
    names = [n for n in NL.NISQA_DIM.__init__.__code__.co_varnames if n in args]
    official = NL.NISQA_DIM(**{n: args[n] for n in names}).eval()
    official.load_state_dict(random_state(NISQADim(args), seed=0), strict=True)
    out = {}
    for rel in FILES:
        path = os.path.join(ROOT, "tests", "data", rel)
        spec = NL.get_librosa_melspec(path, sr=args["ms_sr"], n_fft=args["ms_n_fft"],
                                      hop_length=args["ms_hop_length"], win_length=args["ms_win_length"],
                                      n_mels=args["ms_n_mels"], fmax=args["ms_fmax"])
        x, n_wins = NL.segment_specs(path, spec, args["ms_seg_length"], args["ms_seg_hop_length"],
                                     args["ms_max_segments"])
        with torch.inference_mode():
            y = official(x[None], torch.tensor(n_wins).reshape(1))[0]
        out[rel] = [float(v) for v in y]
        print(rel, out[rel])
    with open(os.path.join(HERE, "reference.json"), "w") as f:
        json.dump({"weights": "tests/reference_nisqa.py random_state(seed=0)", "outputs": out}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
