"""Corpus downloads against a local HTTP server on 127.0.0.1 (Range support,
a connection cut mid-file, a 404, a closed port): resume, MD5, one-line errors,
extraction once."""
import hashlib
import http.server
import io
import os
import socket
import threading
import zipfile

import pytest

from se_mamba.data.download import DownloadError, download, extract


class Handler(http.server.BaseHTTPRequestHandler):
    files = {}      # path -> bytes
    cut_after = {}  # path -> bytes sent before the connection drops (once)
    ranges = []     # Range headers received

    def do_GET(self):
        data = self.files.get(self.path)
        if data is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        rng = self.headers.get("Range")
        self.ranges.append(rng)
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = self.cut_after.pop(self.path, None)
        self.wfile.write(body if cut is None else body[:cut])
        if cut is not None:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    Handler.files, Handler.cut_after, Handler.ranges = {}, {}, []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def blob(n=3_000_000):
    return os.urandom(n)


def test_download_checks_the_md5_and_leaves_no_partial_file(server, tmp_path):
    data = blob()
    Handler.files["/data/a.zip"] = data
    dest = tmp_path / "a.zip"
    download(server + "/data/a.zip", str(dest), md5=hashlib.md5(data).hexdigest(), progress=False)
    assert dest.read_bytes() == data and not (tmp_path / "a.zip.part").exists()
    # present and complete: not fetched again
    n = len(Handler.ranges)
    download(server + "/data/a.zip", str(dest), md5=hashlib.md5(data).hexdigest(), progress=False)
    assert len(Handler.ranges) == n


def test_an_interrupted_download_resumes_with_a_range_request(server, tmp_path):
    data = blob()
    Handler.files["/a.zip"] = data
    Handler.cut_after["/a.zip"] = 1_000_000
    dest = tmp_path / "a.zip"
    with pytest.raises(DownloadError) as err:
        download(server + "/a.zip", str(dest), progress=False)
    assert "\n" not in str(err.value) and "resume" in str(err.value)
    assert not dest.exists() and (tmp_path / "a.zip.part").stat().st_size == 1_000_000
    download(server + "/a.zip", str(dest), md5=hashlib.md5(data).hexdigest(), progress=False)
    assert Handler.ranges[-1] == "bytes=1000000-" and dest.read_bytes() == data


def test_an_md5_mismatch_fails_cleanly(server, tmp_path):
    Handler.files["/a.zip"] = blob(10_000)
    dest = tmp_path / "a.zip"
    with pytest.raises(DownloadError, match=r"a\.zip: MD5 [0-9a-f]{32} is not the published 0{32}") as err:
        download(server + "/a.zip", str(dest), md5="0" * 32, progress=False)
    assert "\n" not in str(err.value)
    assert not dest.exists() and not (tmp_path / "a.zip.part").exists()
    dest.write_bytes(b"something else")  # a present file with the wrong MD5 is never replaced
    with pytest.raises(DownloadError, match="present but its MD5"):
        download(server + "/a.zip", str(dest), md5="0" * 32, progress=False)
    assert dest.read_bytes() == b"something else"


def test_404_and_offline_are_one_line_errors_naming_the_url(server, tmp_path):
    dest = str(tmp_path / "x.zip")
    with pytest.raises(DownloadError) as err:
        download(server + "/missing.zip", dest, progress=False)
    msg = str(err.value)
    assert msg.startswith(server + "/missing.zip: HTTP 404") and "--download false" in msg and "\n" not in msg
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match=rf"^http://127.0.0.1:{port}/a.zip: cannot connect") as err:
        download(f"http://127.0.0.1:{port}/a.zip", dest, progress=False)
    assert "\n" not in str(err.value) and not os.path.exists(dest)


def test_mirror_replaces_the_host(server, tmp_path):
    Handler.files["/bitstream/handle/10283/2791/x.zip"] = b"abc"
    dest = tmp_path / "x.zip"
    download("https://datashare.ed.ac.uk/bitstream/handle/10283/2791/x.zip", str(dest), mirror=server,
             progress=False)
    assert dest.read_bytes() == b"abc"


def test_extract_once_into_place(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("clean_testset_wav/p232_001.wav", b"RIFF")
        z.writestr("clean_testset_wav/p232_002.wav", b"RIFF2")
    archive = tmp_path / "clean_testset_wav.zip"
    archive.write_bytes(buf.getvalue())
    out = tmp_path / "corpus"
    out.mkdir()
    extract(str(archive), str(out), progress=False)
    assert sorted(os.listdir(out / "clean_testset_wav")) == ["p232_001.wav", "p232_002.wav"]
    assert not [p for p in os.listdir(out) if p.startswith(".staging")]
    (out / "clean_testset_wav" / "p232_001.wav").write_bytes(b"kept")
    extract(str(archive), str(out), progress=False)  # stamped: not extracted again
    assert (out / "clean_testset_wav" / "p232_001.wav").read_bytes() == b"kept"
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../outside.txt", b"x")
    with pytest.raises(DownloadError, match="outside the target folder"):
        extract(str(evil), str(out), progress=False)
    assert not (tmp_path / "outside.txt").exists()


def test_archives_sharing_a_top_folder_keep_each_others_files(tmp_path):
    """One zip per split, each under VB-DemandEx/: the second extraction adds to the folder."""
    out = tmp_path / "corpus"
    out.mkdir()
    for split in ("clean_train", "noisy_train"):
        archive = tmp_path / f"{split}.zip"
        with zipfile.ZipFile(archive, "w") as z:
            z.writestr(f"VB-DemandEx/{split}/p226_001.wav", split.encode())
        extract(str(archive), str(out), progress=False)
    assert sorted(os.listdir(out / "VB-DemandEx")) == ["clean_train", "noisy_train"]
    assert (out / "VB-DemandEx" / "clean_train" / "p226_001.wav").read_bytes() == b"clean_train"
