"""VB-DemandEx (Kühne et al., MambAttention): download, extraction, manifests.

VoiceBank speech re-mixed with DEMAND noise split by channel, babble and
speech-shaped noise at segmental SNRs of -10 ... 20 dB; 16 kHz; 10,842
training utterances (26 speakers), 730 validation (p282 + p287), 826 test
(p232, p257). Published on the Hugging Face hub as the dataset
``NikolaiKyhne/VB-DemandEx`` (zips of the folders
``{clean,noisy}_{train,valid,test}``; the MambAttention README's route is
``huggingface_hub.snapshot_download`` and unzipping every zip in place).

    python -m se_mamba.data.vb_demandex --corpus_dir CORPUS --data_dir DATA
        [--download false] [--hf_endpoint URL] [--transcripts DIR ...]

1. the file list of the dataset repository from the hub's API
   (``/api/datasets/<repo>?blobs=true``: names and the SHA-256 of each LFS
   file), then every zip from ``/datasets/<repo>/resolve/main/<file>`` with
   resumable, SHA-256-checked downloads; ``--hf_endpoint`` (or
   ``HF_ENDPOINT``) names a hub mirror. With ``--download false`` the zips or
   their extracted folders must already be in CORPUS;
2. each zip extracted once; the six split folders are found wherever the
   zips put them (``VB-DemandEx/clean_train`` or ``clean_train``);
3. folders not at 16 kHz get a 16 kHz copy (``<folder>_16k``);
4. ``DATA/{train,valid,test}.json`` with the published split (clean and noisy
   paired by file name). The corpus has no transcripts; ``--transcripts``
   folders holding ``<id>.txt`` (VoiceBank-DEMAND's ``trainset_28spk_txt``,
   ``testset_txt``: the same utterance names) fill ``words`` for stage 5.
"""
import argparse
import os
import sys
import urllib.parse

from .download import DownloadError, download, extract, fetch_json
from .prep import at_16k, cli_bool, paired_entries, write_manifests

REPO = "NikolaiKyhne/VB-DemandEx"
HF = "https://huggingface.co"
SPLITS = ("train", "valid", "test")
FOLDERS = tuple(f"{kind}_{split}" for split in SPLITS for kind in ("clean", "noisy"))


def endpoint(hf_endpoint=None):
    return (hf_endpoint or os.environ.get("HF_ENDPOINT") or HF).rstrip("/")


def list_zips(hf_endpoint=None, repo=REPO):
    """``{file name in the repo: sha256 or None}`` of the dataset's zips."""
    url = f"{endpoint(hf_endpoint)}/api/datasets/{repo}?blobs=true"
    info = fetch_json(url, what=f"file list of {repo}")
    zips = {s["rfilename"]: (s.get("lfs") or {}).get("sha256") for s in info.get("siblings", [])
            if s.get("rfilename", "").endswith(".zip")}
    if not zips:
        raise DownloadError(f"{url}: the dataset lists no zip files")
    return zips


def find_folders(corpus_dir):
    """``{clean_train: path, ...}``: the split folders under ``corpus_dir`` (any depth)."""
    found = {}
    for root, dirs, _ in os.walk(corpus_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not d.endswith("_16k"))
        for d in dirs:
            if d in FOLDERS and d not in found:
                found[d] = os.path.join(root, d)
    return found


def fetch(corpus_dir, download_files=True, hf_endpoint=None):
    """Download (or find) and extract the zips into ``corpus_dir``."""
    os.makedirs(corpus_dir, exist_ok=True)
    if len(find_folders(corpus_dir)) == len(FOLDERS):
        return  # extracted before, or placed by hand
    if not download_files:
        archives = sorted(f for f in os.listdir(corpus_dir) if f.endswith(".zip"))
        if not archives:
            raise DownloadError(f"{corpus_dir}: no VB-DemandEx zips or folders {', '.join(FOLDERS)}; with "
                                f"--download false place the zips of {HF}/datasets/{REPO} there")
    else:
        archives = []
        base = endpoint(hf_endpoint)
        try:
            zips = list_zips(hf_endpoint)
        except DownloadError as exc:
            raise DownloadError(f"{exc}; or place the zips of {HF}/datasets/{REPO} in {corpus_dir} and run "
                                "with --download false") from None
        for name, sha in zips.items():
            dest = os.path.join(corpus_dir, os.path.basename(name))
            download(f"{base}/datasets/{REPO}/resolve/main/{urllib.parse.quote(name)}", dest, sha256=sha)
            archives.append(os.path.basename(name))
    for name in archives:
        extract(os.path.join(corpus_dir, name), corpus_dir)


def prepare(corpus_dir, data_dir, download_files=True, hf_endpoint=None, transcripts=(), workers=2,
            progress=True):
    fetch(corpus_dir, download_files, hf_endpoint)
    folders = find_folders(corpus_dir)
    missing = [f for f in FOLDERS if f not in folders]
    if missing:
        raise ValueError(f"{corpus_dir}: no folder {', '.join(missing)} after extraction (VB-DemandEx layout: "
                         "VB-DemandEx/{clean,noisy}_{train,valid,test}/*.wav)")
    folders = {k: at_16k(v, workers, progress) for k, v in folders.items()}
    return write_manifests(data_dir, {s: paired_entries(folders[f"clean_{s}"], folders[f"noisy_{s}"], transcripts)
                                      for s in SPLITS})


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus_dir", required=True, help="where the zips and the extracted folders live")
    p.add_argument("--data_dir", required=True, help="where train/valid/test.json go")
    p.add_argument("--download", type=cli_bool, default=True)
    p.add_argument("--hf_endpoint", default=None, help=f"hub base URL (default $HF_ENDPOINT or {HF})")
    p.add_argument("--transcripts", nargs="*", default=[], help="folders of <id>.txt transcripts")
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 2))
    args = p.parse_args(argv)
    try:
        counts = prepare(args.corpus_dir, args.data_dir, args.download, args.hf_endpoint, args.transcripts,
                         args.workers)
    except (DownloadError, ValueError) as exc:
        print(f"vb_demandex: error: {exc}", file=sys.stderr)
        return 1
    print(f"VB-DemandEx manifests in {args.data_dir}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
