#!/usr/bin/env python
"""Check the GPU path before spending days on it (one command, a few minutes).

    python benchmarks/gpu_check.py [--out docs/gpu_check.md]
    python benchmarks/gpu_check.py --device cpu [--steps 1]    # the same steps on this CPU

On a CUDA machine, in this order (each check's failure is recorded in its row,
never the end of the run):

1. the environment: torch, CUDA, the GPU, mamba-ssm / causal-conv1d, and the
   Mamba backend that a layer resolves to;
2. a Mamba layer (paper size: d_model 64, d_state 16, expand 4) forward and
   backward on the GPU against our CPU fused kernel on the same weights
   (relative error of the output and of the input and weight gradients), and a
   streamed call (two pieces, carried state) against the offline one;
3. SEMamba advanced (2,258,769 parameters) forward and backward on 2 s of real
   VoiceBank speech, GPU against the CPU fused kernel;
4. one paper-size MetricGAN training step (MetricGANBrain from
   hparams/train/magphase.yaml: batch 4 x 2 s, PESQ targets in worker
   processes) in fp32 and in bf16 autocast: median seconds per step and peak
   GPU memory;
5. enhancing 60 s of audio with the user interface (MambaEnhancer, 30 s chunks):
   seconds, RTF, peak GPU memory.

Without CUDA it says so and exits 0. ``--device cpu`` runs checks 3-5 on the
CPU (3 compares the fused kernel with our PyTorch scan there): the full-size
CPU step time of docs/training.md comes from it, with ``--accumulate 4`` (the
batch of 4 x 2 s as 4 accumulated batches of one: a single batch of 4 needs
more than the 24 GB of our machines). ``--small`` shrinks the models (the test
suite runs the script that way).
"""
import argparse
import copy
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback

import numpy as np
import soundfile as sf
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import publish  # noqa: E402

VOICEBANK = os.path.join(ROOT, "tests", "data", "voicebank")
UTTERANCES = ["p232_003", "p232_015", "p257_008", "p257_011"]
SMALL = {"channels": 8, "num_blocks": 1, "mamba": {"d_state": 8, "expand": 2}}


def rel(a, b):
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def speech(seconds, uid="p232_003", kind="noisy"):
    """Real VoiceBank speech (tiled to ``seconds``), float32 at 16 kHz."""
    x, fs = sf.read(os.path.join(VOICEBANK, kind, f"{uid}.wav"), dtype="float32")
    assert fs == 16000
    n = int(seconds * fs)
    return torch.from_numpy(np.resize(x, n).copy())


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def peak_gb(device):
    if not device.startswith("cuda"):
        return "peak GPU memory n/a"
    return f"peak {torch.cuda.max_memory_allocated() / 2**30:.2f} GB"


def reset_peak(device):
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()


def backend_env(name):
    os.environ["SE_MAMBA_BACKEND"] = name


# ------------------------------------------------------------------ checks
def check_environment(device):
    from se_mamba.nn.backend import causal_conv1d_available, mamba_ssm_ops, resolve_backend

    rows = [("torch", torch.__version__, f"CUDA {torch.version.cuda}, Python {platform.python_version()}")]
    if device.startswith("cuda"):
        p = torch.cuda.get_device_properties(0)
        rows.append(("GPU", p.name, f"{p.total_memory / 2**30:.0f} GiB, {torch.cuda.device_count()} device(s), "
                                   f"bf16 {'yes' if torch.cuda.is_bf16_supported() else 'no'}"))
    try:
        import mamba_ssm

        ms = f"mamba-ssm {mamba_ssm.__version__}"
    except Exception as exc:  # ImportError or a missing compiled module
        ms = f"mamba-ssm not importable ({type(exc).__name__})"
    ok = mamba_ssm_ops() is not None
    rows.append(("Mamba backend", resolve_backend(device.split(":")[0]),
                 f"{ms}; selective-scan ops {'import' if ok else 'missing'}; "
                 f"causal-conv1d {'yes' if causal_conv1d_available() else 'no'}"))
    return rows


def check_mamba(device, small):
    from se_mamba.nn import Mamba

    torch.manual_seed(0)
    d_model, d_state, expand = (16, 8, 2) if small else (64, 16, 4)
    cpu = Mamba(d_model=d_model, d_state=d_state, expand=expand)
    dev = copy.deepcopy(cpu).to(device)
    x = torch.randn(4, 400, d_model)
    outs, grads = [], []
    for layer, xin, backend in ((cpu, x.clone(), "fused"), (dev, x.to(device), "auto" if device != "cpu" else "torch")):
        backend_env(backend)
        xin.requires_grad_(True)
        y = layer(xin)
        (y * torch.linspace(-1, 1, y.shape[-1], device=y.device)).square().mean().backward()
        outs.append(y)
        grads.append([xin.grad] + [p.grad for p in layer.parameters()])
    err_out = rel(outs[1], outs[0])
    err_grad = max(rel(a, b) for a, b in zip(grads[1], grads[0]))
    with torch.no_grad():
        whole = dev(x.to(device))
        first, state = dev(x[:, :150].to(device), return_state=True)
        second, _ = dev(x[:, 150:].to(device), state=state, return_state=True)
    err_stream = rel(torch.cat([first, second], 1), whole)
    return [("Mamba layer vs CPU fused", "pass" if max(err_out, err_grad) < 1e-3 else "FAIL",
             f"rel. error output {err_out:.1e}, gradients (max) {err_grad:.1e}"),
            ("Mamba streamed vs offline", "pass" if err_stream < 1e-4 else "FAIL",
             f"rel. error {err_stream:.1e} (two pieces, carried state)")]


def check_semamba(device, small):
    from se_mamba.models import build_model

    torch.manual_seed(0)
    cpu = build_model("semamba_advanced", **(SMALL if small else {}))
    dev = copy.deepcopy(cpu).to(device)
    wav = speech(2.0)[None]
    fe = cpu.front_end
    mag, pha, _ = fe.stft(wav * torch.sqrt(wav.shape[-1] / wav.pow(2).sum()))
    res = []
    for model, backend in ((cpu, "fused"), (dev, "auto" if device != "cpu" else "torch")):
        backend_env(backend)
        t0 = time.perf_counter()
        m, p, c = model(mag.to(device), pha.to(device))
        (m.square().mean() + c.square().mean()).backward()
        sync(device)
        res.append(((m, c), [q.grad for q in model.parameters()], time.perf_counter() - t0))
    err_out = max(rel(a, b) for a, b in zip(res[1][0], res[0][0]))
    err_grad = rel(torch.cat([g.flatten().cpu() for g in res[1][1]]), torch.cat([g.flatten() for g in res[0][1]]))
    n = sum(q.numel() for q in cpu.parameters())
    return [("SEMamba advanced vs CPU fused", "pass" if max(err_out, err_grad) < 1e-3 else "FAIL",
             f"{n:,} params, 2 s speech: rel. error outputs {err_out:.1e}, all gradients {err_grad:.1e}; "
             f"fwd+bwd {res[1][2]:.2f} s (first call) vs CPU {res[0][2]:.2f} s")]


def metricgan_brain(device, precision, small, out_dir, accumulate=1):
    from hyperpyyaml import load_hyperpyyaml

    overrides = {"data_folder": out_dir, "output_folder": out_dir, "model_name": "semamba_advanced",
                 "score_workers": max(1, min(4, (os.cpu_count() or 2)))}
    with open(os.path.join(ROOT, "hparams", "train", "magphase.yaml")) as f:
        hp = load_hyperpyyaml(f, overrides)
    if small:
        from se_mamba.models import build_model

        hp["modules"]["generator"] = build_model("semamba_advanced", **SMALL)
    brain = hp["brain_class"](modules=hp["modules"], hparams=hp, checkpointer=None,
                              run_opts={"device": device, "precision": precision,
                                        "grad_accumulation_factor": accumulate})
    brain.init_optimizers()
    brain.modules.train()
    return brain, hp


def training_batches(segment=32000, accumulate=1):
    """4 real VoiceBank pairs prepared as the training pipeline does them, in
    ``accumulate`` batches (one optimiser step of batch 4 either way)."""
    import speechbrain as sb

    from se_mamba.dataio import load_pair

    torch.manual_seed(0)
    items = []
    for uid in UTTERANCES:
        noisy, clean = load_pair(os.path.join(VOICEBANK, "noisy", f"{uid}.wav"),
                                 os.path.join(VOICEBANK, "clean", f"{uid}.wav"), segment=segment,
                                 normalisation="rms")
        items.append({"id": uid, "noisy_sig": noisy, "clean_sig": clean})
    k = len(items) // accumulate
    return [sb.dataio.batch.PaddedBatch(items[i:i + k]) for i in range(0, len(items), k)]


def check_step(device, precision, small, steps, accumulate=1):
    if precision == "bf16" and device.startswith("cuda") and not torch.cuda.is_bf16_supported():
        return [(f"MetricGAN step {precision}", "skipped", "no bf16 on this GPU")]
    backend_env("auto")
    with tempfile.TemporaryDirectory() as tmp:
        brain, hp = metricgan_brain(device, precision, small, tmp, accumulate)
        batches = training_batches(hp["segment"], accumulate)
        times = []
        try:
            for i in range(steps + 1):  # the first step warms up (and starts the PESQ workers)
                if i == 1:
                    reset_peak(device)
                sync(device)
                t0 = time.perf_counter()
                for batch in batches:  # one optimiser step
                    brain.step += 1
                    loss = brain.fit_batch(batch)
                sync(device)
                if i:
                    times.append(time.perf_counter() - t0)
        finally:
            brain.score_pool.close()
    med = statistics.median(times)
    ok = bool(torch.isfinite(loss)) and brain.skipped_steps == 0 and brain.optimizer_step == steps + 1
    n = sum(p.numel() for p in brain.modules.generator.parameters())
    how = f"{accumulate} x {4 // accumulate} accumulated" if accumulate > 1 else "one batch"
    return [(f"MetricGAN step {precision}", "pass" if ok else "FAIL",
             f"{med:.3f} s/step (median of {len(times)}; batch 4 x 2 s as {how}, {n:,}-param generator), "
             f"{peak_gb(device)}, loss {float(loss):.3f}, {brain.skipped_steps} skipped")]


def check_enhance(device, small, seconds=60.0):
    from se_mamba.inference import MambaEnhancer
    from se_mamba.models import build_model

    backend_env("auto")
    torch.manual_seed(0)
    enh = MambaEnhancer.from_model(build_model("semamba_advanced", **(SMALL if small else {})),
                                   run_opts={"device": device})
    enh.enhance_batch(speech(2.0)[None])  # warm-up
    wav = speech(seconds)[None]
    reset_peak(device)
    sync(device)
    t0 = time.perf_counter()
    out = enh.enhance_batch(wav)
    sync(device)
    dt = time.perf_counter() - t0
    ok = out.shape == wav.shape and bool(torch.isfinite(out).all())
    return [(f"enhance {seconds:.0f} s", "pass" if ok else "FAIL",
             f"{dt:.2f} s, RTF {dt / seconds:.4f}, {enh.chunk_seconds} s chunks, {peak_gb(device)}")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=None, help="timed training steps (default 5 on GPU, 1 on CPU)")
    parser.add_argument("--small", action="store_true", help="small models (a quick run of the script itself)")
    parser.add_argument("--accumulate", type=int, default=1, choices=(1, 2, 4),
                        help="run the batch of 4 as this many accumulated batches (memory; same step)")
    parser.add_argument("--enhance-seconds", type=float, default=60.0)
    parser.add_argument("--out", default=None, help="also write the table here (Markdown)")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here: nothing to check (use --device cpu to run the steps on the CPU)")
        return 0
    steps = args.steps or (5 if args.device.startswith("cuda") else 1)
    t_start = time.perf_counter()
    rows = []
    checks = [("environment", lambda: check_environment(args.device))]
    if args.device != "cpu":
        checks.append(("Mamba layer", lambda: check_mamba(args.device, args.small)))
    checks += [("SEMamba advanced", lambda: check_semamba(args.device, args.small)),
               ("MetricGAN step fp32", lambda: check_step(args.device, "fp32", args.small, steps, args.accumulate)),
               ("MetricGAN step bf16", lambda: check_step(args.device, "bf16", args.small, steps, args.accumulate)),
               ("enhance", lambda: check_enhance(args.device, args.small, args.enhance_seconds))]
    for name, fn in checks:
        t0 = time.perf_counter()
        try:
            new = fn()
        except Exception as exc:  # record it, go on with the next check
            traceback.print_exc()
            new = [(name, "FAIL", f"{type(exc).__name__}: {str(exc).splitlines()[0][:150]}")]
        rows += new
        for r in new:
            print(f"[{time.perf_counter() - t_start:6.1f} s] {r[0]}: {r[1]} - {r[2]} ({time.perf_counter() - t0:.1f} s)",
                  flush=True)
    lines = [f"gpu_check on {args.device}{' (small models)' if args.small else ''}, "
             f"{time.strftime('%Y-%m-%d')}, {time.perf_counter() - t_start:.0f} s in all.", "",
             "| check | result | detail |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    publish("\n".join(lines), args.out)
    return 1 if any(r[1] == "FAIL" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
