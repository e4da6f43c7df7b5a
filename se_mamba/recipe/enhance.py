#!/usr/bin/env python
"""Recipe stage: enhance a manifest's noisy files with a trained experiment
or a pretrained model, through the users' interface (``MambaEnhancer``).

    python -m se_mamba.recipe.enhance --exp exp/mini_semamba --manifest data/mini/test.json \\
        --data-root data/mini --out exp/mini_semamba/enhanced/test
    python -m se_mamba.recipe.enhance --pretrained official:semamba_vbd --manifest ... --out ...
    python -m se_mamba.recipe.enhance --exp ... --manifest data/a.json data/b.json --data-root data \
        --out exp/X/enhanced/a exp/X/enhanced/b          # several test sets, one model load

``--exp``: ``EXP/hyperparams.yaml`` (as saved by training) and the checkpoint
of best validation PESQ (the EMA weights when the training kept an EMA).
``--pretrained``: a packed folder, a hub id or ``official:NAME``. Either way
the files go through :class:`se_mamba.inference.MambaEnhancer`, so a recipe's
RESULTS.md is what a user of the CLI or the API gets (same normalisation,
chunking, resampling). Writes ``OUT/<id>.wav`` (the input's rate, float32 WAV,
written atomically, never over an input) and ``OUT/enhanced.json`` (noisy,
clean and enhanced paths for the scoring stage). Idempotent: files already
enhanced by the same model and options are kept. SB models take
``--sb-steps N`` and ``--sampler ode|sde`` (the SDE noise is seeded per
utterance, so reruns give the same bytes). Several ``--manifest`` files take
as many ``--out`` folders, in order: the recipes enhance all their test sets
in one process, which loads the model (and starts Python and torch) once.
"""
import argparse
import json
import logging
import os
import sys
import time
import zlib

from ..fileio import write_text_atomic, write_wav_atomic

logger = logging.getLogger(__name__)


def load_experiment(exp_dir, device="cpu"):
    """(generator in eval mode, SpeechBrain ``Checkpoint``: ``.path`` and
    ``.meta``, epoch/step/pesq) of a training experiment."""
    import speechbrain as sb
    from hyperpyyaml import load_hyperpyyaml

    hp_path = os.path.join(exp_dir, "hyperparams.yaml")
    if not os.path.isfile(hp_path):
        raise FileNotFoundError(f"{hp_path}: no such file (is {exp_dir} a training folder?)")
    with open(hp_path) as f:
        # the saved file still names the data/output folders; they are not used here
        hparams = load_hyperpyyaml(f, {"data_folder": exp_dir, "output_folder": exp_dir})
    recoverables = {"generator": hparams["generator"]}
    if hparams.get("ema") is not None:  # models trained with an EMA ship the EMA weights
        recoverables["ema"] = hparams["ema"]
    ckpter = sb.utils.checkpoints.Checkpointer(os.path.join(exp_dir, "save"), recoverables=recoverables)
    ckpt = ckpter.recover_if_possible(max_key="pesq")
    if ckpt is None:
        raise FileNotFoundError(f"{exp_dir}/save: no checkpoint to enhance with")
    model = hparams["ema"].model if "ema" in recoverables else hparams["generator"]
    return model.to(device).eval(), ckpt


def make_enhancer(exp=None, pretrained=None, device="cpu", sb_steps=None, sampler=None, chunk="auto",
                  savedir=None, t_max=None):
    """(MambaEnhancer, tag naming the weights) for an experiment or a pretrained
    source (``savedir``: where ``from_hparams`` keeps the fetched files)."""
    from ..inference import MambaEnhancer

    kw = dict(sb_steps=sb_steps, sampler=sampler, t_max=t_max, chunk_seconds=chunk, run_opts={"device": device})
    if pretrained:
        return MambaEnhancer.from_hparams(source=pretrained, savedir=savedir, **kw), f"pretrained {pretrained}"
    model, ckpt = load_experiment(exp, device)
    return MambaEnhancer.from_model(model, **kw), str(ckpt.path)


def timing(enhancer, seconds, audio):
    """The real-time factor record of one enhancement run: processing and
    audio seconds (file reading and writing excluded), threads and device."""
    import torch

    return {"rtf": seconds / audio, "seconds": round(seconds, 3), "audio_seconds": round(audio, 3),
            "threads": torch.get_num_threads(), "device": str(enhancer.device),
            "chunk_seconds": enhancer.chunk_seconds}


def enhance_manifest(enhancer, manifest, data_root, out_dir, tag):
    from tqdm import tqdm

    from ..audio import read_audio

    with open(manifest) as f:
        items = json.load(f)
    os.makedirs(out_dir, exist_ok=True)
    stamp_path = os.path.join(out_dir, ".checkpoint")
    tag = tag + f" sb_steps={enhancer.sb_steps} sampler={enhancer.sampler} t_max={enhancer.t_max} " \
        f"chunk={enhancer.chunk_seconds}"
    same = False
    if os.path.exists(stamp_path):
        with open(stamp_path) as f:
            same = f.read() == tag
    out_manifest = {}
    seconds = audio = 0.0
    for uid, item in tqdm(items.items(), desc="enhance", unit="utt"):
        noisy_path = item["noisy_wav"].replace("{data_root}", data_root)
        out_path = os.path.join(out_dir, f"{uid}.wav")
        if os.path.abspath(out_path) == os.path.abspath(noisy_path):
            raise ValueError(f"{out_path}: refusing to write over an input file")
        if not (same and os.path.exists(out_path)):
            wav, fs, _ = read_audio(noisy_path)
            enhancer.seed = zlib.crc32(uid.encode())  # the SDE sampler's noise, per utterance
            start = time.perf_counter()
            est = enhancer.enhance_waveform(wav, fs)
            seconds += time.perf_counter() - start
            audio += wav.shape[0] / fs
            write_wav_atomic(out_path, est.astype("float32"), fs, subtype="FLOAT")
        clean = item.get("clean_wav")
        out_manifest[uid] = {**item, "noisy_wav": noisy_path,
                             "clean_wav": clean.replace("{data_root}", data_root) if clean else None,
                             "enhanced_wav": out_path}
    write_text_atomic(stamp_path, tag)
    if audio:  # the real-time factor of this run (kept from the run that enhanced the files)
        write_text_atomic(os.path.join(out_dir, "timing.json"), json.dumps(timing(enhancer, seconds, audio)) + "\n")
    path = os.path.join(out_dir, "enhanced.json")
    write_text_atomic(path, json.dumps(out_manifest, indent=2))
    return path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--exp", help="training experiment folder")
    src.add_argument("--pretrained", help="packed folder, hub id or official:NAME")
    p.add_argument("--manifest", required=True, nargs="+", help="one or more test-set manifests")
    p.add_argument("--data-root", required=True)
    p.add_argument("--out", required=True, nargs="+", help="one output folder per manifest")
    p.add_argument("--device", default="cpu")
    p.add_argument("--sb-steps", type=int, default=None,
                   help="SB models: sampling steps (default: the model's, 1 for SBM)")
    p.add_argument("--sampler", choices=("ode", "sde"), default=None,
                   help="SB models: first-order sampler (default: the model's)")
    p.add_argument("--t-max", type=float, default=None,
                   help="SB models: the time sampling starts from (default 1; the SBM paper's check: 0.5, 0.8)")
    p.add_argument("--chunk", type=float, default=None,
                   help="chunk length in seconds (0: whole files; default: the interface's)")
    args = p.parse_args(argv)
    if args.sb_steps is not None and args.sb_steps < 1:
        p.error("--sb-steps must be >= 1")
    if args.t_max is not None and not 0 < args.t_max <= 1:
        p.error("--t-max must be in (0, 1]")
    if len(args.out) != len(args.manifest):
        p.error(f"{len(args.manifest)} --manifest files but {len(args.out)} --out folders: give one per manifest")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        enhancer, tag = make_enhancer(args.exp, args.pretrained, args.device, args.sb_steps, args.sampler,
                                      "auto" if args.chunk is None else (args.chunk or None),
                                      savedir=os.path.join(args.out[0], ".pretrained_source"), t_max=args.t_max)
        for manifest, out in zip(args.manifest, args.out):
            path = enhance_manifest(enhancer, manifest, args.data_root, out, tag)
            logger.info("enhanced with %s -> %s", tag, path)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"enhance: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
