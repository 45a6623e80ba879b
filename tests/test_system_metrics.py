"""System metrics: opt-in sampling of CPU, memory, disk, network (and GPU where there is one)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import psutil
import pytest
from magic_fixtures import runs

import jupyter_mlops as mlops
from jupyter_mlops.tracking import system_metrics

EXPECTED = {
    "system/cpu_utilization_percentage",
    "system/system_memory_usage_megabytes",
    "system/system_memory_usage_percentage",
    "system/disk_usage_megabytes",
    "system/disk_usage_percentage",
    "system/disk_available_megabytes",
    "system/disk_read_megabytes",
    "system/disk_write_megabytes",
    "system/network_receive_megabytes",
    "system/network_transmit_megabytes",
}


def system_keys(run):
    return {k for k in run.metrics if k.startswith("system/")}


def test_start_run_samples_the_machine_until_the_run_ends(store_dir):
    with mlops.start_run(name="sampled", system_metrics=True) as run:
        assert system_metrics.active_monitors() == [run.id]
        mlops.log_metric("loss", 1.0)
    assert system_metrics.active_monitors() == []
    got = mlops.get_run(run.id)
    assert system_keys(got) == EXPECTED  # no GPU on this machine: no gpu_* keys
    assert got.metrics["loss"] == 1.0
    memory = got.metrics["system/system_memory_usage_megabytes"]
    total = psutil.virtual_memory().total / 2**20
    assert 0 < memory < total
    assert 0 <= got.metrics["system/cpu_utilization_percentage"] <= 100
    assert got.metrics["system/disk_available_megabytes"] > 0
    history = mlops.get_metric_history(run.id, "system/cpu_utilization_percentage")
    assert len(history) >= 1 and history.step.tolist() == list(range(len(history)))


def test_sampling_is_off_unless_asked(store_dir):
    with mlops.start_run(name="plain") as run:
        pass
    assert system_keys(mlops.get_run(run.id)) == set()


def test_a_sample_is_taken_every_interval_in_the_background(store_dir):
    with mlops.start_run(name="slow"):
        monitor = system_metrics.SystemMetricsMonitor(mlops.active_run().id, interval=0.05)
        monitor.start()
        while monitor.samples < 3:  # the thread logs on its own; no sleep-and-hope
            time.sleep(0.01)
        monitor.stop()
        taken = monitor.samples
    history = mlops.get_metric_history(monitor.run_id, "system/disk_usage_percentage")
    assert len(history) == taken >= 4  # three in the background, one at the stop


def test_nested_runs_each_stop_their_own_sampler(store_dir):
    with mlops.start_run(name="parent", system_metrics=True) as parent:
        with mlops.start_run(name="child", nested=True, system_metrics=True) as child:
            assert sorted(system_metrics.active_monitors()) == sorted([parent.id, child.id])
        assert system_metrics.active_monitors() == [parent.id]
    assert system_metrics.active_monitors() == []


def test_the_magic_flag_on_a_cell_and_on_a_start_run(shell):
    assert shell.run_cell("%%mlops_track -n cell --system-metrics\nx = sum(range(1000))").success
    assert shell.run_cell("%mlops_track start -n span --system-metrics").success
    assert shell.run_cell("y = 2").success
    assert shell.run_cell("%mlops_track stop").success
    by_name = {r.name: r for r in runs()}
    assert system_keys(by_name["cell"]) == EXPECTED
    assert system_keys(by_name["span"]) == EXPECTED
    assert system_metrics.active_monitors() == []


def test_the_flag_is_refused_where_it_means_nothing(shell, capsys):
    shell.run_line_magic("mlops_track", "start -n x")
    result = shell.run_cell("%mlops_track stop --system-metrics")
    assert not result.success
    assert "does not take --system-metrics" in str(result.error_in_exec)
    shell.run_line_magic("mlops_track", "stop")


def test_without_psutil_the_error_says_what_to_install_and_no_run_is_left(store_dir):
    script = textwrap.dedent(
        """\
        import sys
        sys.modules["psutil"] = None  # as if it were not installed
        import jupyter_mlops as mlops
        try:
            mlops.start_run(name="x", system_metrics=True)
        except mlops.InvalidInput as e:
            print(e)
        print(len(mlops.search_runs()))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
        env=dict(os.environ),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    message, count = done.stdout.strip().splitlines()
    assert "pip install 'jupyter-mlops[system-metrics]'" in message
    assert count == "0"


def test_without_a_gpu_nvml_adds_nothing_and_breaks_nothing():
    import pynvml  # the [system-metrics] extra installs nvidia-ml-py

    with pytest.raises(pynvml.NVMLError):
        pynvml.nvmlInit()  # no NVIDIA driver on this machine
    assert system_metrics.Gpus().sample() == {}
