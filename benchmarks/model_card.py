#!/usr/bin/env python
"""Model card of the zoo: parameters, FLOPs, CPU real-time factor, memory.

For every registry model at its paper configuration (random weights):

* parameters;
* FLOPs of one 2 s clip (batch 1, 16 kHz) counted by
  ``torch.utils.flop_counter.FlopCounterMode``, which counts a multiply-add as
  2 FLOPs (matmuls, convolutions, attention; counted with autograd enabled so
  that attention runs through ops the counter knows). Flop counters do not see the
  selective scan (our C++ kernel, mamba-ssm's CUDA kernel) nor the LSTM
  cells: those are added analytically and shown in their own column:
  the scan as 9 FLOPs per state update (+1 per output for D and +1 for the z
  gate; the convention of VMamba's ``selective_scan_flop_jit``), the LSTM as
  2 * 4 * H * (input + H) per step and direction (its gate matmuls);
* the real-time factor (processing seconds / audio seconds, median of 3 after
  a warm-up) with 2 threads on 2 s and 10 s clips, and the peak extra memory
  of the 10 s run;
* the configuration a packed model stores (``resolved_config``).

Each model runs in a fresh process. Usage::

    python benchmarks/model_card.py [--out docs/model_card.md] [--models a,b]
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

from _common import count_flops, publish, run_worker, timed  # noqa: E402

PUBLISHED_GFLOPS_2S = {  # MambAttention paper, Table VI (Kühne et al. 2025)
    "semamba_advanced": 64.46, "mambattention": 65.52, "mpsenet": 74.29, "lstm_senet": 88.59}
DEFAULT_MODELS = ["semamba_advanced", "semamba_causal", "semamba_basic", "mambattention",
                  "mambattention_no_sharing", "mpsenet", "lstm_senet", "lstm_attention"]


def worker(spec):
    import torch

    from se_mamba.models import build_model

    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = build_model(spec["name"]).eval()
    params = sum(p.numel() for p in model.parameters())
    wav2 = torch.randn(1, 32000) * 0.1
    counted, extra = count_flops(model, wav2, grad=True)
    res = {"params": params, "counted": counted, "analytic": extra}
    for sec in (2, 10):
        wav = torch.randn(1, 16000 * sec) * 0.1

        def run():
            with torch.no_grad():
                model.enhance(wav)

        t, peak = timed(run, repeats=3)
        res[f"rtf{sec}"] = t / sec
        res[f"peak{sec}"] = peak
    print(json.dumps(res))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS))
    ap.add_argument("--out", help="also write the Markdown table here")
    args = ap.parse_args()
    if args.worker:
        return worker(json.loads(args.worker))
    from tqdm import tqdm

    import torch

    rows = [
        f"torch {torch.__version__}, {os.cpu_count()} CPUs, 2 threads, batch 1, random weights.",
        "FLOPs: multiply-add = 2 FLOPs. 'counted' = torch.utils.flop_counter; 'scan/LSTM' = analytic "
        "(uncounted by flop counters); published = MambAttention Table VI.",
        "",
        "| model | params | GFLOPs 2 s counted | + scan/LSTM | = total | published | RTF 2 s | RTF 10 s "
        "| peak GB (10 s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in tqdm(args.models.split(","), desc="model_card", unit="model"):
        res, err = run_worker(__file__, {"name": name}, timeout=1800)
        if err:
            rows.append(f"| {name} | {err} | | | | | | | |")
            continue
        pub = PUBLISHED_GFLOPS_2S.get(name)
        c, a = res["counted"] / 1e9, res["analytic"] / 1e9
        rows.append(f"| {name} | {res['params']:,} | {c:.2f} | {a:.2f} | {c + a:.2f} | "
                    f"{pub if pub else '-'} | {res['rtf2']:.3f} | {res['rtf10']:.3f} | "
                    f"{res['peak10']:.2f} |")
    publish("\n".join(rows + [""] + config_table(args.models.split(","))), args.out)


def config_table(names):
    """Each model's configuration as a packed model stores it
    (``resolved_config``: every constructor argument, nested options included)."""
    from se_mamba.models.registry import resolved_config

    rows = ["Configurations (`se_mamba.models.registry.resolved_config`, what a packed model stores):", "",
            "| model | configuration |", "|---|---|"]
    for name in names:
        cfg = json.dumps(resolved_config(name), separators=(", ", ": "))
        rows.append(f"| {name} | `{cfg}` |")
    return rows


if __name__ == "__main__":
    main()
