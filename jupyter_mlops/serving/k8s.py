"""Kubernetes: an image recipe and manifests that run ``jupyter mlops serve`` on a model.

``export_k8s`` writes into a folder:

- ``model/`` — the model file and its ``MLmodel.json`` (the sha256 inside is checked at start);
- ``Dockerfile`` — a slim Python image with pinned jupyter-mlops and model libraries;
- ``deployment.yaml`` / ``service.yaml`` — an ``apps/v1`` Deployment (replicas, labels,
  readiness and liveness probes on ``/health``, resource requests and limits) and a ``v1``
  ClusterIP Service.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from typing import Any

from jupyter_mlops.errors import InvalidInput

PORT = 8080
IMAGE_PYTHON = "3.11-slim"
PIP_NAMES = {"sklearn": "scikit-learn", "numpy": "numpy", "pandas": "pandas", "torch": "torch"}


def export_k8s(
    model_uri: str,
    output_dir: str,
    name: str | None = None,
    replicas: int = 2,
    image: str | None = None,
    cpu: str = "500m",
    memory: str = "512Mi",
) -> list[str]:
    """Write the model, a Dockerfile and Kubernetes manifests into ``output_dir``."""
    from jupyter_mlops.tracking.models import model_files

    files = model_files(model_uri)
    if files.descriptor.get("flavor") == "mlflow":
        raise InvalidInput(
            f"{model_uri} was logged by MLflow's client: its image needs MLflow and the flavor's "
            "packages, which this export does not build. Serve it with `jupyter mlops serve`, "
            "or build its image with `mlflow models build-docker`."
        )
    name = _k8s_name(name or files.name)
    if not isinstance(replicas, int) or replicas < 1:
        raise InvalidInput(f"replicas must be a positive integer, not {replicas!r}.")
    os.makedirs(os.path.join(output_dir, "model"), exist_ok=True)
    filename = os.path.basename(files.descriptor.get("model_file", "model.pkl"))
    shutil.copyfile(files.model_file, os.path.join(output_dir, "model", filename))
    descriptor = {
        **files.descriptor,
        "model_file": filename,
        "name": files.name,
        "version": files.version,
    }
    _write(output_dir, "model/MLmodel.json", json.dumps(descriptor, indent=2, default=str))
    extra = _write_contract(files.uri, output_dir)
    _write(output_dir, "Dockerfile", dockerfile(descriptor))
    labels = {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": "jupyter-mlops",
        "mlops/model": _label(files.name),
        "mlops/version": _label(str(files.version or "")),
    }
    image = image or f"{name}:{files.version or 'latest'}"
    _write(
        output_dir,
        "deployment.yaml",
        _yaml(deployment_manifest(name, image, labels, replicas, cpu, memory)),
    )
    _write(output_dir, "service.yaml", _yaml(service_manifest(name, labels)))
    return [
        os.path.join(output_dir, f)
        for f in (
            f"model/{filename}",
            "model/MLmodel.json",
            "Dockerfile",
            "deployment.yaml",
            "service.yaml",
            *extra,
        )
    ]


def _write_contract(uri: str, output_dir: str) -> list[str]:
    """``model/contract.yaml``, which the server in the image enforces (when the model has one)."""
    from jupyter_mlops.contracts.resolve import CONTRACT_FILE, served_contract

    contract = served_contract(uri)
    if contract is None:
        return []
    contract.save(os.path.join(output_dir, "model", CONTRACT_FILE))
    return [f"model/{CONTRACT_FILE}"]


def dockerfile(descriptor: dict[str, Any]) -> str:
    """A Dockerfile that installs pinned libraries and serves ``/opt/model`` on port 8080."""
    from jupyter_mlops.version import __version__

    pins = [
        f"{PIP_NAMES[lib]}=={v}"
        for lib, v in sorted(descriptor.get("library_versions", {}).items())
        if lib in PIP_NAMES and v
    ]
    mlops_pin = (
        "jupyter-mlops"
        if "dev" in __version__ or __version__.startswith("0.0.0")
        else f"jupyter-mlops=={__version__}"
    )
    return "\n".join(
        [
            f"FROM python:{IMAGE_PYTHON}",
            "ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1",
            f"RUN pip install {' '.join([mlops_pin, *pins])}",
            "COPY model /opt/model",
            "RUN useradd --create-home --uid 10001 mlops",
            "USER 10001",
            f"EXPOSE {PORT}",
            'HEALTHCHECK CMD python -c "import urllib.request;'
            f"urllib.request.urlopen('http://127.0.0.1:{PORT}/health')\"",
            'CMD ["jupyter", "mlops", "serve", "/opt/model", "--host", "0.0.0.0", '
            f'"--port", "{PORT}"]',
            "",
        ]
    )


def deployment_manifest(
    name: str, image: str, labels: dict[str, str], replicas: int, cpu: str, memory: str
) -> dict[str, Any]:
    """An ``apps/v1`` Deployment with probes on ``/health`` and resource bounds."""
    probe = {"httpGet": {"path": "/health", "port": PORT}, "periodSeconds": 10, "timeoutSeconds": 2}
    container = {
        "name": "model",
        "image": image,
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "readinessProbe": {**probe, "initialDelaySeconds": 3},
        "livenessProbe": {**probe, "initialDelaySeconds": 15, "failureThreshold": 3},
        "resources": {
            "requests": {"cpu": cpu, "memory": memory},
            "limits": {"cpu": _double(cpu), "memory": _double(memory)},
        },
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False},
    }
    selector = {"app.kubernetes.io/name": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/path": "/metrics",
                        "prometheus.io/port": str(PORT),
                    },
                },
                "spec": {"containers": [container]},
            },
        },
    }


def service_manifest(name: str, labels: dict[str, str]) -> dict[str, Any]:
    """A ClusterIP ``v1`` Service on port 80 in front of the pods."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "type": "ClusterIP",
            "selector": {"app.kubernetes.io/name": name},
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def _double(quantity: str) -> str:
    match = re.fullmatch(r"(\d+)([A-Za-z]*)", quantity)
    if not match:
        raise InvalidInput(f"Cannot read the resource quantity {quantity!r} (e.g. 500m, 512Mi).")
    return f"{int(match.group(1)) * 2}{match.group(2)}"


def _k8s_name(name: str) -> str:
    cleaned = re.sub(r"[^a-z0-9-]+", "-", str(name).lower()).strip("-")[:63].strip("-")
    if not cleaned:
        raise InvalidInput(f"Cannot make a Kubernetes name out of {name!r}; pass --name.")
    return cleaned


def _label(value: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", value).strip("-_.")[:63]
    return cleaned.strip("-_.")


def _yaml(doc: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(doc, sort_keys=False)


def _write(folder: str, rel: str, text: str) -> None:
    with open(os.path.join(folder, rel), "w", encoding="utf-8") as fh:
        fh.write(text)
