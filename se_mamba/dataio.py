"""Data pipelines for paired (noisy, clean) manifests, SpeechBrain style.

Manifests are JSON ``{id: {noisy_wav, clean_wav, length, ...}}`` whose paths
may contain ``{data_root}``. Training items are random crops of
``segment`` samples (2 s by default), zero-padded when shorter, as the
originals train; valid/test items are whole utterances.
"""
import speechbrain as sb
import torch


def load_pair(noisy_path, clean_path, segment=None, sample_rate=16000):
    """Read a pair; with ``segment`` crop both at the same random offset."""
    noisy = sb.dataio.dataio.read_audio(noisy_path)
    clean = sb.dataio.dataio.read_audio(clean_path)
    n = min(noisy.shape[-1], clean.shape[-1])
    noisy, clean = noisy[..., :n], clean[..., :n]
    if segment:
        if n >= segment:
            start = int(torch.randint(0, n - segment + 1, (1,)))
            noisy, clean = noisy[start: start + segment], clean[start: start + segment]
        else:
            pad = segment - n
            noisy = torch.nn.functional.pad(noisy, (0, pad))
            clean = torch.nn.functional.pad(clean, (0, pad))
    return noisy, clean


def make_dataset(manifest, data_root, segment=None, sort_key=None):
    ds = sb.dataio.dataset.DynamicItemDataset.from_json(manifest, replacements={"data_root": data_root})

    @sb.utils.data_pipeline.takes("noisy_wav", "clean_wav")
    @sb.utils.data_pipeline.provides("noisy_sig", "clean_sig")
    def pipeline(noisy_wav, clean_wav):
        noisy, clean = load_pair(noisy_wav, clean_wav, segment)
        yield noisy
        yield clean

    ds.add_dynamic_item(pipeline)
    ds.set_output_keys(["id", "noisy_sig", "clean_sig"])
    if sort_key:
        ds = ds.filtered_sorted(sort_key=sort_key)
    return ds


def dataio_prep(hparams):
    """train/valid/test datasets from ``hparams``' manifest paths."""
    root = hparams["data_folder"]
    return {
        "train": make_dataset(hparams["train_manifest"], root, segment=hparams["segment"]),
        "valid": make_dataset(hparams["valid_manifest"], root, sort_key="length"),
        "test": make_dataset(hparams["test_manifest"], root, sort_key="length"),
    }
