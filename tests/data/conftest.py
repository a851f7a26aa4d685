"""Fixtures for the CIFAR-10 data tests: tiny fake datasets and a loopback HTTP server."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from trecsim.data import CIFAR10_BINARY, CLASS_NAMES, DatasetManifest, FileSpec

FAKE_RECORDS = 20
RECORD = 3073
META_TEXT = ("\n".join(CLASS_NAMES) + "\n\n").encode("ascii")


@dataclass
class FakeSet:
    directory: Path
    manifest: DatasetManifest
    records: dict[str, np.ndarray]  # file name -> (FAKE_RECORDS, 3073) uint8


def write_fake_dataset(directory: Path, seed: int = 0, records: int = FAKE_RECORDS) -> FakeSet:
    """Random pixels, labels 0..9 (each class twice per file), real file names."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True)
    specs = []
    contents = {}
    for spec in CIFAR10_BINARY.files:
        if spec.sha256 is None:
            (directory / spec.name).write_bytes(META_TEXT)
            specs.append(FileSpec(spec.name, len(META_TEXT), None))
            continue
        block = rng.integers(0, 256, size=(records, RECORD), dtype=np.uint8)
        block[:, 0] = rng.permutation(np.arange(records) % 10)
        data = block.tobytes()
        (directory / spec.name).write_bytes(data)
        specs.append(FileSpec(spec.name, len(data), hashlib.sha256(data).hexdigest()))
        contents[spec.name] = block
    manifest = replace(
        CIFAR10_BINARY,
        name="fake CIFAR-10",
        files=tuple(specs),
        archive_url="http://127.0.0.1:9/unused.tar.gz",
        archive_md5="0" * 32,
        record_count_per_file=records,
    )
    return FakeSet(directory, manifest, contents)


def tar_gz_of(directory: Path, top: str = "cifar-10-batches-bin", extra: dict[str, bytes] | None = None) -> bytes:
    """A .tar.gz with ``directory``'s files under ``top/`` (plus ``extra`` top-level-relative files)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(directory, arcname=top)
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def fake_set(tmp_path: Path) -> FakeSet:
    return write_fake_dataset(tmp_path / "fake" / "cifar-10-batches-bin")


@dataclass
class Route:
    body: bytes
    mode: str = "ok"  # ok | drop (promise the full length, send half, close)


@dataclass
class LoopbackServer:
    base: str
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def serve(self, path: str, body: bytes, mode: str = "ok") -> str:
        self.routes[path] = Route(body, mode)
        return self.base + path


@pytest.fixture
def http_server(monkeypatch: pytest.MonkeyPatch):
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    state: LoopbackServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            state.requests.append(self.path)
            route = state.routes.get(self.path)
            if route is None:
                self.send_error(404, "Not Found")
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/gzip")
            self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            if route.mode == "drop":
                self.wfile.write(route.body[: len(route.body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(route.body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state = LoopbackServer(base=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
