"""A read-only store (a read-only mount, a folder without write permission) opens for reading.

The CLI, the runs panel, the server extension's routes and ``load_model`` work on it; a write
is refused with one ``ReadOnlyStore`` message (a 409 over HTTP). As root, permissions do not
stop writes, so the permission case runs its process without capabilities (``setpriv``), and
the mount case remounts a real tmpfs read-only. Both fail, never skip, where that is impossible.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

import jupyter_mlops as mlops
from jupyter_mlops.errors import ReadOnlyStore
from jupyter_mlops.store.check import check_store
from jupyter_mlops.store.embedded import EmbeddedStore

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data")
NO_CAPS = ["setpriv", "--securebits=+noroot,+noroot_locked", "--bounding-set=-all", "--"]

SEED = textwrap.dedent(
    """
    import sys
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    import jupyter_mlops as mlops
    mlops.set_tracking_uri(sys.argv[1])
    for i in range(3):
        with mlops.start_run(name=f"rf-{i}", experiment="archive") as run:
            mlops.log_params({"model": "rf", "i": i})
            for step in range(4):
                mlops.log_metric("loss", 1.0 / (step + 1))
            uri = mlops.log_model(LogisticRegression().fit(np.eye(4), [0, 1, 0, 1]))
    mlops.register_model(uri, "archived")
    mlops.set_alias("archived", "champion", 1)
    mlops.get_store().append_records("predictions/x", [{"i": 1}, {"i": 2}])
    print(run.id)
    """
)


def env():
    return {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}


def cli(*args, prefix=()):
    return subprocess.run(
        [*prefix, sys.executable, "-m", "jupyter_mlops", *args],
        env=env(),
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def mounted(tmp_path_factory):
    """A seeded store on a tmpfs that is then remounted read-only."""
    mnt = tmp_path_factory.mktemp("ro") / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mnt)], check=True)
    try:
        root = str(mnt / "store")
        seeded = subprocess.run(
            [sys.executable, "-c", SEED, root], env=env(), capture_output=True, text=True
        )
        assert seeded.returncode == 0, seeded.stderr
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        yield root, seeded.stdout.strip()
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def test_a_read_only_mount_reads_and_refuses_writes(mounted):
    root, last_run = mounted
    with pytest.raises(OSError):
        open(os.path.join(root, "probe"), "w")  # really read-only, even for root
    store = EmbeddedStore.open(root)
    assert store.read_only
    assert sorted(r["run_name"] for r in store.list_runs()) == ["rf-0", "rf-1", "rf-2"]
    assert [p[2] for p in store.get_metric_history(last_run, "loss")] == [0, 1, 2, 3]
    assert store.read_records("predictions/x")[0] == [{"i": 1}, {"i": 2}]
    assert check_store(root).ok
    for write in (
        lambda: store.get_or_create_experiment("new"),
        lambda: store.set_tags(last_run, {"a": "b"}),
        lambda: store.append_records("predictions/x", [{"i": 3}]),
        lambda: store.trim_records("predictions/x", 1),
        lambda: store.put_artifact(last_run, "x.txt", __file__),
    ):
        with pytest.raises(ReadOnlyStore, match=f"The store {root} is read-only.*was refused"):
            write()


def test_load_model_search_and_panels_on_a_read_only_mount(mounted, monkeypatch):
    root, _ = mounted
    from jupyter_mlops.jupyter.panels import RunsPanel

    monkeypatch.setenv("JUPYTER_MLOPS_STORE", root)
    mlops.set_tracking_uri(root)
    try:
        model = mlops.load_model("models:/archived@champion")
        assert list(model.predict([[1, 0, 0, 0]])) == [0]
        found = mlops.search_runs("archive", filter="params.i = '1'")
        assert list(found["run_name"]) == ["rf-1"]
        html = RunsPanel("archive").static_html()
        assert all(f"rf-{i}" in html for i in range(3))
        with pytest.raises(ReadOnlyStore):
            mlops.set_alias("archived", "staging", 1)
        with pytest.raises(ReadOnlyStore):
            mlops.start_run(name="new", experiment="archive")
    finally:
        mlops.set_tracking_uri(None)


def test_the_cli_on_a_read_only_mount(mounted):
    root, _ = mounted
    done = cli("--store", root, "runs")
    assert done.returncode == 0 and "rf-2" in done.stdout, done.stderr
    assert cli("--store", root, "models").returncode == 0
    assert cli("store", "check", root).returncode == 0
    refused = cli("store", "repair", root)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "is read-only" in refused.stderr and refused.stderr.count("\n") == 1


@pytest.fixture
def jp_server_config(mounted, monkeypatch):
    monkeypatch.setenv("JUPYTER_MLOPS_STORE", mounted[0])
    return {
        "ServerApp": {
            "jpserver_extensions": {"jupyter_mlops": True, "jupyter_server_terminals": False},
            "allow_unauthenticated_access": False,
        }
    }


async def test_the_server_extension_on_a_read_only_mount(jp_fetch, mounted):
    from tornado.httpclient import HTTPClientError

    root, last_run = mounted
    mlops.set_tracking_uri(root)
    try:

        async def get(*parts):
            response = await jp_fetch("jupyter-mlops", "api", *parts)
            assert response.code == 200
            return json.loads(response.body)

        assert len((await get("runs"))["runs"]) == 3
        assert (await get("runs", last_run))["run"]["params"]["model"] == "rf"
        assert [m["name"] for m in (await get("models"))["models"]] == ["archived"]
        with pytest.raises(HTTPClientError) as refused:
            await jp_fetch(
                "jupyter-mlops",
                "api",
                "models",
                "archived",
                "aliases",
                method="POST",
                body=json.dumps({"version": 1, "alias": "staging"}),
            )
        assert refused.value.code == 409
        assert "is read-only" in json.loads(refused.value.response.body)["message"]
    finally:
        mlops.set_tracking_uri(None)


# -- a folder without write permission ------------------------------------------------------------
READER = textwrap.dedent(
    """
    import sys
    import jupyter_mlops as mlops
    mlops.set_tracking_uri(sys.argv[1])
    print(sorted(mlops.search_runs()["run_name"]))
    try:
        mlops.start_run(name="new", experiment="archive")
    except mlops.ReadOnlyStore as e:
        print("refused:", e)
    """
)


def read_only_copy(source, tmp_path):
    """A copy of ``source`` that its owner (root) can read but not write."""
    folder = tmp_path / "readonly"
    shutil.copytree(source, folder)
    subprocess.run(["chmod", "-R", "a-w", str(folder)], check=True)
    return str(folder)


def test_a_folder_without_write_permission_reads(mounted, tmp_path):
    folder = read_only_copy(mounted[0], tmp_path)
    try:
        done = subprocess.run(
            [*NO_CAPS, sys.executable, "-c", READER, folder],
            env=env(),
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        names, refused = done.stdout.splitlines()
        assert names == "['rf-0', 'rf-1', 'rf-2']"
        assert refused.startswith(f"refused: The store {folder} is read-only")
        assert cli("--store", folder, "runs", prefix=NO_CAPS).returncode == 0
    finally:
        subprocess.run(["chmod", "-R", "u+w", folder], check=True)


def test_a_read_only_schema1_store_reads_without_migrating(tmp_path):
    folder = read_only_copy(os.path.join(DATA, "schema1-store"), tmp_path)
    try:
        done = subprocess.run(
            [*NO_CAPS, sys.executable, "-c", READER, folder],
            env=env(),
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        names = done.stdout.splitlines()[0]
        assert names == "['after-torn', 'model', 'rf-0', 'rf-1', 'rf-2']"
        with open(os.path.join(folder, "FORMAT")) as fh:
            assert json.load(fh) == {"schema": 1}  # untouched
    finally:
        subprocess.run(["chmod", "-R", "u+w", folder], check=True)
