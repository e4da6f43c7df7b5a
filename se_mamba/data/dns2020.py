"""DNS Challenge 2020 test sets (Reddy et al., Interspeech 2020;
github.com/microsoft/DNS-Challenge, branch ``interspeech2020/master``).

Three evaluation sets of 16 kHz audio:

* ``dns2020_no_reverb``: 150 noisy 10 s clips
  ``clnsp<N>_<noise>_snr<S>_tl-<T>_fileid_<ID>.wav`` with their clean speech
  ``clean_fileid_<ID>.wav`` (paired on ``fileid_<ID>``): intrusive metrics;
* ``dns2020_with_reverb``: the same with reverberant speech. Its "clean"
  files are the reverberant speech (DNS-Challenge issue #8), so the manifest
  gives no clean reference (``clean_wav: null``; the reverberant one is kept as
  ``reverberant_clean_wav``) and the set is scored with DNSMOS only, as
  MambAttention reports it, plus speaker similarity against the reverberant
  speech (``speaker_ref_wav``) where a recipe asks for it, as the SBM paper
  reports it;
* ``dns2020_real``: 300 real recordings, no reference: DNSMOS, and speaker
  similarity of the output to its input (``speaker_ref_wav`` = the recording).

With ``--voicebank_dir`` a fourth set, ``voicebank_test``: VoiceBank-DEMAND's
test pairs, the SBM paper's fourth test set (Yang et al., 2025, score the
same models on DNS 2020 and VoiceBank-DEMAND), from a corpus folder that
``recipes/voicebank`` prepared (``clean_testset_wav``, ``noisy_testset_wav``,
``testset_txt``; 48 kHz folders get a 16 kHz copy once) or any folder with
``clean/`` and ``noisy/`` files of the same names.

    python -m se_mamba.data.dns2020 --dns_dir DIR --data_dir DATA       # a copy you have
    python -m se_mamba.data.dns2020 --corpus_dir CORPUS --data_dir DATA  # download

``--dns_dir``: a DNS-Challenge checkout (with ``git lfs pull -I
datasets/test_set``), its ``datasets/test_set`` folder, or any folder holding
``synthetic/{no_reverb,with_reverb}/{clean,noisy}`` and ``real_recordings``.
Without it, the test-set files are fetched from GitHub: the folder listings
from the contents API, each file's Git LFS pointer (its SHA-256 and size) from
raw.githubusercontent.com and the audio from media.githubusercontent.com
(GitHub's LFS download route), resumable and SHA-256-checked, into
``CORPUS/datasets/test_set/...``. ``--mirror BASE`` serves the three under
``BASE/api``, ``BASE/raw`` and ``BASE/media``.
"""
import argparse
import os
import sys
import urllib.parse
import urllib.request

from ..fileio import write_bytes_atomic, write_text_atomic
from .download import DownloadError, download, fetch_bytes, fetch_json
from .prep import at_16k, cli_bool, pair_key, paired_entries, wav_length, write_manifests

OWNER_REPO = "microsoft/DNS-Challenge"
BRANCH = "interspeech2020/master"
TEST_SET = "datasets/test_set"
SUBFOLDERS = ("synthetic/no_reverb/clean", "synthetic/no_reverb/noisy", "synthetic/with_reverb/clean",
              "synthetic/with_reverb/noisy", "real_recordings")
HOSTS = {"api": "https://api.github.com", "raw": "https://raw.githubusercontent.com",
         "media": "https://media.githubusercontent.com/media"}
FILEID = r"fileid_(\d+)\.wav$"
SETS = ("dns2020_no_reverb", "dns2020_with_reverb", "dns2020_real")
SOURCES = ("datasets/clean", "datasets/noise")  # the training speech (LibriVox readers) and noise


def hosts(mirror=None):
    if not mirror:
        return dict(HOSTS)
    return {k: f"{mirror.rstrip('/')}/{k}" for k in HOSTS}


def lfs_pointer(text):
    """(sha256, size) of a Git LFS pointer file's text, or None when it is not one.

    >>> lfs_pointer("version https://git-lfs.github.com/spec/v1\\noid sha256:ab12\\nsize 42\\n")
    ('ab12', 42)
    """
    if not text.startswith("version https://git-lfs"):
        return None
    fields = dict(line.split(" ", 1) for line in text.splitlines() if " " in line)
    return fields["oid"].split(":", 1)[1], int(fields["size"])


def fetch(corpus_dir, mirror=None, progress=True):
    """The five test-set folders from GitHub into ``CORPUS/datasets/test_set``."""
    from tqdm import tqdm

    h = hosts(mirror)
    ref = urllib.parse.quote(BRANCH, safe="")
    hint = (f"or clone {OWNER_REPO} (branch {BRANCH}), run `git lfs pull -I {TEST_SET}` and pass "
            "--dns_dir")
    for sub in SUBFOLDERS:
        path = f"{TEST_SET}/{sub}"
        out = os.path.join(corpus_dir, path)
        stamp = os.path.join(out, ".complete")
        os.makedirs(out, exist_ok=True)
        if os.path.exists(stamp):
            continue
        try:
            listing = fetch_json(f"{h['api']}/repos/{OWNER_REPO}/contents/{path}?ref={ref}",
                                 what=f"listing of {path}")
            files = sorted(e["name"] for e in listing if e.get("type") == "file" and e["name"].endswith(".wav"))
            for name in tqdm(files, desc=f"DNS 2020 {sub}", unit="file", disable=not progress, file=sys.stderr):
                fetch_file(h, f"{path}/{name}", os.path.join(out, name))
        except DownloadError as exc:
            raise DownloadError(f"{exc}; {hint}") from None
        write_text_atomic(stamp, f"{len(files)} files\n")


def fetch_file(h, path, dest):
    """One repository file into ``dest`` (kept when there): its Git LFS pointer
    from the raw host, then the content from the media host, SHA-256-checked."""
    if os.path.exists(dest):
        return
    rel = urllib.parse.quote(f"{OWNER_REPO}/{BRANCH}/{path}")
    head = fetch_bytes(f"{h['raw']}/{rel}")
    pointer = lfs_pointer(head[:200].decode("ascii", "replace"))
    if pointer is None:  # stored in Git itself: the raw bytes are the file
        write_bytes_atomic(dest, head)
        return
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    download(f"{h['media']}/{rel}", dest, sha256=pointer[0], progress=False)


def list_folder(h, path):
    """The .wav files of repository folder ``path`` on the branch, through the
    Git trees API one level at a time (the contents API lists 1,000 files at
    most; the training folders hold tens of thousands)."""
    entries = fetch_json(f"{h['api']}/repos/{OWNER_REPO}/git/trees/{urllib.parse.quote(BRANCH, safe='')}",
                         what=f"tree of {BRANCH}")["tree"]
    for depth, part in enumerate(path.split("/")):
        sub = next((e for e in entries if e["path"] == part and e["type"] == "tree"), None)
        if sub is None:
            raise DownloadError(f"{'/'.join(path.split('/')[:depth + 1])}: no such folder in {OWNER_REPO} "
                                f"({BRANCH})")
        tree = fetch_json(f"{h['api']}/repos/{OWNER_REPO}/git/trees/{sub['sha']}", what=f"tree of {part}")
        if tree.get("truncated"):
            raise DownloadError(f"{path}: GitHub truncated the listing")
        entries = tree["tree"]
    return sorted(e["path"] for e in entries if e["type"] == "blob" and e["path"].endswith(".wav"))


def subset(names, max_files, keep=()):
    """The names matching any of ``keep``, plus ``max_files`` of the others
    spread evenly over their sorted list (many readers, not the first few).

    >>> subset(["a1", "a2", "b1", "b2", "v1"], 2, keep=("v",))
    ['a1', 'b1', 'v1']
    """
    kept = [n for n in names if any(k in n for k in keep)]
    rest = [n for n in names if not any(k in n for k in keep)]
    if not max_files or max_files >= len(rest):
        return sorted(names)
    step = len(rest) / max_files
    return sorted(kept + [rest[int(i * step)] for i in range(max_files)])


def fetch_sources(corpus_dir, mirror=None, max_files=None, keep=(), progress=True):
    """The training sources ``datasets/clean`` and ``datasets/noise`` into
    ``CORPUS/datasets/...`` (``max_files`` per folder: an evenly spread subset;
    ``keep``: name parts always fetched, the validation readers). Returns the
    two folders."""
    from tqdm import tqdm

    h = hosts(mirror)
    hint = (f"or clone {OWNER_REPO} (branch {BRANCH}), run `git lfs pull -I datasets/clean,datasets/noise` "
            "and pass --dns_dir")
    out = {}
    for sub in SOURCES:
        folder = os.path.join(corpus_dir, sub)
        stamp = os.path.join(folder, f".complete_{max_files or 'all'}")
        out[sub] = folder
        if os.path.exists(stamp):
            continue
        try:
            names = subset(list_folder(h, sub), max_files, keep if sub.endswith("clean") else ())
            for name in tqdm(names, desc=f"DNS 2020 {sub}", unit="file", disable=not progress, file=sys.stderr):
                fetch_file(h, f"{sub}/{name}", os.path.join(folder, name))
        except DownloadError as exc:
            raise DownloadError(f"{exc}; {hint}") from None
        write_text_atomic(stamp, f"{len(names)} files\n")
    return out["datasets/clean"], out["datasets/noise"]


def find_test_set(dns_dir):
    """The folder holding ``synthetic/`` and ``real_recordings/`` inside ``dns_dir``."""
    for cand in (dns_dir, os.path.join(dns_dir, TEST_SET), os.path.join(dns_dir, "test_set")):
        if os.path.isdir(os.path.join(cand, "synthetic")):
            return cand
    raise ValueError(f"{dns_dir}: no synthetic/ folder (expected a DNS-Challenge checkout, its {TEST_SET} "
                     "folder, or a folder with synthetic/{no_reverb,with_reverb}/{clean,noisy})")


def _synthetic(test_set, reverb, workers, progress):
    base = os.path.join(test_set, "synthetic", reverb)
    clean_dir, noisy_dir = (at_16k(os.path.join(base, k), workers, progress) for k in ("clean", "noisy"))
    clean = {pair_key(f, FILEID): os.path.join(clean_dir, f) for f in os.listdir(clean_dir) if f.endswith(".wav")}
    items = {}
    for f in sorted(os.listdir(noisy_dir)):
        if not f.endswith(".wav"):
            continue
        fid = pair_key(f, FILEID)
        if fid is None:
            raise ValueError(f"{os.path.join(noisy_dir, f)}: no fileid_<ID> in the name")
        if fid not in clean:
            raise ValueError(f"{os.path.join(noisy_dir, f)}: no clean_fileid_{fid}.wav in {clean_dir}")
        noisy = os.path.join(noisy_dir, f)
        item = {"noisy_wav": noisy, "clean_wav": clean[fid], "length": wav_length(noisy), "words": ""}
        if reverb == "with_reverb":  # the reference is reverberant: no intrusive metrics
            item = {**item, "clean_wav": None, "reverberant_clean_wav": clean[fid], "speaker_ref_wav": clean[fid]}
        items[f"{reverb}_fileid_{fid}"] = item
    return items


def _real(test_set, workers, progress):
    folder = at_16k(os.path.join(test_set, "real_recordings"), workers, progress)
    # no reference: the speaker similarity of an output is measured against its input
    return {f"real_{f[:-4]}": {"noisy_wav": os.path.join(folder, f), "clean_wav": None,
                               "speaker_ref_wav": os.path.join(folder, f),
                               "length": wav_length(os.path.join(folder, f)), "words": ""}
            for f in sorted(os.listdir(folder)) if f.endswith(".wav")}


def _voicebank(voicebank_dir, workers, progress):
    for clean, noisy, txt in (("clean_testset_wav", "noisy_testset_wav", "testset_txt"), ("clean", "noisy", "txt")):
        c, n = (os.path.join(voicebank_dir, d) for d in (clean, noisy))
        if os.path.isdir(c) and os.path.isdir(n):
            c, n = (at_16k(d, workers, progress) for d in (c, n))
            return paired_entries(c, n, [os.path.join(voicebank_dir, txt)])
    raise ValueError(f"{voicebank_dir}: neither clean_testset_wav/ + noisy_testset_wav/ (VoiceBank-DEMAND) "
                     "nor clean/ + noisy/")


def prepare(data_dir, dns_dir=None, corpus_dir=None, download_files=True, mirror=None, workers=2, progress=True,
            voicebank_dir=None):
    """Write ``DATA/{dns2020_no_reverb,dns2020_with_reverb,dns2020_real}.json``
    (and ``voicebank_test.json`` from ``voicebank_dir``)."""
    if dns_dir is None:
        if corpus_dir is None:
            raise ValueError("give --dns_dir (a copy you have) or --corpus_dir (where to download)")
        if download_files:
            fetch(corpus_dir, mirror, progress)
        dns_dir = corpus_dir
    test_set = find_test_set(dns_dir)
    sets = {"dns2020_no_reverb": _synthetic(test_set, "no_reverb", workers, progress),
            "dns2020_with_reverb": _synthetic(test_set, "with_reverb", workers, progress),
            "dns2020_real": _real(test_set, workers, progress)}
    if voicebank_dir:
        sets["voicebank_test"] = _voicebank(voicebank_dir, workers, progress)
    return write_manifests(data_dir, sets)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_dir", required=True, help="where the three manifests go")
    p.add_argument("--dns_dir", default=None, help="a DNS-Challenge checkout or test_set folder you have")
    p.add_argument("--corpus_dir", default=None, help="where downloaded files go (without --dns_dir)")
    p.add_argument("--download", type=cli_bool, default=True)
    p.add_argument("--mirror", default=None, help="base URL serving /api, /raw and /media like GitHub")
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 2))
    p.add_argument("--voicebank_dir", default=None,
                   help="VoiceBank-DEMAND (recipes/voicebank's corpus folder, or clean/ + noisy/): voicebank_test")
    args = p.parse_args(argv)
    try:
        counts = prepare(args.data_dir, args.dns_dir, args.corpus_dir, args.download, args.mirror, args.workers,
                         voicebank_dir=args.voicebank_dir)
    except (DownloadError, ValueError, OSError) as exc:
        print(f"dns2020: error: {exc}", file=sys.stderr)
        return 1
    print(f"test manifests in {args.data_dir}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
