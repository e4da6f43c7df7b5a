#!/usr/bin/env python
"""Recipe stage: pack a trained experiment into a pretrained-model folder.

    python -m se_mamba.recipe.pack --exp exp/mini/semamba_small --out recipes/mini/pretrained \\
        --results recipes/mini/RESULTS.md [--results recipes/mini/RESULTS_ASR.md]

The folder is what SpeechBrain's ``from_hparams`` / ``Pretrainer`` expect:

* ``hyperparams.yaml`` - the model definition (``se_mamba.models.build_model``
  with every constructor argument spelled out, defaults included, so the
  package builds the same model after a registry default changes), the
  package versions that made it, ``sample_rate``, ``modules`` and a
  ``pretrainer`` whose loadable ``model`` is collected from ``<source>/model.ckpt``;
* ``model.ckpt`` - the generator weights of the best validation checkpoint;
* ``train_hyperparams.yaml`` - the full training configuration, as run;
* ``README.md`` - a model card: architecture, parameters, data, training
  settings, the results tables, licence and how to load it.

Written into a staging folder and moved into place, so a reader never sees
a half-written package; an existing package is replaced only when complete.
The text files hold no date, clock time or absolute path: packing the same
training run again (another day, another clone, the same package versions)
gives the same bytes.
"""
import argparse
import os
import re
import shutil
import sys

import torch
import yaml

from ..fileio import write_text_atomic
from .enhance import load_experiment

HYPERPARAMS = """\
# se_mamba pretrained speech enhancer (packed by the recipe stage library, stage 6).
# Load: from_hparams(source=<this folder or hub id>), or see README.md.
sample_rate: 16000
{versions}model: !apply:se_mamba.models.build_model
{spec}
modules:
    model: !ref <model>

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        model: !ref <model>
"""


def package_versions():
    """{package: version} of what trains and packs a model (asteroid's
    ``serialize`` keeps the same): se_mamba, torch, torchaudio, speechbrain."""
    from importlib.metadata import PackageNotFoundError, version

    from ..version import __version__

    out = {"se_mamba": __version__}
    for name in ("torch", "torchaudio", "speechbrain"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def model_hyperparams(model):
    """The packed hyperparams.yaml text for a model built by build_model: every
    constructor argument (defaults included) and the package versions."""
    spec = model.build_spec
    if spec is None:
        raise ValueError("model was not built by se_mamba.models.build_model; cannot describe it")
    body = yaml.safe_dump(spec, sort_keys=False, default_flow_style=False)
    versions = yaml.safe_dump({"versions": package_versions()}, sort_keys=False, default_flow_style=False)
    return HYPERPARAMS.format(spec="".join("    " + line + "\n" for line in body.splitlines()),
                              versions="# the packages that trained and packed it\n" + versions + "\n")


def checkpoint_label(meta):
    """"epoch E, step S, validation PESQ P" from a SpeechBrain checkpoint's
    meta (its folder name is a clock time, which says nothing)."""
    parts = [f"{k} {meta[k]}" for k in ("epoch", "step") if k in meta]
    if isinstance(meta.get("pesq"), (int, float)):
        parts.append(f"validation PESQ {meta['pesq']:.3f}")
    return "the checkpoint of best validation PESQ" + (f": {', '.join(parts)}" if parts else "")


# SpeechBrain heads an experiment's hyperparams.yaml with the day and the
# absolute path of the YAML it read; the package keeps the file name only
_GENERATED = re.compile(r"\A# Generated \d{4}-\d{2}-\d{2} from:\n# (.*)\n")


# "key: /abs/path", or the key alone with the path on the next line (the YAML
# dump folds long values)
_SEP = r"(?:[ \t]+|[ \t]*\n[ \t]+)"
_PATH_VALUE = re.compile(rf"^([ \t]*([\w.-]+):{_SEP})(/\S+)$", re.M)


def portable_train_hyperparams(text):
    """The experiment's hyperparams.yaml without the date and absolute paths:
    ``data_folder`` and ``output_folder`` become ``!PLACEHOLDER`` again and the
    paths under them ``!ref <data_folder>/...``, so the file loads as the
    recipe's YAML does (``--data_folder D --output_folder O``).

    >>> print(portable_train_hyperparams("# Generated 2026-01-02 from:\\n# /x/hp/train.yaml\\n"
    ...       "data_folder: /d\\noutput_folder:\\n  /o/e\\nsave: /o/e/save\\nlog: /o/e\\nother: /etc/x\\n"))
    # Training configuration as run (from train.yaml)
    data_folder: !PLACEHOLDER
    output_folder:
      !PLACEHOLDER
    save: !ref <output_folder>/save
    log: !ref <output_folder>
    other: /etc/x
    <BLANKLINE>
    """
    text = _GENERATED.sub(lambda m: f"# Training configuration as run (from {os.path.basename(m.group(1))})\n",
                          text, count=1)
    roots = {}
    for key in ("output_folder", "data_folder"):
        m = re.search(rf"^{key}:{_SEP}(/\S+)$", text, re.M)
        if m:
            roots[key] = m.group(1).rstrip("/")

    def relative(m):
        head, key, value = m.group(1), m.group(2), m.group(3)
        if key in roots and not head[0].isspace():  # the top-level definitions
            return head + "!PLACEHOLDER"
        for name, root in sorted(roots.items(), key=lambda kv: -len(kv[1])):  # the longer root first
            if value == root or value.startswith(root + "/"):
                return f"{head}!ref <{name}>{value[len(root):]}"
        return m.group(0)

    return _PATH_VALUE.sub(relative, text)


def model_card(name, model, ckpt, exp, results_texts):
    n_params = sum(p.numel() for p in model.parameters())
    spec = model.build_spec or {}
    lines = [
        f"# se_mamba: {name}", "",
        f"Speech enhancement model `{spec.get('name', type(model).__name__)}` "
        f"({n_params:,} parameters, 16 kHz), packed from experiment `{os.path.basename(os.path.abspath(exp))}` "
        f"({checkpoint_label(ckpt.meta)}).", "",
        "## Use", "",
        "```python",
        "from se_mamba.inference import MambaEnhancer",
        "",
        'enh = MambaEnhancer.from_hparams(source="<this folder or hub repo id>")',
        'enh.enhance_file("noisy.wav", output_filename="enhanced.wav")  # any rate / channels',
        "```", "",
        "or `se-mamba enhance noisy/ -o enhanced/ --model <this folder>`.", "",
        "## Model", "", "```yaml", yaml.safe_dump(spec, sort_keys=False).strip(), "```", "",
        "The full training configuration is `train_hyperparams.yaml`.", "",
    ]
    for text in results_texts:
        lines += ["## " + text.lstrip("# ").split("\n", 1)[0], "", text.split("\n", 1)[1].strip(), ""]
    lines += ["## Licence", "",
              "Apache-2.0 (the se_mamba code and these weights). Trained only on data generated by "
              "se_mamba unless the results above say otherwise: speech from espeak-ng and from Piper's "
              "en_US-joe-medium voice (its dataset CC0, fine-tuned from Piper's lessac voice: see the "
              "voice's MODEL_CARD for its terms) and synthetic noise.",
              ""]
    # figures and per-utterance score paths point into the experiment folder, not the package
    text = "\n".join(lines)
    keep = [line for line in text.split("\n") if not line.startswith(("![", "Per-utterance scores:", "Transcripts:"))]
    return "\n".join(keep) + "\n"


def write_package(out, model, readme, files=()):
    """A packed folder at ``out``: ``model.ckpt``, ``hyperparams.yaml``, ``README.md``
    (text ``readme``) and ``files`` ``[(text, name)]``, built in a
    staging folder and moved into place; an existing package is replaced only
    when the new one is complete."""
    staging = out.rstrip("/") + ".staging"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    torch.save(model.state_dict(), os.path.join(staging, "model.ckpt"))
    write_text_atomic(os.path.join(staging, "hyperparams.yaml"), model_hyperparams(model))
    for text, name in files:
        write_text_atomic(os.path.join(staging, name), text)
    write_text_atomic(os.path.join(staging, "README.md"), readme)
    old = out.rstrip("/") + ".old"
    if os.path.exists(out):
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
    os.replace(staging, out)
    shutil.rmtree(old, ignore_errors=True)
    return out


def pack(exp, out, results=(), name=None):
    model, ckpt = load_experiment(exp)
    inputs = {os.path.abspath(p) for p in results} | {os.path.abspath(exp)}
    if os.path.abspath(out) in inputs:
        raise ValueError(f"{out}: refusing to pack over an input")
    texts = []
    for path in results:
        if os.path.isfile(path):
            with open(path) as f:
                texts.append(f.read())
    readme = model_card(name or os.path.basename(os.path.abspath(exp)), model, ckpt, exp, texts)
    with open(os.path.join(exp, "hyperparams.yaml")) as f:
        train_hparams = portable_train_hyperparams(f.read())
    return write_package(out, model, readme, [(train_hparams, "train_hyperparams.yaml")])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp", required=True, help="training experiment folder")
    p.add_argument("--out", required=True, help="pretrained folder to write")
    p.add_argument("--results", action="append", default=[], help="results Markdown to include (repeatable)")
    p.add_argument("--name", default=None)
    args = p.parse_args(argv)
    try:
        out = pack(args.exp, args.out, args.results, args.name)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"pack: error: {exc}", file=sys.stderr)
        return 1
    print(f"packed {args.exp} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
