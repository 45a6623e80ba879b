"""Finding the notebook a kernel runs: environment, VS Code, and a real sessions API on loopback."""

from __future__ import annotations

import json
import sys
import threading
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jupyter_mlops.jupyter import notebook_path as nbp


@pytest.fixture(autouse=True)
def clean(monkeypatch):
    for var in ("JUPYTER_MLOPS_NOTEBOOK", "JPY_SESSION_NAME"):
        monkeypatch.delenv(var, raising=False)
    nbp.clear_cache()
    yield
    nbp.clear_cache()


@pytest.fixture
def sessions_server():
    """A loopback HTTP server answering ``GET /base/api/sessions`` for token ``secret``."""
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            seen.append((self.path, self.headers.get("Authorization")))
            if self.headers.get("Authorization") != "token secret":
                self.send_response(403)
                self.end_headers()
                return
            body = json.dumps(
                [
                    {"path": "other.ipynb", "kernel": {"id": "k-other"}},
                    {"path": "sub/train.ipynb", "kernel": {"id": "k-123"}},
                ]
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/base/", seen
    server.shutdown()
    server.server_close()


def write_server_file(runtime, url, token="secret", root="/srv/notebooks", name="jpserver-1.json"):
    info = {"url": url, "token": token, "root_dir": root, "pid": 1, "base_url": "/base/"}
    (runtime / name).write_text(json.dumps(info))


def test_the_override_comes_first(monkeypatch, tmp_path):
    monkeypatch.setenv("JUPYTER_MLOPS_NOTEBOOK", "/data/override.ipynb")
    monkeypatch.setenv("JPY_SESSION_NAME", "/data/session.ipynb")
    assert nbp.find_notebook_path({"__vsc_ipynb_file__": "/x.ipynb"}) == "/data/override.ipynb"


def test_jpy_session_name(monkeypatch, tmp_path):
    monkeypatch.setenv("JPY_SESSION_NAME", "/data/session.ipynb")
    assert nbp.find_notebook_path() == "/data/session.ipynb"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "local.ipynb").write_text("{}")
    monkeypatch.setenv("JPY_SESSION_NAME", "some/api/path/local.ipynb")
    assert nbp.find_notebook_path() == str(tmp_path / "local.ipynb")


def test_vscode_variable():
    assert nbp.find_notebook_path({"__vsc_ipynb_file__": "/code/nb.ipynb"}) == "/code/nb.ipynb"
    assert nbp.find_notebook_path({"__vsc_ipynb_file__": 3}) is None


def test_nothing_found_is_none_quietly():
    assert nbp.find_notebook_path({}) is None


def test_the_sessions_api_names_the_notebook_of_our_kernel(sessions_server, tmp_path):
    url, seen = sessions_server
    write_server_file(tmp_path, "http://127.0.0.1:1/", name="jpserver-dead.json")  # refused
    write_server_file(tmp_path, url)
    infos = nbp.server_infos(str(tmp_path))
    assert nbp.lookup_sessions("k-123", infos) == "/srv/notebooks/sub/train.ipynb"
    assert nbp.lookup_sessions("k-unknown", infos) is None
    assert ("/base/api/sessions", "token secret") in seen


def test_a_wrong_token_or_a_remote_server_gives_none(sessions_server, tmp_path):
    url, seen = sessions_server
    write_server_file(tmp_path, url, token="wrong")
    assert nbp.lookup_sessions("k-123", nbp.server_infos(str(tmp_path))) is None
    remote = [{"url": "http://example.com:8888/", "token": "secret"}]
    count = len(seen)
    assert nbp.lookup_sessions("k-123", remote) is None
    assert len(seen) == count  # never sent anywhere


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://localhost:8888/", True),
        ("http://127.0.0.1:8888/", True),
        ("http://[::1]:8888/", True),
        ("http://10.0.0.5:8888/", False),
        ("https://hub.example.org/user/x/", False),
        ("not a url", False),
    ],
)
def test_only_loopback_servers_are_asked(url, loopback):
    assert nbp.is_loopback(url) is loopback


def test_a_kernel_finds_its_notebook_through_the_server(sessions_server, tmp_path, monkeypatch):
    url, _ = sessions_server
    write_server_file(tmp_path, url)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    fake = types.ModuleType("ipykernel")
    fake.get_connection_file = lambda: str(tmp_path / "kernel-k-123.json")
    monkeypatch.setitem(sys.modules, "ipykernel", fake)
    assert nbp.current_kernel_id() == "k-123"
    assert nbp.find_notebook_path({}) == "/srv/notebooks/sub/train.ipynb"
    (tmp_path / "jpserver-1.json").unlink()
    assert nbp.find_notebook_path({}) == "/srv/notebooks/sub/train.ipynb"  # cached


def test_broken_runtime_files_are_skipped(tmp_path):
    (tmp_path / "jpserver-2.json").write_text("{not json")
    (tmp_path / "jpserver-3.json").write_text(json.dumps(["a list"]))
    assert nbp.server_infos(str(tmp_path)) == []
    assert nbp.server_infos(str(tmp_path / "missing")) == []


def test_outside_a_kernel_there_is_no_kernel_id(monkeypatch):
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    assert nbp.current_kernel_id() is None
