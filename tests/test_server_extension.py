"""The server extension's REST routes, served by a real Jupyter server (pytest-jupyter)."""

import copy
import dataclasses
import json
import os
import time
import uuid

import nbformat
import numpy as np
import pandas as pd
import pytest
import tornado.web
from sklearn.linear_model import LogisticRegression
from tornado.httpclient import HTTPClientError
from tornado.web import RequestHandler

import jupyter_mlops as mlops
from jupyter_mlops.entities import DeploymentDoc
from jupyter_mlops.errors import (
    Conflict,
    FilterError,
    InvalidInput,
    NotFound,
    SearchTimeout,
    StoreError,
)
from jupyter_mlops.jupyter.server import ROUTES, MlflowApiHandler, MlopsHandler, http_status
from jupyter_mlops.jupyter.server_routes import OutsideRoot
from jupyter_mlops.store import get_store

# Every function that `@tornado.web.authenticated` returns shares this code object.
AUTHENTICATED_CODE = tornado.web.authenticated(lambda self: None).__code__


@pytest.fixture
def allow_unauthenticated_access():
    """Overridden by the auth test, which also runs on a permissive server."""
    return False


@pytest.fixture
def jp_server_config(jp_server_config, allow_unauthenticated_access):
    config = copy.deepcopy(jp_server_config)
    config["ServerApp"]["allow_unauthenticated_access"] = allow_unauthenticated_access
    return config


def mlops_routes(web_app):
    """``(matcher, handler class)`` of every route whose path has ``/jupyter-mlops/`` in it."""
    found = []

    def walk(router):
        for rule in router.rules:
            if isinstance(rule.target, type) and issubclass(rule.target, RequestHandler):
                pattern = getattr(rule.matcher, "regex", None)
                if pattern is not None and "/jupyter-mlops/" in pattern.pattern:
                    found.append((rule.matcher, rule.target))
            elif hasattr(rule.target, "rules"):
                walk(rule.target)

    walk(web_app.default_router)
    return found


def own_verbs(handler):
    """``{verb: function}`` for the verbs ``handler`` defines beyond tornado's and Jupyter's."""
    verbs = {}
    for cls in reversed(handler.__mro__):
        if not cls.__module__.startswith(("tornado.", "jupyter_server.", "builtins")):
            for verb in handler.SUPPORTED_METHODS:
                if verb.lower() in vars(cls):
                    verbs[verb] = vars(cls)[verb.lower()]
    return verbs


def sample_path(matcher, base_url):
    """A concrete request path for ``matcher``, relative to ``base_url``: each group becomes x."""
    path, depth = "", 0
    for char in matcher.regex.pattern.removesuffix("$"):
        if char == "(":
            depth += 1
            path += "x" if depth == 1 else ""
        elif char == ")":
            depth -= 1
        elif depth == 0 and char != "\\":
            path += char
    assert matcher.regex.fullmatch(path), f"cannot build a sample URL for {matcher.regex.pattern}"
    assert path.startswith(base_url), path
    return path[len(base_url) :]


async def test_experiments_route_lists_the_stores_experiments(jp_fetch):
    get_store().get_or_create_experiment("churn")

    response = await jp_fetch("jupyter-mlops", "api", "experiments")

    assert response.code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    experiments = json.loads(response.body)["experiments"]
    assert [(e["name"], e["run_count"]) for e in experiments] == [("churn", 0)]


async def test_experiments_route_on_an_empty_store(jp_fetch):
    response = await jp_fetch("jupyter-mlops", "api", "experiments")

    assert json.loads(response.body) == {"experiments": []}


@pytest.mark.parametrize(
    "allow_unauthenticated_access", [False, True], ids=["strict-server", "permissive-server"]
)
async def test_every_route_requires_authentication(jp_fetch, jp_web_app, jp_base_url):
    routes = mlops_routes(jp_web_app)
    expected = {handler for _, handler in ROUTES} | {MlflowApiHandler}
    assert {handler for _, handler in routes} == expected, routes

    for matcher, handler in routes:
        verbs = own_verbs(handler)
        assert verbs, f"{handler.__name__} defines no HTTP verb"
        path = sample_path(matcher, jp_base_url)
        for verb, function in verbs.items():
            where = f"{verb} {matcher.regex.pattern} ({handler.__name__})"
            # Static: the server's own allow_unauthenticated_access must not be the only guard.
            assert function.__code__ is AUTHENTICATED_CODE, f"{where}: add @web.authenticated"
            body = b"{}" if verb in {"POST", "PUT", "PATCH"} else None
            with pytest.raises(HTTPClientError) as refused:
                await jp_fetch(path, method=verb, body=body, headers={"Authorization": ""})
            assert refused.value.code == 403, where


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFound("Model 'churn' has no version 3."), 404),
        (InvalidInput("limit must be a positive integer"), 400),
        (FilterError("unexpected token", "metrics.acc >", 13, ""), 400),
        (Conflict("Param 'lr' is already 0.1."), 409),
        (OutsideRoot("The notebook '../x.ipynb' is outside the server's root folder."), 403),
        (StoreError("The journal store.journal.3 is damaged at line 12."), 503),
        (SearchTimeout("The search was stopped after 10 s."), 400),
        (ValueError("a bug, not a user error"), None),
        (None, None),
    ],
)
def test_http_status_maps_core_errors(error, status):
    assert http_status(error) == status


class _Raiser(MlopsHandler):
    """Raises the core error named in the URL, as a route's core call would."""

    errors = {
        "not-found": NotFound("Experiment 'nope' does not exist."),
        "filter": FilterError("unexpected token", "metrics.acc >", 13, ""),
        "conflict": Conflict("Alias 'prod' already points to version 2."),
        "bug": RuntimeError("secret internals"),
    }

    @tornado.web.authenticated
    def get(self, name):
        raise self.errors[name]


@pytest.mark.parametrize(
    ("name", "status"), [("not-found", 404), ("filter", 400), ("conflict", 409), ("bug", 500)]
)
async def test_core_errors_become_json_messages(jp_fetch, jp_web_app, jp_base_url, name, status):
    jp_web_app.add_handlers(".*$", [(jp_base_url + "mlops-test/raise/([a-z-]+)", _Raiser)])

    with pytest.raises(HTTPClientError) as failed:
        await jp_fetch("mlops-test", "raise", name)

    assert failed.value.code == status
    body = json.loads(failed.value.response.body)
    if status == 500:
        assert "secret internals" not in failed.value.response.body.decode()
    else:
        assert body == {"message": str(_Raiser.errors[name])}


# -- the routes, one by one ----------------------------------------------------------------------
async def get_json(jp_fetch, *parts, **kwargs):
    response = await jp_fetch("jupyter-mlops", "api", *parts, **kwargs)
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    return json.loads(response.body)


async def post_json(jp_fetch, *parts, body):
    return await get_json(jp_fetch, *parts, method="POST", body=json.dumps(body))


async def refused(jp_fetch, *parts, method="GET", body=None, **kwargs):
    """``(status, JSON body)`` of a request the server refuses."""
    data = None if body is None else (body if isinstance(body, str) else json.dumps(body))
    with pytest.raises(HTTPClientError) as failed:
        await jp_fetch("jupyter-mlops", "api", *parts, method=method, body=data, **kwargs)
    return failed.value.code, json.loads(failed.value.response.body)


def seed_runs(experiment="churn", count=3):
    """``count`` runs through the tracking API: params, a metric history, an artifact."""
    ids = []
    for i in range(count):
        with mlops.start_run(name=f"rf-{i}", experiment=experiment) as run:
            mlops.log_params({"n_estimators": 100 * (i + 1), "model": "rf"})
            for step in range(3):
                mlops.log_metric("acc", 0.5 + 0.1 * i + 0.01 * step, step=step)
            mlops.log_text(f"run {i}", "notes/readme.txt")
            ids.append(run.id)
    mlops.flush()
    return ids


def seed_run_docs(experiment, count):
    """``count`` minimal runs written straight into the store (fast, for paging)."""
    store = get_store()
    exp = store.get_or_create_experiment(experiment)
    now = int(time.time() * 1000)
    for i in range(count):
        store.create_run(
            {
                "run_id": uuid.uuid4().hex,
                "run_name": f"run-{i:05d}",
                "experiment_id": exp["experiment_id"],
                "status": "FINISHED",
                "start_time": now + i,
                "end_time": now + i + 1500,
                "parent_run_id": None,
                "params": {"i": str(i)},
                "metrics": {"loss": {"last": 1 / (i + 1), "min": 0.0, "max": 1.0, "step": 0}},
                "tags": {},
                "datasets": [],
                "artifacts": {},
            }
        )


async def test_runs_route_filters_orders_and_pages(jp_fetch):
    seed_runs()
    seed_run_docs("other", 5)

    page = await get_json(
        jp_fetch,
        "runs",
        params=[("experiment", "churn"), ("order_by", "metrics.acc DESC"), ("limit", "2")],
    )

    assert page["total"] == 3
    assert (page["offset"], page["limit"]) == (0, 2)
    assert [r["run_name"] for r in page["runs"]] == ["rf-2", "rf-1"]
    first = page["runs"][0]
    assert first["experiment"] == "churn"
    assert first["params"] == {"model": "rf", "n_estimators": "300"}
    assert first["metrics"] == {"acc": pytest.approx(0.72)}
    assert first["status"] == "FINISHED" and first["duration_s"] >= 0
    assert page["metric_keys"] == ["acc"]
    assert page["param_keys"] == ["model", "n_estimators"]

    rest = await get_json(
        jp_fetch,
        "runs",
        params=[("experiment", "churn"), ("order_by", "metrics.acc DESC"), ("offset", "2")],
    )
    assert [r["run_name"] for r in rest["runs"]] == ["rf-0"]
    same = await get_json(  # max_results is search_runs' name for limit (docs/verbs.md)
        jp_fetch,
        "runs",
        params=[("experiment", "churn"), ("order_by", "metrics.acc DESC"), ("max_results", "2")],
    )
    assert [r["run_name"] for r in same["runs"]] == ["rf-2", "rf-1"]

    filtered = await get_json(
        jp_fetch, "runs", params={"filter": "params.n_estimators >= 200 and params.model = 'rf'"}
    )
    assert sorted(r["run_name"] for r in filtered["runs"]) == ["rf-1", "rf-2"]
    everything = await get_json(jp_fetch, "runs")
    assert everything["total"] == 8


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"filter": "metrics.acc >"}, 400, "position 13"),
        ({"filter": "metrics.acc > 'high'"}, 400, "metrics"),
        ({"order_by": "metrics.acc SIDEWAYS"}, 400, "SIDEWAYS"),
        ({"limit": "ten"}, 400, "limit"),
        ({"limit": "0"}, 400, "limit"),
        ({"limit": "5000"}, 400, "at most 1000"),
        ({"offset": "-1"}, 400, "offset"),
        ({"experiment": "nope"}, 404, "No experiment named 'nope'"),
    ],
)
async def test_runs_route_refuses_bad_input(jp_fetch, params, status, message):
    seed_run_docs("churn", 1)

    code, body = await refused(jp_fetch, "runs", params=params)

    assert code == status
    assert message in body["message"]


async def test_bad_filter_message_points_at_the_token(jp_fetch):
    code, body = await refused(jp_fetch, "runs", params={"filter": "metrics.acc >> 1"})

    assert code == 400
    assert body["message"].splitlines()[-1].endswith("^")
    assert "metrics.acc >> 1" in body["message"]


async def test_run_route_has_params_metric_summaries_tags_datasets_artifacts(jp_fetch):
    run_id = seed_runs(count=1)[0]

    run = (await get_json(jp_fetch, "runs", run_id))["run"]

    assert run["run_id"] == run_id and run["run_name"] == "rf-0"
    assert run["experiment"] == "churn"
    assert run["params"] == {"model": "rf", "n_estimators": "100"}
    acc = run["metrics"]["acc"]
    assert (acc["count"], acc["step"]) == (3, 2)
    assert acc["last"] == pytest.approx(0.52) and acc["min"] == pytest.approx(0.5)
    assert "mlops.user" in run["tags"]
    assert run["datasets"] == []
    assert [a["path"] for a in run["artifacts"]] == ["notes/readme.txt"]
    assert set(run["artifacts"][0]) == {"path", "sha256", "size"}


async def test_metric_history_route(jp_fetch):
    run_id = seed_runs(count=1)[0]

    body = await get_json(jp_fetch, "runs", run_id, "metrics", "acc")

    assert body["run_id"] == run_id and body["key"] == "acc"
    assert [p["step"] for p in body["history"]] == [0, 1, 2]
    assert [p["value"] for p in body["history"]] == pytest.approx([0.5, 0.51, 0.52])
    assert all(isinstance(p["timestamp"], int) for p in body["history"])


async def test_metric_history_with_a_slash_in_the_key_and_nan_values(jp_fetch):
    with mlops.start_run(experiment="keys") as run:
        mlops.log_metric("val/loss", 1.0, step=0)
        mlops.log_metric("val/loss", float("nan"), step=1)
    mlops.flush()

    body = await get_json(jp_fetch, "runs", run.id, "metrics", "val/loss")

    assert [p["value"] for p in body["history"]] == [1.0, None]
    runs = await get_json(jp_fetch, "runs", params={"experiment": "keys"})
    assert runs["runs"][0]["metrics"] == {"val/loss": None}


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        (("runs", "0" * 32), "No run with id"),
        (("runs", "{run}", "metrics", "nope"), "has no metric 'nope' (metrics: acc)"),
        (("runs", "0" * 32, "metrics", "acc"), "No run with id"),
        (("runs", "{run}", "artifacts", "notes/missing.txt"), "no artifact"),
        (("models", "nope"), "No registered model named 'nope'"),
        (("deployments", "nope", "stop"), "No deployment named 'nope'"),
    ],
)
async def test_unknown_things_are_404_with_a_message(jp_fetch, parts, message):
    run_id = seed_runs(count=1)[0]
    parts = tuple(p.format(run=run_id) for p in parts)
    method = "POST" if parts[-1] == "stop" else "GET"

    code, body = await refused(
        jp_fetch, *parts, method=method, body="{}" if method == "POST" else None
    )

    assert code == 404
    assert message in body["message"]


async def test_artifact_route_serves_the_bytes(jp_fetch):
    run_id = seed_runs(count=1)[0]

    response = await jp_fetch(
        "jupyter-mlops", "api", "runs", run_id, "artifacts", "notes/readme.txt"
    )

    assert response.body == b"run 0"
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", ["../../../etc/passwd", "notes/../../x", "..\\..\\x"])
async def test_artifact_paths_cannot_leave_the_store(jp_fetch, path):
    run_id = seed_runs(count=1)[0]

    code, body = await refused(jp_fetch, "runs", run_id, "artifacts", path)

    assert code == 400
    assert "must be relative and stay inside the run" in body["message"]


# -- registry ------------------------------------------------------------------------------------
@pytest.fixture
def registered():
    """Model "churn": v1 (accuracy 0.80) holds alias "production"; v2 (0.90) does not."""
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([0, 0, 1, 1])
    for accuracy in (0.80, 0.90):
        with mlops.start_run(experiment="registry"):
            mlops.log_metric("accuracy", accuracy)
            uri = mlops.log_model(LogisticRegression().fit(X, y))
        mlops.register_model(uri, "churn", description="churn model")
    mlops.set_alias("churn", "production", 1)
    return "churn"


async def test_models_route_lists_models_with_versions_and_aliases(jp_fetch, registered):
    body = await get_json(jp_fetch, "models")

    [model] = body["models"]
    assert model["name"] == "churn"
    assert (model["versions"], model["latest_version"]) == ([1, 2], 2)
    assert model["aliases"] == {"production": 1}
    assert (await get_json(jp_fetch, "models", params={"filter": "name = 'x'"}))["models"] == []
    code, error = await refused(jp_fetch, "models", params={"filter": "name ="})
    assert code == 400 and "position" in error["message"]


async def test_model_route_has_versions_aliases_history_and_validations(jp_fetch, registered):
    await post_json(jp_fetch, "models", "churn", "aliases", body={"version": 2, "alias": "staging"})

    body = await get_json(jp_fetch, "models", "churn")

    assert body["model"]["name"] == "churn"
    assert body["aliases"] == {"production": 1, "staging": 2}
    versions = body["versions"]
    assert [(v["version"], v["aliases"], v["uri"]) for v in versions] == [
        (1, ["production"], "models:/churn/1"),
        (2, ["staging"], "models:/churn/2"),
    ]
    assert versions[1]["lineage"]["metrics"] == {"accuracy": 0.9}
    assert versions[1]["description"] == "churn model"
    assert "input_example" not in versions[0]
    assert [v["alias"] for v in versions[1]["validations"]] == ["staging"]
    moves = [(m["alias"], m["to_version"]) for m in body["alias_history"]]
    assert moves == [("production", 1), ("staging", 2)]


async def test_promote_route_moves_the_alias_when_the_gate_passes(jp_fetch, registered):
    body = await post_json(
        jp_fetch,
        "models",
        "churn",
        "aliases",
        body={"version": "2", "alias": "production", "checks": ["accuracy >= current"]},
    )

    report = body["report"]
    assert report["passed"] and not report["forced"]
    assert (report["version"], report["current_version"]) == (2, 1)
    assert report["checks"][0]["passed"]
    model = await get_json(jp_fetch, "models", "churn")
    assert model["aliases"] == {"production": 2}


async def test_promote_route_answers_409_with_the_report_when_refused(jp_fetch, registered):
    code, body = await refused(
        jp_fetch,
        "models",
        "churn",
        "aliases",
        method="POST",
        body={"version": 1, "alias": "production", "checks": "accuracy >= 0.95"},
    )

    assert code == 409
    assert "refused" in body["message"] and "accuracy >= 0.95" in body["message"]
    assert body["report"]["passed"] is False
    assert body["report"]["checks"][0]["check"] == "accuracy >= 0.95"

    forced = await post_json(
        jp_fetch,
        "models",
        "churn",
        "aliases",
        body={
            "version": 2,
            "alias": "production",
            "checks": ["accuracy >= 0.95"],
            "force": True,
            "reason": "hotfix",
        },
    )
    assert forced["report"]["forced"] is True
    history = (await get_json(jp_fetch, "models", "churn"))["alias_history"]
    assert (history[-1]["to_version"], history[-1]["reason"]) == (2, "hotfix")


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"alias": "production"}, 400, "version"),
        ({"version": 1}, 400, "alias"),
        ({"version": 1, "alias": "latest"}, 400, "reserved"),
        ({"version": 1, "alias": "prod", "checks": ["accuracy >> 1"]}, 400, "Cannot read"),
        ({"version": 1, "alias": "prod", "checks": [1]}, 400, "checks"),
        ({"version": 1, "alias": "prod", "force": "yes"}, 400, "force"),
        ({"version": 1, "alias": "prod", "force": True}, 400, "reason"),
        ({"version": 9, "alias": "prod"}, 404, "no version 9"),
        ([1, 2], 400, "JSON object"),
        ("not json", 400, "JSON"),
    ],
)
async def test_promote_route_refuses_bad_input(jp_fetch, registered, body, status, message):
    code, error = await refused(jp_fetch, "models", "churn", "aliases", method="POST", body=body)

    assert code == status
    assert message in error["message"]


# -- deployments ---------------------------------------------------------------------------------
def record_deployment(name="churn-api", pid=None):
    """A deployment document as ``deploy`` writes it, for a server that is no longer running."""
    now = int(time.time() * 1000)
    doc = {
        "name": name,
        "model_uri": "models:/churn@production",
        "version": 2,
        "host": "127.0.0.1",
        "port": 1,
        "url": "http://127.0.0.1:1",
        "pid": pid,
        "proc_start": None,
        "host_name": "elsewhere",
        "start_time": now,
        "state": "running",
        "versions": [{"version": 2, "time": now}],
        "log_file": None,
    }
    get_store().record_deployment(DeploymentDoc.from_doc(doc))


async def test_deployments_route_and_stop(jp_fetch):
    record_deployment()

    [deployment] = (await get_json(jp_fetch, "deployments"))["deployments"]

    assert deployment["name"] == "churn-api" and deployment["version"] == 2
    assert deployment["status"] == "down"  # nothing answers on its port
    for key in ("url", "requests", "p95_ms", "uptime_s", "error_rate", "model_uri"):
        assert key in deployment
    stopped = await post_json(jp_fetch, "deployments", "churn-api", "stop", body={})
    assert stopped["deployment"]["status"] == "stopped"
    [listed] = (await get_json(jp_fetch, "deployments"))["deployments"]
    assert listed["status"] == "stopped"


# -- drift ---------------------------------------------------------------------------------------
def save_drift_reports():
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"age": rng.normal(40, 5, 300), "city": rng.choice(["a", "b"], 300)})
    shifted = reference.assign(age=reference["age"] + 10)
    one = mlops.detect_drift(reference, shifted)
    one.save("batch-check")
    for hour, current in enumerate([reference, shifted]):
        window = mlops.detect_drift(reference, current)
        window = dataclasses.replace(
            window,
            window_start=f"2025-01-01T0{hour}:00:00+00:00",
            window_end=f"2025-01-01T0{hour + 1}:00:00+00:00",
        )
        window.save("churn-api")
    return one


async def test_drift_route_lists_reports_and_windows(jp_fetch):
    saved = save_drift_reports()

    body = await get_json(jp_fetch, "drift")

    assert len(body["reports"]) == 3
    report = next(r for r in body["reports"] if r["report_id"] == saved.report_id)
    assert report["name"] == "batch-check" and report["dataset_drift"] is True
    assert "distributions" not in report
    age = next(c for c in report["columns"] if c["column"] == "age")
    assert age["drifted"] is True and age["method"] and age["threshold"] > 0
    [series] = body["windows"]
    assert series["name"] == "churn-api"
    assert [w["drift_share"] for w in series["windows"]] == [0.0, 0.5]
    only = await get_json(jp_fetch, "drift", params={"name": "batch-check"})
    assert [r["name"] for r in only["reports"]] == ["batch-check"] and only["windows"] == []


async def test_drift_route_on_an_empty_store(jp_fetch):
    assert await get_json(jp_fetch, "drift") == {"reports": [], "windows": []}


# -- export --------------------------------------------------------------------------------------
def write_notebook(folder, name="train.ipynb"):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("x = 2", metadata={"tags": ["block:load"]}),
        nbformat.v4.new_code_cell("y = x * 3\nprint(y)", metadata={"tags": ["block:train"]}),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    os.makedirs(folder, exist_ok=True)
    nbformat.write(nb, os.path.join(folder, name))


async def test_export_route_writes_the_pipeline_beside_the_notebook(jp_fetch, jp_root_dir):
    write_notebook(jp_root_dir / "work")

    body = await post_json(
        jp_fetch, "export", body={"path": "work/train.ipynb", "target": "python"}
    )

    assert body["path"] == "work/train.ipynb" and body["target"] == "python"
    assert body["folder"] == "work/train_python"
    assert body["files"] and all(f.startswith("work/train_python/") for f in body["files"])
    assert all((jp_root_dir / f).is_file() for f in body["files"])
    assert "exported train.ipynb" in body["message"]
    single = await post_json(
        jp_fetch,
        "export",
        body={"path": "work/train.ipynb", "target": "airflow", "single_step": True},
    )
    assert any(f.endswith(".py") for f in single["files"])


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"path": "../outside.ipynb"}, 403, "outside the server's root folder"),
        ({"path": "work/../../outside.ipynb"}, 403, "outside the server's root folder"),
        ({"path": "/etc/passwd"}, 400, "relative to the server's root"),
        ({"path": "work/train.py"}, 400, ".ipynb"),
        ({"path": ""}, 400, "path"),
        ({}, 400, "path"),
        ({"path": "work/missing.ipynb"}, 404, "missing.ipynb"),
        ({"path": "work/train.ipynb", "target": "slurm"}, 400, "Unknown target 'slurm'"),
        ({"path": "work/train.ipynb", "single_step": "yes"}, 400, "single_step"),
    ],
)
async def test_export_route_refuses_paths_outside_the_root_and_bad_input(
    jp_fetch, jp_root_dir, body, status, message
):
    write_notebook(jp_root_dir / "work")
    outside = jp_root_dir.parent / "outside.ipynb"
    write_notebook(jp_root_dir.parent, "outside.ipynb")

    code, error = await refused(jp_fetch, "export", method="POST", body=body)

    assert code == status, error
    assert message in error["message"]
    assert not (jp_root_dir.parent / "outside_python").exists()
    assert outside.exists()
