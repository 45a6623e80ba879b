"""The documents the store keeps besides runs: their schemas, one owning module per kind.

- :mod:`~jupyter_mlops.entities.registry`: registered models, model versions, aliases and the
  alias history;
- :mod:`~jupyter_mlops.entities.deployments`: deployments (model servers as processes);
- :mod:`~jupyter_mlops.entities.monitoring`: saved drift reports and monitor windows.

Each kind is a frozen dataclass with ``to_doc()`` (the JSON document as stored) and
``from_doc()`` (back, keeping fields a newer version added in ``extra``), and the table it lives
in. The store interface (:class:`jupyter_mlops.store.base.Store`) writes them through named
operations (``create_model_version``, ``set_alias``, ``record_deployment``...), which every
backend implements in its own way. This package imports nothing but the standard library.
"""

from jupyter_mlops.entities.deployments import DeploymentDoc
from jupyter_mlops.entities.monitoring import DriftReportDoc, MonitorWindowDoc
from jupyter_mlops.entities.registry import AliasDoc, AliasMove, ModelVersionDoc, RegisteredModelDoc

__all__ = [
    "AliasDoc",
    "AliasMove",
    "DeploymentDoc",
    "DriftReportDoc",
    "ModelVersionDoc",
    "MonitorWindowDoc",
    "RegisteredModelDoc",
]
