"""The server extension against hostile clients and careless users, on a real Jupyter server.

Whatever arrives, a route answers a 4xx JSON ``{"message": ...}`` naming the problem, and
neither a worst-case search nor a slow client keeps Jupyter's own routes from answering.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid

import nbformat
import pytest
from tornado.httpclient import HTTPClientError

from jupyter_mlops.jupyter import server
from jupyter_mlops.store import get_store

LONG = "ab" * 750  # a 1,500-character param value
# The costliest kind of LIKE for the linear matcher: every 'a' is a candidate, checked over
# 600 characters; fifteen of them are near the filter's length limit.
WORST = " OR ".join(f"params.note LIKE '%{'a_' * 300}b{'_' * i}%'" for i in range(15))


async def refused(jp_fetch, *parts, **kwargs) -> tuple[int, dict]:
    """``(status, JSON)`` of a request the server refuses."""
    with pytest.raises(HTTPClientError) as failed:
        await jp_fetch("jupyter-mlops", "api", *parts, **kwargs)
    return failed.value.code, json.loads(failed.value.response.body)


def seed_long_runs(count: int) -> None:
    """``count`` runs with a 1,500-character ``params.note``, in one transaction."""
    store = get_store()
    exp_id = store.get_or_create_experiment("long")["experiment_id"]
    now = int(time.time() * 1000)

    def write(txn):
        for i in range(count):
            run_id = uuid.uuid4().hex
            doc = {"run_id": run_id, "experiment_id": exp_id, "status": "FINISHED",
                   "start_time": now + i, "end_time": now + i + 1, "params": {"note": LONG},
                   "metrics": {}, "tags": {}}  # fmt: skip
            txn.put("runs", run_id, doc)

    store.transact(write)


# -- searches ------------------------------------------------------------------------------------
async def test_jupyter_and_our_other_routes_answer_while_a_worst_case_search_runs(
    jp_fetch, monkeypatch
):
    """The search runs into its budget (400) while /api/status and a run list answer at once."""
    monkeypatch.setattr(server, "SEARCH_BUDGET_S", 3.0)
    seed_long_runs(3000)  # about 4 ms a run for WORST: far more than the 3 s budget
    search = asyncio.ensure_future(
        jp_fetch("jupyter-mlops", "api", "runs", params={"filter": WORST, "limit": "5"})
    )
    await asyncio.sleep(0.2)  # the search is on a reader thread now
    status = await jp_fetch("api", "status")
    experiments = await jp_fetch("jupyter-mlops", "api", "experiments")
    assert status.code == 200 and experiments.code == 200
    assert not search.done(), "the worst-case search ended before the other requests"
    with pytest.raises(HTTPClientError) as stopped:
        await search
    assert stopped.value.code == 400
    message = json.loads(stopped.value.response.body)["message"]
    assert "The search was stopped after 3 s" in message and "narrow the filter" in message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("params.note LIKE '" + "%a" * 6000 + "'", "more than the 10,000 allowed"),
        ("(" * 60 + "params.a = 'x'" + ")" * 60, "nested more than 50 levels"),
        ("params.a = 'x' AND " * 20 + "params.b >> 1", "expected a value"),
    ],
)
async def test_filters_too_long_too_deep_or_wrong_are_a_400_with_a_short_message(
    jp_fetch, text, message
):
    code, body = await refused(jp_fetch, "runs", params={"filter": text})
    assert code == 400 and message in body["message"]
    assert len(body["message"]) < 600  # an excerpt around the token, not the whole filter


async def test_the_old_catastrophic_like_is_now_quick(jp_fetch):
    seed_long_runs(200)
    body = json.loads(
        (
            await jp_fetch(
                "jupyter-mlops", "api", "runs", params={"filter": "params.note LIKE '%a%a%a%a%c'"}
            )
        ).body
    )
    assert body["total"] == 0


# -- bodies --------------------------------------------------------------------------------------
def write_notebook(folder, heading: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# {heading}"),
        nbformat.v4.new_code_cell("x = 2"),
        nbformat.v4.new_markdown_cell("# train"),
        nbformat.v4.new_code_cell("y = x * 3"),
    ]
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / "train.ipynb")


@pytest.mark.parametrize("route", [("models", "churn", "aliases"), ("export",)])
@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b'{"alias": "caf\xe9"}', 400, "not UTF-8 (byte 14 is 0xe9)"),
        (b"\xff\xfe{}", 400, "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "nested too deeply"),
        (b'{"a": ' + b"1" * 5000 + b"}", 400, "not valid JSON"),
        (b'{"path": "' + b"x" * (2 << 20) + b'"}', 413, "at most 1,048,576 bytes"),
        (b'["a list"]', 400, "must be a JSON object"),
        (b"{trailing", 400, "not valid JSON"),
    ],
    ids=["latin-1", "utf-16", "deep", "5000-digits", "2MiB", "list", "broken"],
)
async def test_bodies_that_are_not_utf8_json_objects_get_a_4xx_naming_the_problem(
    jp_fetch, route, body, status, message
):
    code, answer = await refused(jp_fetch, *route, method="POST", body=body)
    assert code == status and message in answer["message"], answer


async def test_a_3000_character_step_name_is_a_400_naming_the_cell(jp_fetch, jp_root_dir):
    write_notebook(jp_root_dir / "work", "a" * 3000)
    body = json.dumps({"path": "work/train.ipynb", "target": "python"})
    code, answer = await refused(jp_fetch, "export", method="POST", body=body)
    assert code == 400
    assert "is 3,000 characters long; step names have at most 100" in answer["message"]
    assert "(heading in cell" in answer["message"] and len(answer["message"]) < 300
    assert not (jp_root_dir / "work" / "train_python").exists()


# -- damaged records -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:99999",
        "not a url",
        None,
        "file:///etc/passwd",
        "http://[::1",
        "http://",
        12345,
    ],
)
async def test_a_deployment_record_with_a_malformed_url_lists_as_unknown(jp_fetch, url):
    doc = {
        "name": "broken",
        "model_uri": "models:/x/1",
        "version": 1,
        "url": url,
        "host": "127.0.0.1",
        "port": 99999,
        "pid": None,
        "state": "running",
        "host_name": "elsewhere",
    }  # fmt: skip  (no start_time either)
    get_store().transact(lambda txn: txn.put("deployments", "broken", doc))
    body = json.loads((await jp_fetch("jupyter-mlops", "api", "deployments")).body)
    [listed] = body["deployments"]
    assert listed["name"] == "broken" and listed["status"] == "unknown"


# -- slow clients --------------------------------------------------------------------------------
def slow_clients(port: int, base_url: str) -> list[socket.socket]:
    """Connections that send half a request and stall: headers, or a body, never finished."""
    address = ("127.0.0.1", port)
    stalled = []
    for i in range(30):
        sock = socket.create_connection(address, timeout=10)
        if i % 3 == 0:
            sock.sendall(f"GET {base_url}jupyter-mlops/api/runs HTTP/1.1\r\nHost: x\r\n".encode())
        elif i % 3 == 1:
            sock.sendall(
                f"POST {base_url}jupyter-mlops/api/export HTTP/1.1\r\nHost: x\r\n"
                'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"pa'.encode()
            )
        else:
            sock.sendall(b"GET /api/status HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000)
        stalled.append(sock)
    return stalled


async def test_stalled_and_oversized_requests_hold_up_no_other_request(
    jp_fetch, jp_http_port, jp_base_url
):
    stalled = await asyncio.to_thread(slow_clients, jp_http_port, jp_base_url)
    try:
        for _ in range(3):
            assert (await jp_fetch("api", "status")).code == 200
            assert (await jp_fetch("jupyter-mlops", "api", "experiments")).code == 200
    finally:
        for sock in stalled:
            sock.close()
