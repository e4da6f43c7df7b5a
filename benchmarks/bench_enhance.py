#!/usr/bin/env python
"""Enhancement speed and memory through the user interface (MambaEnhancer), 2 CPU threads.

    python benchmarks/bench_enhance.py [--out docs/bench_enhance.md] [--models ...] [--lengths 10,60]

For each model and input length: RTF (median of ``--repeats`` calls, after a
1 s warm-up) and peak extra memory (RSS high-water mark above the RSS before
the call), with chunking (the interface's default: 10 s windows, 5 s for
models with attention along time, 1 s overlap) and without (one pass over
the whole input). Models: the packed demo models
(``recipes/mini/pretrained``, ``recipes/mini_reverb/pretrained``) and full-size
zoo models with random weights (speed does not depend on the weights). Each
case runs in a fresh process. A case that would need more memory than
``--max-gb`` (estimated from the 10 s whole-file peak, scaled linearly, or
quadratically for attention models) is skipped and marked so.

The allocator setting is the CLI's (``THP_MEM_ALLOC_ENABLE=1``, set before
torch is imported), so the numbers are what ``se-mamba enhance`` users get.
"""
import argparse
import os
import sys

os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")  # as se_mamba.cli.main: before torch loads

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import command_line, parse_args_or_work, publish, run_worker, time_enhancer  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DEFAULT_MODELS = ["recipes/mini/pretrained", "recipes/mini_reverb/pretrained", "semamba_advanced",
                  "semamba_causal", "semamba_basic", "mambattention", "mpsenet", "lstm_senet",
                  "lstm_attention", "sbm", "sbm_causal", "mamba_base"]
QUADRATIC = ("mambattention", "mpsenet", "lstm_attention")  # attention over all frames


def worker(spec):
    import torch

    from se_mamba.inference import MambaEnhancer

    model, seconds, chunked, repeats = spec
    torch.set_num_threads(2)
    torch.manual_seed(0)
    kw = {"chunk_seconds": "auto" if chunked else None, "overlap_seconds": 1.0}
    path = os.path.join(ROOT, model)
    enh = (MambaEnhancer.from_hparams(source=path, **kw) if os.path.isdir(path)
           else MambaEnhancer.from_model(model, **kw))
    if chunked and seconds <= enh.chunk_seconds:
        return {"skip": True}  # no longer than a chunk: the chunked path is the whole-file path
    sec, peak = time_enhancer(enh, seconds, repeats)
    return {"s": sec, "peak_gb": peak, "params": sum(p.numel() for p in enh.model.parameters()),
            "chunk": enh.chunk_seconds}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=None)
    p.add_argument("--models", default=",".join(DEFAULT_MODELS))
    p.add_argument("--lengths", default="10,60", help="input lengths in seconds (the first is the reference)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--max-gb", type=float, default=16.0)
    args = parse_args_or_work(p, worker)
    lengths = [float(v) for v in args.lengths.split(",")]
    lines = ["| model | parameters | input (s) | mode | RTF | peak extra GB |", "|---|---|---|---|---|---|"]
    for model in args.models.split(","):
        ref = None
        for seconds in lengths:
            for chunked in (True, False):
                mode = "chunked" if chunked else "whole"
                if not chunked and ref is not None:
                    scale = seconds / lengths[0]
                    est = ref * (scale ** 2 if any(q in model for q in QUADRATIC) else scale)
                    if est > args.max_gb:
                        lines.append(f"| {model} | | {seconds:g} | {mode} | skipped: ~{est:.0f} GB estimated | |")
                        print(lines[-1], flush=True)
                        continue
                res, err = run_worker(__file__, [model, seconds, chunked, args.repeats], timeout=3600)
                if res and res.get("skip"):
                    continue
                if res and chunked:
                    mode = f"chunked {res['chunk']:g} s"
                if err:
                    lines.append(f"| {model} | | {seconds:g} | {mode} | {err} | |")
                else:
                    if not chunked and seconds == lengths[0]:
                        ref = res["peak_gb"]
                    lines.append(f"| {model} | {res['params']:,} | {seconds:g} | {mode} | "
                                 f"{res['s'] / seconds:.3f} | {res['peak_gb']:.2f} |")
                print(lines[-1], flush=True)
    publish("\n".join(["# Enhancement through MambaEnhancer (2 CPU threads, fp32, median of "
                       f"{args.repeats})", "", f"`{command_line()}`", "", *lines]), args.out)


if __name__ == "__main__":
    main()
