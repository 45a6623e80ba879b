"""``%%mlops_sweep`` in a real kernel: the example notebook, Jupyter's interrupt, a killed kernel.

The kernel is started by jupyter_client exactly as JupyterLab starts it; its interrupt signals
the kernel's process group, so the sweep's workers get it too.
"""

from __future__ import annotations

import os
import signal

import pytest
import sweep_scripts as scripts
from jupyter_client.manager import start_new_kernel
from test_examples import WIDGET, execute, outputs, text_of

import jupyter_mlops as mlops
from jupyter_mlops.store.embedded import EmbeddedStore

SETUP = "%load_ext jupyter_mlops\nimport time\nimport jupyter_mlops as mlops"
SLOW_CELL = """%%mlops_sweep -e k -n {name} --trials {trials} -m loss --jobs 2 --pruner none --seed 0 -s 'x=uniform(0, 2)'
for step in range(3):
    mlops.log_metric("loss", (x - 1) ** 2 + 1 / (step + 1), step=step)
    time.sleep({sleep})
"""  # noqa: E501


@pytest.fixture
def kernel(store_dir):
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(store_dir.parent))
    client.execute_interactive(SETUP, timeout=60)
    yield manager, client
    client.stop_channels()
    manager.shutdown_kernel(now=True)


def run_cell(client, code, timeout=180):
    """Execute ``code``; returns the reply content and the text the cell printed."""
    printed = []

    def keep(msg):
        if msg["msg_type"] == "stream":
            printed.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            printed.append("\n".join(msg["content"]["traceback"]))

    reply = client.execute_interactive(code, timeout=timeout, output_hook=keep)
    return reply["content"], "".join(printed)


def test_the_example_notebook(store_dir, tmp_path):
    nb = execute("sweep.ipynb", tmp_path)
    text = text_of(nb)

    assert "✓ sweep sgd · sweep-demo · finished · " in text
    assert "✓ registered sgd-churn v1 · models:/sgd-churn/1" in text
    assert (
        "✓ sweep forest" not in text and "sweep forest · sweep-demo · finished · 8 complete" in text
    )
    panels = outputs(nb, WIDGET)
    assert len(panels) == 2 and all("text/html" in o["data"] for o in panels)  # static fallback
    assert "Best so far" in panels[-1]["data"]["text/html"]
    store = EmbeddedStore.open(str(store_dir))
    trials = [r for r in store.list_runs() if r["tags"].get("mlops.sweep.name") == "sgd"
              and r["tags"].get("mlops.sweep.role") == "trial"]  # fmt: skip
    assert len(trials) == 32  # 24, then continued up to 32
    assert {r["tags"]["mlops.sweep.state"] for r in trials} <= {"complete", "pruned"}
    assert mlops.get_model_version("sgd-churn", 1).run_id in {r["run_id"] for r in trials}


def test_jupyters_interrupt_stops_the_sweep_and_keeps_its_trials(kernel, store_dir):
    manager, client = kernel
    client.execute(SLOW_CELL.format(name="stop", trials=40, sleep=0.3))
    scripts.wait_for(lambda: scripts.finished(str(store_dir), "stop") >= 3)
    manager.interrupt_kernel()
    reply = client.get_shell_msg(timeout=60)["content"]
    assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt"

    runs = scripts.trial_runs(str(store_dir), "stop")
    states = [r["tags"]["mlops.sweep.state"] for r in runs]
    assert states.count("complete") >= 3 and "running" not in states, states
    kept = states.count("complete")

    content, printed = run_cell(client, SLOW_CELL.format(name="stop", trials=kept + 2, sleep=0))
    assert content["status"] == "ok", printed
    assert f"{kept + 2} complete" in printed and "✓ sweep stop" in printed
    _, printed = run_cell(client, "print(sorted(mlops.load_sweep('stop').counts().items()))")
    assert f"('complete', {kept + 2})" in printed


def test_the_interrupt_message_is_one_line(kernel, store_dir):
    manager, client = kernel
    msg_id = client.execute(SLOW_CELL.format(name="quiet", trials=40, sleep=0.3))
    scripts.wait_for(lambda: scripts.finished(str(store_dir), "quiet") >= 1)
    manager.interrupt_kernel()
    texts = []
    while True:
        msg = client.get_iopub_msg(timeout=60)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            texts.append(msg["content"]["text"])
        if msg["msg_type"] == "error":
            texts.append("TRACEBACK")
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    text = "".join(texts)
    assert "■ sweep quiet interrupted ·" in text and "re-run the cell to continue" in text
    assert "TRACEBACK" not in text  # no traceback of the magic's plumbing


def test_a_killed_kernel_loses_only_the_trials_in_flight(kernel, store_dir):
    manager, client = kernel
    client.execute(SLOW_CELL.format(name="dead", trials=10, sleep=0.4))
    scripts.wait_for(lambda: scripts.finished(str(store_dir), "dead") >= 2)
    os.kill(manager.provisioner.process.pid, signal.SIGKILL)  # the kernel only: as an OOM kill
    scripts.wait_for(lambda: all(r["status"] != "RUNNING" for r in
                                 scripts.trial_runs(str(store_dir), "dead")))  # fmt: skip
    before = scripts.trial_runs(str(store_dir), "dead")
    lost = [r for r in before if r["tags"]["mlops.sweep.state"] not in ("complete",)]
    assert len(lost) <= 2  # at most the two trials in flight

    manager.restart_kernel(now=True)
    client.wait_for_ready(timeout=60)
    client.execute_interactive(SETUP, timeout=60)
    content, printed = run_cell(client, SLOW_CELL.format(name="dead", trials=10, sleep=0))
    assert content["status"] == "ok", printed
    after = scripts.trial_runs(str(store_dir), "dead")
    states = [r["tags"]["mlops.sweep.state"] for r in after]
    assert states.count("complete") == 10 and "running" not in states
    assert all(r["status"] == "KILLED" for r in after if r["tags"]["mlops.sweep.state"] ==
               "interrupted")  # fmt: skip
