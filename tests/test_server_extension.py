"""The server extension's REST routes, served by a real Jupyter server (pytest-jupyter)."""

import copy
import json

import pytest
import tornado.web
from tornado.httpclient import HTTPClientError
from tornado.web import RequestHandler

from jupyter_mlops.errors import Conflict, FilterError, InvalidInput, NotFound
from jupyter_mlops.jupyter.server import MlopsHandler, http_status
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
    assert any(handler.__name__ == "ExperimentsHandler" for _, handler in routes), routes

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
