"""Fixtures for tests that drive a real JupyterLab in a real Chromium (marker ``browser``).

``lab_server`` starts ``jupyter lab`` on loopback in its own process group, with a random token
and throwaway root, settings, workspaces and store folders; ``lab_page`` is a Playwright page
with JupyterLab loaded and ready. When a test using ``lab_page`` fails, a screenshot of the page
is saved to ``test-artifacts/``.

The browser is Debian's Chromium (``playwright install`` cannot download anything here). A
missing browser fails the test, it never skips it: a skipped UI test in CI is a silent hole.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("JUPYTER_MLOPS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS_DIR = Path(__file__).resolve().parents[1] / "test-artifacts"
LAB_START_TIMEOUT_S = 60
# Silences the "Would you like to receive official Jupyter news?" toast.
NOTIFICATION_SETTINGS = {"fetchNews": "false", "checkForUpdates": False}


@dataclass(frozen=True)
class LabServer:
    """A running ``jupyter lab``: where it listens and which folders it uses."""

    url: str
    token: str
    root_dir: Path
    store_dir: Path
    log_file: Path

    def page_url(self, path: str = "lab") -> str:
        """The URL of a lab page, with the token."""
        return f"{self.url}{path}?token={self.token}"

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's log, for failure messages."""
        text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@pytest.fixture
def artifacts_dir() -> Path:
    """``test-artifacts/`` at the top of the repository (git-ignored)."""
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    return ARTIFACTS_DIR


@pytest.fixture
def lab_server_config() -> dict:
    """Extra Jupyter server config for ``lab_server`` (override, or parametrize, to change)."""
    return {}


@pytest.fixture
def lab_server(tmp_path: Path, lab_server_config: dict) -> Iterator[LabServer]:
    """A ``jupyter lab`` on 127.0.0.1, stopped with its whole process group at teardown."""
    root_dir, store_dir, log_file = _prepare_lab(tmp_path)
    if lab_server_config:
        # The user config folder outranks the config that `pip install` put in sys.prefix.
        config = tmp_path / "config" / "jupyter_server_config.json"
        config.write_text(json.dumps(lab_server_config))
    port = _free_port()
    lab = LabServer(
        f"http://127.0.0.1:{port}/", secrets.token_hex(16), root_dir, store_dir, log_file
    )
    env = {
        **os.environ,
        "JUPYTER_MLOPS_STORE": str(lab.store_dir),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
    }
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={lab.token}",
        f"--ServerApp.root_dir={lab.root_dir}",
        f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
        f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
    ]
    with lab.log_file.open("wb") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_until_ready(lab, process)
        yield lab
    finally:
        _stop_group(process)


@pytest.fixture
def lab_store(lab_server: LabServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point this process at the lab's store (as kernels and model servers are)."""
    import jupyter_mlops as mlops
    from jupyter_mlops.tracking.session import session

    monkeypatch.setenv("JUPYTER_MLOPS_STORE", str(lab_server.store_dir))
    mlops.set_tracking_uri(None)
    session().experiment = None
    yield lab_server.store_dir
    while mlops.active_run() is not None:
        mlops.end_run()
    mlops.flush()


@pytest.fixture
def chromium() -> str:
    """The Chromium executable; fails the test with the fix when it is missing."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}. Browser tests fail rather than skip: install it "
            "with `apt-get install -y chromium fonts-liberation`, or point "
            "JUPYTER_MLOPS_CHROMIUM at a Chromium binary.",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture
def page(chromium: str) -> Iterator[object]:
    """A fresh Playwright page (1280x800) in headless Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


@pytest.fixture
def lab_page(request: pytest.FixtureRequest, page, lab_server: LabServer, artifacts_dir: Path):
    """``page`` with JupyterLab loaded and its splash screen gone."""
    page.goto(lab_server.page_url(), wait_until="domcontentloaded")
    try:
        page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=60_000)
        page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab").first.wait_for(timeout=30_000)
    except Exception as error:
        raise AssertionError(
            f"JupyterLab did not load: {error}\n{lab_server.log_tail()}"
        ) from error
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        page.screenshot(path=str(artifacts_dir / f"{request.node.name}-failure.png"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator:
    """Keep each phase's report on the item, so fixtures can tell that the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _prepare_lab(tmp_path: Path) -> tuple[Path, Path, Path]:
    root, store, log = tmp_path / "root", tmp_path / "store", tmp_path / "lab.log"
    notification = (
        tmp_path
        / "settings"
        / "@jupyterlab"
        / "apputils-extension"
        / "notification.jupyterlab-settings"
    )
    for folder in (root, store, notification.parent, tmp_path / "workspaces", tmp_path / "config"):
        folder.mkdir(parents=True, exist_ok=True)
    notification.write_text(json.dumps(NOTIFICATION_SETTINGS))
    return root, store, log


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_ready(lab: LabServer, process: subprocess.Popen) -> None:
    """Poll ``/api/status`` with the token until the server answers 200."""
    request = urllib.request.Request(
        f"{lab.url}api/status", headers={"Authorization": f"token {lab.token}"}
    )
    deadline = time.monotonic() + LAB_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"jupyter lab exited with {process.returncode}:\n{lab.log_tail()}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    pytest.fail(f"jupyter lab not ready after {LAB_START_TIMEOUT_S} s:\n{lab.log_tail()}")


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the server's process group (kernels included), SIGKILL it if it lingers."""
    for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue
    # Kernels may outlive the server in the same group; make sure nothing is left.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
