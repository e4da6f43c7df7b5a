"""VoiceBank-DEMAND: download, extraction, 48 -> 16 kHz, manifests.

The corpus (Valentini-Botinhao et al., "Noisy speech database for training
speech enhancement algorithms and TTS models", Edinburgh DataShare
10283/2791, DOI 10.7488/ds/2117, CC BY 4.0): 11,572 training utterances of 28
speakers and 824 test utterances (p232, p257), 48 kHz mono, clean and noisy
files paired by name, transcripts per utterance.

    python -m se_mamba.data.voicebank --corpus_dir CORPUS --data_dir DATA [--valid_set speakers|test]
        [--download false] [--mirror URL] [--workers N]

1. the six zips from DataShare (the legacy URL form SpeechBrain's
   ``recipes/Voicebank/voicebank_prepare.py`` uses), MD5-checked where known;
   with ``--download false`` they (or their extracted folders) must already be
   in CORPUS;
2. each zip extracted once (a stamp marks it);
3. every 48 kHz folder resampled once to ``<folder>_16k`` (the names
   SpeechBrain's and SEMamba's preparation scripts use), 16-bit PCM, in
   worker processes with a progress bar; a file appears only when complete;
4. ``DATA/{train,valid,test}.json``: ``{id: {noisy_wav, clean_wav, length (s),
   words, speaker}}``. Validation holds out speakers p226 and p287 (770
   utterances; SpeechBrain's and ESPnet's convention); ``--valid_set test``
   validates on the test set instead, as the SEMamba, CMGAN and xLSTM-SENet
   code does (their checkpoint is then picked on the test set).
"""
import argparse
import os
import sys

from .download import DownloadError, download, extract
from .prep import cli_bool, paired_entries, resample_folders
from .prep import write_manifests as write_json

BASE_URL = "https://datashare.ed.ac.uk/bitstream/handle/10283/2791/"
# zip -> MD5: the values third-party copies of the DataShare item agree on;
# the transcript zips' MD5s are not known (no check, only the extraction's)
ZIPS = {
    "clean_trainset_28spk_wav.zip": "d2d5a45ec32f8fcbf201bde0447e20ba",
    "noisy_trainset_28spk_wav.zip": "1fca9e8bafb8cd069f6653c6d92f9e9c",
    "clean_testset_wav.zip": "34eb1c0ba7ef667e9b966866c542fc16",
    "noisy_testset_wav.zip": "fb1b86caa31e8ba5b506c0c64da9aab5",
    "trainset_28spk_txt.zip": None,
    "testset_txt.zip": None,
}
AUDIO = ("clean_trainset_28spk_wav", "noisy_trainset_28spk_wav", "clean_testset_wav", "noisy_testset_wav")
VALID_SPEAKERS = ("p226", "p287")


def fetch(corpus_dir, download_files=True, mirror=None, md5s=None):
    """Download (or find) and extract every zip into ``corpus_dir``."""
    md5s = ZIPS if md5s is None else md5s
    os.makedirs(corpus_dir, exist_ok=True)
    for name, md5 in md5s.items():
        folder = os.path.join(corpus_dir, name[:-4])
        archive = os.path.join(corpus_dir, name)
        if os.path.isdir(folder) and not os.path.exists(archive):
            continue  # extracted by hand, or the zip was deleted after extraction
        if download_files:
            download(BASE_URL + name, archive, md5=md5, mirror=mirror)
        elif not os.path.exists(archive):
            raise DownloadError(f"{archive}: missing (and no folder {folder}); with --download false place "
                                f"{name} from {BASE_URL}{name} in {corpus_dir}")
        extract(archive, corpus_dir)


def resample_corpus(corpus_dir, workers=2, progress=True):
    """Every 48 kHz folder -> ``<folder>_16k`` once, in worker processes."""
    resample_folders([(os.path.join(corpus_dir, f), os.path.join(corpus_dir, f"{f}_16k")) for f in AUDIO],
                     workers, progress)


def _entries(corpus_dir, clean, noisy, txt):
    return paired_entries(*(os.path.join(corpus_dir, f"{d}_16k") for d in (clean, noisy)),
                          [os.path.join(corpus_dir, txt)])


def write_manifests(corpus_dir, data_dir, valid_set="speakers"):
    """train/valid/test.json; ``valid_set`` "speakers" (p226 + p287 held out) or "test"."""
    if valid_set not in ("speakers", "test"):
        raise ValueError(f"valid_set must be 'speakers' or 'test', got {valid_set!r}")
    train = _entries(corpus_dir, "clean_trainset_28spk_wav", "noisy_trainset_28spk_wav", "trainset_28spk_txt")
    test = _entries(corpus_dir, "clean_testset_wav", "noisy_testset_wav", "testset_txt")
    if valid_set == "speakers":
        valid = {k: v for k, v in train.items() if v["speaker"] in VALID_SPEAKERS}
        train = {k: v for k, v in train.items() if v["speaker"] not in VALID_SPEAKERS}
    else:
        valid = test
    return write_json(data_dir, {"train": train, "valid": valid, "test": test})


def prepare(corpus_dir, data_dir, download_files=True, mirror=None, valid_set="speakers", workers=2,
            md5s=None, progress=True):
    fetch(corpus_dir, download_files, mirror, md5s)
    resample_corpus(corpus_dir, workers, progress)
    return write_manifests(corpus_dir, data_dir, valid_set)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus_dir", required=True, help="where the zips and the extracted folders live")
    p.add_argument("--data_dir", required=True, help="where train/valid/test.json go")
    p.add_argument("--download", type=cli_bool, default=True)
    p.add_argument("--mirror", default=None, help="base URL replacing https://datashare.ed.ac.uk")
    p.add_argument("--valid_set", default="speakers", choices=("speakers", "test"))
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 2))
    args = p.parse_args(argv)
    try:
        counts = prepare(args.corpus_dir, args.data_dir, args.download, args.mirror, args.valid_set, args.workers)
    except (DownloadError, ValueError) as exc:
        print(f"voicebank: error: {exc}", file=sys.stderr)
        return 1
    print(f"VoiceBank-DEMAND manifests in {args.data_dir}: " + ", ".join(f"{k} {v}" for k, v in counts.items())
          + (" (validation = the test set: the original SEMamba protocol)" if args.valid_set == "test" else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
