"""Data pipelines for paired (noisy, clean) manifests, SpeechBrain style.

Manifests are JSON ``{id: {noisy_wav, clean_wav, length, ...}}`` whose paths
may contain ``{data_root}``. Every file is read at its own rate, which must be
the recipe's ``sample_rate`` (a mismatch is a one-line error naming the file:
the recipes' data preparation resamples once, on disk, instead of every epoch).

Training items follow the originals' data loaders (SEMamba
``dataloaders/dataloader_vctk.py``, MambAttention ``dataloaders/dataloader.py``),
in this order, on the WHOLE utterance:

1. PCS on the clean utterance, when the recipe trains SEMamba+PCS
   (``target_transform``);
2. the norm factor ``sqrt(N / sum(noisy^2))`` of the noisy utterance
   (``normalisation="rms"``), which scales noisy and clean alike;
3. one random offset crops both to ``segment`` samples (zero-padded when the
   utterance is shorter).

So the level a model trains at does not depend on where the crop falls, and a
PCS target keeps the input's scale. ``normalisation=None`` leaves the levels to
the Brain (the SB models peak-normalise each crop, as sgmse does).
Valid/test items are whole, unnormalised utterances: the Brain normalises them
the way inference does.
"""
import speechbrain as sb
import torch

from .audio import read_audio
from .nn.spectral import amplitude_normalise

NORMALISATIONS = (None, "rms")


def read_training_audio(path, sample_rate):
    """A mono file as float32 ``[N]``; ValueError naming the file when its
    rate is not ``sample_rate`` or it has several channels."""
    x, fs, f = read_audio(path)
    if fs != sample_rate:
        raise ValueError(f"{path}: {fs} Hz, but this recipe trains at sample_rate {sample_rate} Hz; "
                         "resample the corpus once on disk (the recipes' data preparation does)")
    if x.ndim != 1:
        raise ValueError(f"{path}: {f.channels} channels; training expects mono files")
    return torch.from_numpy(x).float()


def crop_pair(noisy, clean, segment, generator=None):
    """Both signals cut at ONE random offset to ``segment`` samples, or
    zero-padded at the end when shorter."""
    n = noisy.shape[-1]
    if n >= segment:
        start = int(torch.randint(0, n - segment + 1, (1,), generator=generator))
        return noisy[start: start + segment], clean[start: start + segment]
    pad = segment - n
    return torch.nn.functional.pad(noisy, (0, pad)), torch.nn.functional.pad(clean, (0, pad))


def load_pair(noisy_path, clean_path, segment=None, sample_rate=16000, normalisation=None,
              target_transform=None, generator=None):
    """Read a pair and prepare it as described in the module docstring."""
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {normalisation!r}")
    noisy = read_training_audio(noisy_path, sample_rate)
    clean = read_training_audio(clean_path, sample_rate)
    if noisy.shape[-1] != clean.shape[-1]:
        raise ValueError(f"{noisy_path}: {noisy.shape[-1]} samples, but its clean reference {clean_path} "
                         f"has {clean.shape[-1]}; a training pair must be sample-aligned")
    if target_transform is not None:
        clean = target_transform(clean)
    if normalisation == "rms":
        _, noisy, clean = amplitude_normalise(noisy, clean)
    if segment:
        noisy, clean = crop_pair(noisy, clean, segment, generator)
    return noisy, clean


def make_dataset(manifest, data_root, segment=None, sort_key=None, sample_rate=16000, normalisation=None,
                 target_transform=None):
    """A ``DynamicItemDataset`` giving ``id``, ``noisy_sig`` and ``clean_sig``."""
    ds = sb.dataio.dataset.DynamicItemDataset.from_json(manifest, replacements={"data_root": data_root})

    @sb.utils.data_pipeline.takes("noisy_wav", "clean_wav")
    @sb.utils.data_pipeline.provides("noisy_sig", "clean_sig")
    def pipeline(noisy_wav, clean_wav):
        noisy, clean = load_pair(noisy_wav, clean_wav, segment, sample_rate, normalisation, target_transform)
        yield noisy
        yield clean

    ds.add_dynamic_item(pipeline)
    ds.set_output_keys(["id", "noisy_sig", "clean_sig"])
    if sort_key:
        ds = ds.filtered_sorted(sort_key=sort_key)
    return ds


def dataio_prep(hparams):
    """train/valid/test datasets from ``hparams``: manifests, ``segment``,
    ``sample_rate`` (16000), ``train_normalisation`` and ``pcs_target``."""
    root, rate = hparams["data_folder"], hparams.get("sample_rate", 16000)
    train = make_dataset(hparams["train_manifest"], root, segment=hparams["segment"], sample_rate=rate,
                         normalisation=hparams.get("train_normalisation"),
                         target_transform=hparams.get("pcs_target"))
    return {
        "train": train,
        "valid": make_dataset(hparams["valid_manifest"], root, sort_key="length", sample_rate=rate),
        "test": make_dataset(hparams["test_manifest"], root, sort_key="length", sample_rate=rate),
    }
