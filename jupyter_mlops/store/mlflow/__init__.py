"""The MLflow backend: an MLflow tracking server (or any MLflow tracking URI) as the store.

``JUPYTER_MLOPS_STORE=mlflow+http://host:5000`` (or ``mlflow+https://...``, ``mlflow+sqlite:///...``,
``mlflow+databricks`` — anything MLflow's client accepts after the ``mlflow+``) makes every part of
jupyter_mlops use that server through MLflow's own client, imported only here. Everything lands
where MLflow users look for it:

==========================  ==================================================================
jupyter_mlops               MLflow
==========================  ==================================================================
experiment, run             experiment, run (status, start and end time, name)
params, tags                params, tags; plus the system tags ``mlflow.runName``,
                            ``mlflow.source.name`` (the notebook), ``mlflow.source.type``
                            (``NOTEBOOK``), ``mlflow.source.git.commit``, ``mlflow.parentRunId``,
                            ``mlflow.user``
metric points               metrics with steps, sent with ``log_batch`` (≤ 1,000 per call) by
                            the tracking buffer's thread
datasets                    run inputs (name, digest, context; our full record in the profile)
artifacts                   run artifacts; each one's sha256 and size in a ``mlops.artifact.*``
                            tag, checked before a downloaded file is used
registered models,          the model registry (models, versions, aliases); our extra fields
versions, aliases           (sha256, flavor, signature, lineage, validations, status) in the
                            version's ``mlops.doc`` tag
everything else             documents (alias history, deployments, drift reports, monitor
                            windows) and record streams (prediction logs, labels) as runs of
                            the experiment ``_jupyter_mlops``: a document's JSON in
                            ``mlops.doc.<n>`` tags, a stream's records in artifact chunks
==========================  ==================================================================

So a second machine pointed at the same server sees everything, runs and models made with MLflow's
own client show up in our panels, and ``mlflow.pyfunc.load_model("models:/NAME@ALIAS")`` loads
the models we register (``log_model`` writes an ``MLmodel`` file beside ours).

The backend is a package of small parts, each a class the next one builds on:
:mod:`.client` (MLflow's client, retries, errors) → :mod:`.runs` (experiments, runs, params,
tags, datasets) → :mod:`.metrics` → :mod:`.artifacts` → :mod:`.documents` (the hidden
experiment; deployments, drift reports, monitor windows, alias moves) → :mod:`.streams` →
:mod:`.registry` (MLflow's model registry) → :class:`MlflowStore`; :mod:`.codec` converts
between MLflow's entities and our documents. Only ``MlflowClient``'s public methods are used,
plus MLflow's REST helpers for the metric fast path and its artifact repository to delete
stream chunks.

Guarantees differ from the embedded store where MLflow has no equivalent: a :meth:`transact`
callback runs on a snapshot and its writes are sent in order once it returns (nothing is written
when it raises), serialized within the process, but not atomic against other machines; metric
summaries hold the last value only (MLflow keeps no min/max/count).
"""

from __future__ import annotations

from jupyter_mlops.store.mlflow.client import INTERNAL_EXPERIMENT, PREFIX
from jupyter_mlops.store.mlflow.registry import Registry

__all__ = ["INTERNAL_EXPERIMENT", "PREFIX", "MlflowStore"]


class MlflowStore(Registry):
    """A :class:`~jupyter_mlops.store.base.Store` on an MLflow tracking server."""
