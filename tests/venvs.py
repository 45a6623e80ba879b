"""Helper venvs of the tests (Airflow + kfp, an MLflow server): built once, cached, pinned."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def build(script: list[str], venv: str, produces: str, env: dict[str, str] | None = None) -> str:
    """Run a setup script from ``tests/`` that builds ``venv``; the path of ``produces`` in it.

    Idempotent (the scripts return at once for a verified venv); fails the test loudly, with the
    script's output, when the venv cannot be built.
    """
    started = time.perf_counter()
    command = ["bash", os.path.join(HERE, script[0]), *script[1:]]
    # same interpreter version as the tests
    full_env = {"PYTHON": sys.executable, **os.environ, **(env or {})}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800, env=full_env)
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.fail(f"could not build {venv}: {e}")
    target = os.path.join(venv, produces)
    if done.returncode != 0 or not os.path.isfile(target):
        pytest.fail(f"could not build {venv} (exit {done.returncode}):\n{done.stderr[-3000:]}")
    print(f"{os.path.basename(venv)} ready in {time.perf_counter() - started:.1f} s")
    return target
