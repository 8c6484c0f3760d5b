"""`python -m losslab data fetch` against a local HTTP server on 127.0.0.1 serving small files in the real
formats (losslab/data/fetch.py): layout, hashes, resume of a cut download, a corrupt mirror."""

import hashlib
import http.server
import io
import tarfile
import threading
from pathlib import Path

import pytest

from losslab.data import load_cifar10, load_mnist, load_svhn
from losslab.data.fake import SYNTHETIC_MARKER, write_fake_data_dir
from losslab.data.fetch import CIFAR_MEMBERS, FILES, fetch
from losslab.data.verify import DataCorrupt, file_digest


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    files: dict = {}
    ranges: list = []

    def do_GET(self):
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].removeprefix("bytes=").rstrip("-"))
            self.ranges.append((self.path, start))
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        self.wfile.write(body[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def mirror(tmp_path):
    """(mirrors, known hashes) of a 127.0.0.1 server holding fake MNIST, CIFAR-10 (tar) and SVHN files."""
    source = write_fake_data_dir(tmp_path / "source", n=8)
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w:gz") as tar:
        for member in CIFAR_MEMBERS:
            tar.add(source / "cifar-10-batches-py" / member, arcname=f"cifar-10-batches-py/{member}")
    files = {f"/mnist/{n}": (source / "mnist" / n).read_bytes() for n in FILES["mnist"]}
    files |= {f"/svhn/{n}": (source / "svhn" / n).read_bytes() for n in FILES["svhn"]}
    files["/cifar10/cifar-10-python.tar.gz"] = tar_bytes.getvalue()
    known = {path.rsplit("/", 1)[1]: ("sha256", _sha256(body)) for path, body in files.items()}
    known |= {m: ("sha256", file_digest(source / "cifar-10-batches-py" / m, "sha256")) for m in CIFAR_MEMBERS}
    _RangeHandler.files, _RangeHandler.ranges = files, []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    yield {name: base + name + "/" for name in FILES}, known
    server.shutdown()


def _sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def test_fetch_places_every_file_where_the_loaders_read_it(tmp_path, mirror):
    mirrors, known = mirror
    target = tmp_path / "data"
    placed = fetch(target, mirrors=mirrors, known=known)
    assert len(placed) == 4 + 6 + 2
    (target / SYNTHETIC_MARKER).touch()  # the fake files are not the real datasets' (known) hashes
    assert len(load_mnist(target, "train")) == 8 and len(load_svhn(target, "test")) == 8
    assert len(load_cifar10(target, "train")) == 5 * 8
    before = {p: p.stat().st_mtime_ns for p in placed}
    fetch(target, mirrors=mirrors, known=known)  # all present with their hashes: nothing downloaded again
    assert before == {p: p.stat().st_mtime_ns for p in placed}


def test_a_cut_download_resumes_with_a_range_request(tmp_path, mirror):
    mirrors, known = mirror
    body = _RangeHandler.files["/svhn/train_32x32.mat"]
    folder = tmp_path / "data" / "svhn"
    folder.mkdir(parents=True)
    (folder / "train_32x32.mat.part").write_bytes(body[: len(body) // 2])
    fetch(tmp_path / "data", datasets=("svhn",), mirrors=mirrors, known=known)
    assert ("/svhn/train_32x32.mat", len(body) // 2) in _RangeHandler.ranges
    assert (folder / "train_32x32.mat").read_bytes() == body and not (folder / "train_32x32.mat.part").exists()


def test_a_corrupt_mirror_fails_with_both_hashes(tmp_path, mirror):
    mirrors, known = mirror
    _RangeHandler.files["/mnist/t10k-labels-idx1-ubyte.gz"] = b"not a gz file"
    with pytest.raises(DataCorrupt, match=f"expected {known['t10k-labels-idx1-ubyte.gz'][1]}"):
        fetch(tmp_path / "data", datasets=("mnist",), mirrors=mirrors, known=known)
    assert not list(Path(tmp_path / "data" / "mnist").glob("t10k-labels*"))
