"""The store's named document operations: one suite on memory, on disk and on a real MLflow server.

Registry, deployments, drift reports and monitor windows are written only through these
operations (``create_model_version``, ``set_alias``, ``record_deployment``...); each backend
implements them its own way (a transaction of the embedded store, MLflow's client calls), and
they must mean the same everywhere. The model reference resolver (``store.refs``) reads through
them, so it is tested here on every backend too.
"""

from __future__ import annotations

import uuid

import pytest
from test_store import new_run

from jupyter_mlops.entities import (
    AliasDoc,
    AliasMove,
    DeploymentDoc,
    DriftReportDoc,
    ModelVersionDoc,
    MonitorWindowDoc,
    RegisteredModelDoc,
)
from jupyter_mlops.errors import Conflict, InvalidInput, NotFound
from jupyter_mlops.store import refs
from jupyter_mlops.store.embedded import EmbeddedStore


@pytest.fixture(params=["memory", "disk", "mlflow"])
def store(request, tmp_path, monkeypatch):
    if request.param == "memory":
        return EmbeddedStore.open("memory:")
    if request.param == "disk":
        return EmbeddedStore.open(str(tmp_path / "store"))
    from jupyter_mlops.store.mlflow import MlflowStore

    monkeypatch.setenv("JUPYTER_MLOPS_CACHE", str(tmp_path / "cache"))
    return MlflowStore("mlflow+" + request.getfixturevalue("mlflow_server"))


def version(store, name, **fields):
    run_id = new_run(store)
    doc = ModelVersionDoc(name, run_id, f"runs:/{run_id}/model", sha256="ab" * 32, **fields)
    return store.create_model_version(doc)


def test_versions_are_numbered_in_order_and_a_copy_must_be_next(store, unique):
    name = f"m-{unique}"
    first = version(store, name, description="one", tags={"team": "a"}, creation_time=5)
    second = version(store, name, lineage={"metrics": {"acc": 0.9}})
    assert (first.version, second.version) == (1, 2)
    assert store.get_registered_model(name).name == name
    assert not store.create_registered_model(RegisteredModelDoc(name))  # exists already
    got = store.get_model_version(name, 1)
    assert (got.description, got.tags, got.sha256, got.status) == (
        "one",
        {"team": "a"},
        "ab" * 32,
        "READY",
    )
    assert store.get_model_version(name, 2).lineage == {"metrics": {"acc": 0.9}}
    assert [v.version for v in store.list_model_versions(name)] == [1, 2]
    assert store.get_model_version(name, 9) is None
    run_id = new_run(store)
    with pytest.raises(Conflict, match="next version is 3"):
        store.create_model_version(ModelVersionDoc(name, run_id, f"runs:/{run_id}/model"), number=5)
    copied = store.create_model_version(
        ModelVersionDoc(name, run_id, f"runs:/{run_id}/model"), number=3
    )
    assert copied.version == 3


def test_an_alias_moves_with_one_history_entry_per_move(store, unique):
    name = f"m-{unique}"
    version(store, name)
    version(store, name)
    first = store.set_alias(name, "prod", 1, time=10, user="ann", reason="first")
    assert (first.from_version, first.to_version, first.user, first.reason) == (
        None,
        1,
        "ann",
        "first",
    )
    assert store.set_alias(name, "prod", 1, time=11) is None  # already there: no move
    store.set_alias(name, "prod", 2, time=12, forced=True)
    assert store.list_aliases(name) == [AliasDoc(name, "prod", 2)]
    store.delete_alias(name, "prod", time=13, reason="retired")
    assert store.list_aliases(name) == []
    with pytest.raises(NotFound, match="no alias 'prod'"):
        store.delete_alias(name, "prod", time=14)
    with pytest.raises(NotFound, match=r"has no version 7 \(versions: 1, 2\)"):
        store.set_alias(name, "prod", 7, time=15)
    moves = store.list_alias_moves(name)
    assert [(m.from_version, m.to_version, m.time) for m in moves] == [
        (None, 1, 10),
        (1, 2, 12),
        (2, None, 13),
    ]
    assert moves[1].forced and moves[2].reason == "retired"
    assert not store.record_alias_move(moves[0])  # known id: a second sync adds nothing
    copied = AliasMove(uuid.uuid4().hex, name, "prod", None, 1, 20, "bob")
    assert store.record_alias_move(copied)
    assert store.list_alias_moves(name)[-1] == copied
    assert store.restore_alias(AliasDoc(name, "prod", 1))
    assert not store.restore_alias(AliasDoc(name, "prod", 1))
    assert len(store.list_alias_moves(name)) == 4  # restoring is not a move


def test_an_archived_version_holds_no_alias_and_edits_need_the_version(store, unique):
    name = f"m-{unique}"
    version(store, name)
    store.set_alias(name, "prod", 1, time=1)
    with pytest.raises(Conflict, match="still holds alias"):
        store.archive_model_version(name, 1)
    store.delete_alias(name, "prod", time=2)
    store.archive_model_version(name, 1)
    assert store.get_model_version(name, 1).status == "ARCHIVED"
    with pytest.raises(Conflict, match="archived"):
        store.set_alias(name, "prod", 1, time=3)
    store.update_model_version(name, 1, description="old", tags={"k": "v"})
    store.add_validation(name, 1, {"passed": True, "checks": []})
    store.add_validation(name, 1, {"passed": False, "checks": []})
    got = store.get_model_version(name, 1)
    assert (got.description, got.tags["k"], got.status) == ("old", "v", "ARCHIVED")
    assert [v["passed"] for v in got.validations] == [True, False]
    for n in range(4):  # evaluation reports: only the newest `keep` stay
        store.add_version_report(name, 1, {"n": n}, kind="evaluations", keep=2)
    got = store.get_model_version(name, 1)
    assert [e["n"] for e in got.evaluations] == [2, 3] and len(got.validations) == 2
    with pytest.raises(InvalidInput, match="keeps validations and evaluations"):
        store.add_version_report(name, 1, {}, kind="notes")
    key = f"{name}/1"  # a transaction may still merge a version's own fields (compatibility)
    store.transact(lambda txn: txn.merge("model_versions", key, {"evaluations": [{"n": 9}]}))
    assert store.get_model_version(name, 1).evaluations == [{"n": 9}]
    with pytest.raises(NotFound, match="has no version 4"):
        store.update_model_version(name, 4, description="x")
    with pytest.raises(NotFound, match="No registered model"):
        store.add_validation(f"none-{unique}", 1, {})
    store.update_registered_model(name, description="scores churn", tags={"team": "a"})
    store.update_registered_model(name, tags={"tier": "gold"})  # added beside the first
    model = store.get_registered_model(name)
    assert (model.description, model.tags) == ("scores churn", {"team": "a", "tier": "gold"})
    with pytest.raises(NotFound, match="No registered model"):
        store.update_registered_model(f"none-{unique}", description="x")


def test_deployments_are_recorded_updated_and_follow_versions(store, unique):
    name = f"d-{unique}"
    doc = DeploymentDoc(name, "models:/m@prod", version=1, port=8080, url="http://127.0.0.1:8080",
                        pid=4242, start_time=7, versions=[{"version": 1, "time": 7}])  # fmt: skip
    store.record_deployment(doc)
    assert store.get_deployment(name) == doc
    store.update_deployment(name, state="running")
    store.record_deployment_version(name, 2, 9)
    store.update_deployment(name, state="stopped", stop_time=11, last_metrics={"requests": 3})
    got = store.get_deployment(name)
    assert (got.state, got.version, got.stop_time, got.last_metrics) == (
        "stopped",
        2,
        11,
        {"requests": 3},
    )
    assert got.versions == [{"version": 1, "time": 7}, {"version": 2, "time": 9}]
    assert name in [d.name for d in store.list_deployments()]
    with pytest.raises(NotFound, match="No deployment named"):
        store.update_deployment(f"none-{unique}", state="stopped")
    with pytest.raises(InvalidInput, match="model_uri cannot be updated"):
        store.update_deployment(name, model_uri="models:/other/1")


def test_drift_reports_and_monitor_windows(store, unique):
    report = DriftReportDoc(f"r-{unique}", {"created_at": "2026-01-01", "n_drifted": 1}, "weekly")
    store.save_drift_report(report)
    got = store.get_drift_report(report.report_id)
    assert (got.name, got.body["n_drifted"]) == ("weekly", 1)
    store.save_drift_report(DriftReportDoc(report.report_id, report.body, "renamed"))
    assert store.get_drift_report(report.report_id).name == "renamed"
    assert store.get_drift_report(f"none-{unique}") is None
    name = f"d-{unique}"
    full = MonitorWindowDoc(name, 3_600_000, 0, 1, 200, {"alert": False})
    part = MonitorWindowDoc(name, 3_600_000, 0, 1, 50, {"alert": True})
    other = MonitorWindowDoc(name, 3_600_000, 3_600_000, None, 10, {})
    assert store.save_monitor_windows([full, other]) == 2
    assert store.save_monitor_windows([part]) == 0  # never replaced by a view of part of it
    mine = {w.key: w for w in store.list_monitor_windows() if w.deployment == name}
    assert set(mine) == {f"{name}/3600000/0/1", f"{name}/3600000/3600000/-"}
    assert mine[full.key].rows == 200 and mine[full.key].body["alert"] is False


def test_model_references_resolve_the_same_on_every_backend(store, unique, tmp_path):
    name = f"m-{unique}"
    one, two = version(store, name), version(store, name)
    store.set_alias(name, "prod", 1, time=1)
    assert refs.resolve(store, f"models:/{name}@prod").version == 1
    assert refs.resolve(store, f"models:/{name}/v2").canonical == f"models:/{name}/2"
    ref = refs.resolve(store, f"models:/{name}/latest")
    assert (ref.version, ref.run_id, ref.path, ref.sha256) == (2, two.run_id, "model", "ab" * 32)
    store.archive_model_version(name, 2)
    assert refs.resolve(store, f"models:/{name}/latest").version == 1  # archived ones are skipped
    run = refs.resolve(store, f"runs:/{one.run_id}/model")
    assert (run.run_id, run.path, run.version) == (one.run_id, "model", None)
    assert refs.resolve(store, str(tmp_path)).folder == str(tmp_path)
    with pytest.raises(NotFound, match="aliases: prod"):
        refs.resolve(store, f"models:/{name}@staging")
    with pytest.raises(NotFound, match="No registered model"):
        refs.resolve(store, f"models:/none-{unique}/1")
    for bad in (f"models:/{name}", "models:/@prod", "runs:/only-id", "s3://bucket/model", 3):
        with pytest.raises(InvalidInput):
            refs.resolve(store, bad)
