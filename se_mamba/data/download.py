"""Downloads of corpora and released files: resumable, checksummed, never a
partial file under the final name, one line when it fails.

* The bytes go to ``<dest>.part``; an interrupted download resumes from there
  with an HTTP ``Range`` request (a server that ignores Range restarts it).
* When an MD5 or SHA-256 is published (Edinburgh DataShare's VoiceBank-DEMAND
  zips; Git LFS and Hugging Face files), the
  finished file is checked before it is renamed into place; a mismatch
  deletes the partial file and fails.
* ``mirror``: a base URL that replaces the scheme and host of every URL
  (an institutional mirror or a local copy served over HTTP).
* Every failure is a :class:`DownloadError` whose message is one line naming
  the URL, what went wrong, and how to place the file by hand.

Example
-------
>>> mirrored("https://datashare.ed.ac.uk/bitstream/handle/10283/2791/x.zip", "http://127.0.0.1:8000/vb")
'http://127.0.0.1:8000/vb/bitstream/handle/10283/2791/x.zip'
"""
import hashlib
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

from ..fileio import write_text_atomic

CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download that could not complete; the message is one line."""


def mirrored(url, mirror=None):
    """``url`` with its scheme and host replaced by ``mirror`` (a base URL)."""
    if not mirror:
        return url
    path = urllib.parse.urlsplit(url).path
    return mirror.rstrip("/") + path


def md5sum(path, chunk=CHUNK, algorithm="md5"):
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _expected(md5, sha256):
    """(algorithm, digest) to check, or None: the stronger one when both are known."""
    if sha256:
        return "sha256", sha256
    return ("md5", md5) if md5 else None


def _manual_hint(dest):
    return f"download it by hand and place it at {dest} (then run with --download false)"


def download(url, dest, md5=None, mirror=None, timeout=60, progress=True, sha256=None):
    """Fetch ``url`` to ``dest`` unless a complete file is already there.

    Returns ``dest``. A present ``dest`` is trusted when its checksum matches
    (or none is known); a present file with the wrong checksum is an error,
    never silently replaced. ``sha256``: the digest Git LFS and the Hugging
    Face hub publish for their files.
    """
    url = mirrored(url, mirror)
    check = _expected(md5, sha256)
    if os.path.exists(dest):
        if check and md5sum(dest, algorithm=check[0]) != check[1]:
            raise DownloadError(f"{dest}: present but its {check[0].upper()} is not the published {check[1]}; "
                                f"delete it to download {url} again")
        return dest
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    part = dest + ".part"
    have = os.path.getsize(part) if os.path.exists(part) else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the part file is already complete
            response = None
        else:
            raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}; {_manual_hint(dest)}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"{url}: cannot connect ({reason}); {_manual_hint(dest)}") from None
    if response is not None:
        with response:
            resumed = response.status == 206
            if have and not resumed:
                have = 0  # the server ignored Range: start again
            total = response.headers.get("Content-Length")
            total = int(total) + have if total is not None else None
            _write(response, part, have, total, url, dest, progress)
    if check:
        got = md5sum(part, algorithm=check[0])
        if got != check[1]:
            os.remove(part)
            raise DownloadError(f"{url}: {check[0].upper()} {got} is not the published {check[1]} (the partial "
                                f"file was deleted); try again, or {_manual_hint(dest)}")
    os.replace(part, dest)  # same folder: atomic
    return dest


def _write(response, part, have, total, url, dest, progress):
    from tqdm import tqdm

    name = os.path.basename(dest)
    with open(part, "ab" if have else "wb") as f, tqdm(
            total=total, initial=have, unit="B", unit_scale=True, desc=name,
            disable=not progress, file=sys.stderr) as bar:
        try:
            for block in iter(lambda: response.read(CHUNK), b""):
                f.write(block)
                bar.update(len(block))
        except (OSError, urllib.error.URLError) as exc:
            raise DownloadError(f"{url}: interrupted after {f.tell()} bytes ({exc}); run again to resume "
                                f"from {part}") from None
    size = os.path.getsize(part)
    if total is not None and size != total:
        raise DownloadError(f"{url}: got {size} of {total} bytes; run again to resume from {part}")


def extract(archive, into, progress=True):
    """Unpack a zip or tar ``archive`` into ``into`` once (a stamp file marks it
    done). Members go to a staging folder first, so an interrupted extraction
    leaves nothing that looks complete; a member that would land outside
    ``into`` is an error."""
    import shutil
    import tarfile
    import zipfile

    from tqdm import tqdm

    name = os.path.basename(archive)
    stamp = os.path.join(into, f".{name}.extracted")
    if os.path.exists(stamp):
        return into
    staging = os.path.join(into, f".staging-{name}")
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    root = os.path.realpath(staging)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                members = z.infolist()
                for m in tqdm(members, desc=f"extract {name}", unit="file", disable=not progress, file=sys.stderr):
                    _check_inside(root, m.filename, archive)
                    z.extract(m, staging)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as t:
                for m in t.getmembers():
                    _check_inside(root, m.name, archive)
                t.extractall(staging, filter="data")
        else:
            raise DownloadError(f"{archive}: neither a zip nor a tar archive")
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise DownloadError(f"{archive}: cannot extract ({str(exc).splitlines()[0][:100]}); "
                            "delete it to download it again") from None
    # merged into place file by file: archives that share a top folder (one zip per
    # split under VB-DemandEx/) keep each other's files; a file left by an
    # extraction of this archive that did not finish is replaced
    for root, _, files in os.walk(staging):
        dest = os.path.join(into, os.path.relpath(root, staging))
        os.makedirs(dest, exist_ok=True)
        for f in files:
            os.replace(os.path.join(root, f), os.path.join(dest, f))
    shutil.rmtree(staging)
    write_text_atomic(stamp, md5sum(archive) + "\n")
    return into


def _check_inside(root, member, archive):
    path = os.path.realpath(os.path.join(root, member))
    if path != root and not path.startswith(root + os.sep):
        raise DownloadError(f"{archive}: member {member!r} would be written outside the target folder")


def fetch_bytes(url, timeout=60, what=None):
    """The whole body at ``url`` (a listing, an LFS pointer); one-line errors."""
    about = f" (fetching the {what})" if what else ""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}{about}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise DownloadError(f"{url}: cannot connect ({getattr(exc, 'reason', exc)}){about}") from None


def fetch_json(url, timeout=60, what="listing"):
    """The JSON document at ``url`` (a hub's file listing); one-line errors."""
    import json

    data = fetch_bytes(url, timeout, what)
    try:
        return json.loads(data.decode("utf-8"))
    except ValueError as exc:
        raise DownloadError(f"{url}: not JSON ({exc}) (fetching the {what})") from None
