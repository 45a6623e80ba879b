"""``%mlops_deploy``, ``%mlops_deployments`` and the deployments panel, with real servers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from IPython.core.error import UsageError
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import jupyter_mlops as mlops
from jupyter_mlops.jupyter.panels_deploy import DeploymentsPanel
from jupyter_mlops.serving.deploy import get_deployment, list_deployments, undeploy


@pytest.fixture
def registered(shell):
    X, y = load_iris(return_X_y=True, as_frame=True)
    mlops.register_model(LogisticRegression(max_iter=500).fit(X, y), "iris", input_example=X.head())
    mlops.set_alias("iris", "production", 1)
    yield shell
    for d in list_deployments():
        if d.status != "stopped":
            undeploy(d.name)


def test_deploy_call_watch_and_stop_from_cells(registered, capsys, tmp_path):
    registered.run_line_magic("mlops_deploy", "models:/iris@production -n iris-prod")
    line = capsys.readouterr().out
    assert "iris-prod serving models:/iris@production (v1) at http://127.0.0.1:" in line
    url = get_deployment("iris-prod").url
    row = dict(zip(load_iris(as_frame=True).data.columns, [5.1, 3.5, 1.4, 0.2], strict=True))
    body = json.dumps({"instances": [row]}).encode()
    request = urllib.request.Request(
        url + "/invocations", body, {"Content-Type": "application/json"}
    )
    assert json.loads(urllib.request.urlopen(request, timeout=10).read()) == {"predictions": [0]}

    panel = DeploymentsPanel(live=False)
    page = panel.static_html()
    assert "iris-prod" in page and "running" in page and "models:/iris@production" in page
    assert panel.deployments[0].requests >= 1
    assert "application/vnd.jupyter.widget-view+json" in panel._repr_mimebundle_()

    os.kill(get_deployment("iris-prod").pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while "down" not in panel.static_html():
        assert time.monotonic() < deadline, "a killed server must show as down within 5 s"
        panel._tick()
        time.sleep(0.2)
    panel._choice.value = "iris-prod"
    assert panel.stop_row.layout.display is None  # something to stop: the row shows
    panel.stop_selected()
    assert "Stopped iris-prod" in panel._message.value
    assert get_deployment("iris-prod").status == "stopped"
    assert panel.stop_row.layout.display == "none"  # no Stop beside an empty list


def test_stop_magic_and_k8s_target(registered, capsys, tmp_path):
    registered.run_line_magic("mlops_deploy", "models:/iris/1 -n iris-v1")
    registered.run_line_magic("mlops_deploy", "--stop iris-v1")
    assert "stopped iris-v1" in capsys.readouterr().out
    assert get_deployment("iris-v1").status == "stopped"
    mlops.deploy("models:/iris/1", name="iris-cli")  # the same verb on the command line
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops", "deployments", "stop", "iris-cli"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "Stopped deployment iris-cli" in done.stdout, done.stderr
    assert get_deployment("iris-cli").status == "stopped"
    out = tmp_path / "k8s"
    registered.run_line_magic("mlops_deploy", f"models:/iris@production --target k8s -o {out}")
    assert {"Dockerfile", "deployment.yaml", "service.yaml", "model"} <= set(os.listdir(out))


def test_live_panel_refreshes_on_its_own_and_stops_when_closed(registered):
    from jupyter_mlops.jupyter import panels_deploy

    panels_deploy.REFRESH_S, saved = 0.1, panels_deploy.REFRESH_S
    try:
        panel = DeploymentsPanel(live=True)
        before = panel._table.value
        mlops.register_model(mlops.load_model("models:/iris/1"), "iris")
        registered.run_line_magic("mlops_deploy", "models:/iris/2 -n iris-v2")
        deadline = time.monotonic() + 10
        while "iris-v2" not in panel._table.value:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert panel._table.value != before
        panel.close()
        time.sleep(0.3)
        assert not panel._refresher.alive
    finally:
        panels_deploy.REFRESH_S = saved


@pytest.mark.parametrize(
    "line, message",
    [
        ("", "Give a model URI"),
        ("models:/nope@production", "No registered model named 'nope'"),
        ("models:/iris@staging", "no alias 'staging'"),
        ("s3://bucket/model", "Cannot deploy"),
        ("models:/iris/1 -n 'bad name'", "Invalid deployment name"),
        ("models:/iris/1 -p notaport", "invalid int value"),
        ("models:/iris/1 -p 70000", "a number from 1 to 65535, not 70000"),
        ("models:/iris/1 -p -1", "a number from 1 to 65535, not -1"),
        ("--stop ghost", "No deployment named 'ghost'"),
        ("models:/iris/1 --stop x", "takes no model URI"),
        ("models:/iris/1 --target k8s", "-o DIR"),
        ("models:/iris/1 --target cloud", "invalid choice"),
    ],
)
def test_mistakes_are_one_line_usage_errors(registered, line, message):
    with pytest.raises(UsageError, match=message):
        registered.run_line_magic("mlops_deploy", line)


def test_port_in_use_is_a_clear_message(registered):
    registered.run_line_magic("mlops_deploy", "models:/iris/1 -n first")
    port = get_deployment("first").port
    with pytest.raises(UsageError, match=f"Port {port} on 127.0.0.1 is in use"):
        registered.run_line_magic("mlops_deploy", f"models:/iris/1 -n second -p {port}")
