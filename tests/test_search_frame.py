"""Ordering runs, the search pipeline, and the ``search_runs`` table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from jupyter_mlops.errors import FilterError, InvalidInput
from jupyter_mlops.tracking.search import (
    FIXED_COLUMNS,
    compile_filter,
    parse_order_by,
    runs_to_frame,
    search,
    sort_runs,
)

T0 = 1_700_000_000_000


def make_run(run_id: str, start: int = 0, **fields) -> dict:
    metrics = {k: {"last": v, "step": 0} for k, v in fields.pop("metrics", {}).items()}
    return {
        "run_id": run_id,
        "run_name": f"name-{run_id}",
        "experiment_id": "1",
        "experiment": "iris",
        "status": "FINISHED",
        "start_time": T0 + start,
        "end_time": T0 + start + 2500,
        "params": {},
        "metrics": metrics,
        "tags": {},
        **fields,
    }


def run_ids(runs: list[dict]) -> list[str]:
    return [run["run_id"] for run in runs]


RUNS = [
    make_run("a", 1, metrics={"acc": 0.9}, params={"model": "rf", "lr": "0.1"}),
    make_run("b", 2, metrics={"acc": 0.7}, params={"model": "xgb", "lr": "0.01"}),
    make_run("c", 3, params={"model": "rf", "lr": "10"}),
    make_run("d", 4, metrics={"acc": 0.9}, params={"model": "lr"}),
    make_run("e", 5, metrics={"acc": math.nan}, params={"model": "xgb", "lr": "9"}),
]


# -- ordering ----------------------------------------------------------------------------------
def test_default_order_is_newest_first_then_run_id():
    same_start = [make_run("z", 9), make_run("y", 9), make_run("x", 1)]
    assert run_ids(sort_runs(RUNS)) == ["e", "d", "c", "b", "a"]
    assert run_ids(sort_runs(same_start)) == ["y", "z", "x"]
    assert run_ids(sort_runs(same_start, [])) == ["y", "z", "x"]


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        ("metrics.acc DESC", ["d", "a", "b", "e", "c"]),  # ties newest first; NULL and NaN last
        ("metrics.acc", ["b", "d", "a", "e", "c"]),
        ("metrics.acc ASC", ["b", "d", "a", "e", "c"]),
        ("metrics.acc asc", ["b", "d", "a", "e", "c"]),
        ("params.lr", ["b", "a", "e", "c", "d"]),  # numerically: 0.01 < 0.1 < 9 < 10
        ("params.lr DESC", ["c", "e", "a", "b", "d"]),
        ("params.model DESC", ["e", "b", "c", "a", "d"]),
        ("attributes.start_time ASC", ["a", "b", "c", "d", "e"]),
        ("attr.run_id DESC", ["e", "d", "c", "b", "a"]),
        (["params.model", "metrics.acc DESC"], ["d", "a", "c", "b", "e"]),
        ("params.model, metrics.acc DESC", ["d", "a", "c", "b", "e"]),
        (["params.model DESC", "metrics.acc"], ["b", "e", "a", "c", "d"]),
        ("metrics.`acc` DESC", ["d", "a", "b", "e", "c"]),
    ],
)
def test_sort_by_keys_with_nulls_last(order_by, expected):
    assert run_ids(sort_runs(RUNS, order_by)) == expected


def test_backticked_keys_and_case_insensitive_status():
    runs = [
        make_run("a", metrics={"my metric": 1.0}, status="running"),
        make_run("b", metrics={"my metric": 3.0}, status="FINISHED"),
        make_run("c", metrics={"my metric": 2.0}, status="Killed"),
    ]
    assert run_ids(sort_runs(runs, "metrics.`my metric` desc")) == ["b", "c", "a"]
    assert run_ids(sort_runs(runs, 'metrics."my metric"')) == ["a", "c", "b"]
    assert run_ids(sort_runs(runs, "attributes.status")) == ["b", "c", "a"]


def test_sorting_returns_a_new_list():
    runs = list(RUNS)
    sort_runs(runs, "metrics.acc DESC")
    assert runs == RUNS


@pytest.mark.parametrize(
    ("order_by", "position", "token"),
    [
        ("acc DESC", 0, "acc"),
        ("metrix.acc", 0, "metrix"),
        ("metrics.acc DOWN", 12, "DOWN"),
        ("metrics.acc DESC ASC", 17, "ASC"),
        ("metrics.acc,", 12, ""),
        ("datasets.name", 0, "datasets.name"),
        ("metrics.acc > 1", 12, ">"),
        ("'metrics.acc'", 0, "'metrics.acc'"),
        ("metrics.`acc", 8, "`acc"),
        ("attributes.nope", 11, "nope"),
        ("", 0, ""),
    ],
)
def test_bad_order_by_clauses(order_by, position, token):
    with pytest.raises(FilterError) as info:
        sort_runs(RUNS, ["metrics.acc", order_by])
    assert (info.value.position, info.value.token, info.value.text) == (position, token, order_by)


def test_order_by_must_be_text():
    with pytest.raises(FilterError, match="order_by"):
        sort_runs(RUNS, 3)  # type: ignore[arg-type]
    with pytest.raises(FilterError, match="order_by clause"):
        sort_runs(RUNS, ["metrics.acc", None])  # type: ignore[list-item]


def test_parse_order_by_names_fields_and_directions():
    keys = parse_order_by("metrics.acc DESC, params.lr")
    assert [(field.name, descending) for field, descending in keys] == [
        ("metrics.acc", True),
        ("params.lr", False),
    ]
    assert parse_order_by(None) == parse_order_by("  ") == []


# -- search ------------------------------------------------------------------------------------
def test_search_filters_orders_and_limits():
    either = "params.model = 'rf' OR params.model = 'xgb'"
    assert run_ids(search(RUNS, either)) == ["e", "c", "b", "a"]
    assert run_ids(search(RUNS, "metrics.acc >= 0.7", "metrics.acc")) == ["b", "d", "a"]
    assert run_ids(search(RUNS, None, "metrics.acc DESC", max_results=2)) == ["d", "a"]
    assert search(RUNS, max_results=0) == []
    assert search([], "metrics.acc > 1") == []


def test_search_rejects_bad_input_even_without_runs():
    with pytest.raises(FilterError):
        search([], "metrics.acc >")
    with pytest.raises(FilterError):
        search([], order_by="acc")
    for bad in (-1, 1.5, "3", True):
        with pytest.raises(InvalidInput, match="max_results"):
            search(RUNS, max_results=bad)


def test_ten_thousand_runs():
    runs = [
        make_run(
            f"{i:05d}",
            i,
            metrics={f"m{j}": (i * 7 + j) % 100 / 100 for j in range(5)},
            params={f"p{j}": str(i % (j + 2)) for j in range(10)},
            tags={f"t{j}": "x" for j in range(3)},
        )
        for i in range(10_000)
    ]
    found = search(runs, "metrics.m0 > 0.5 and params.p0 = 1", "metrics.m1 DESC")
    expected = [r for r in runs if r["metrics"]["m0"]["last"] > 0.5 and r["params"]["p0"] == "1"]
    assert sorted(run_ids(found)) == sorted(run_ids(expected))
    assert [r["metrics"]["m1"]["last"] for r in found] == sorted(
        (r["metrics"]["m1"]["last"] for r in expected), reverse=True
    )
    frame = runs_to_frame(runs)
    assert frame.shape == (10_000, 7 + 10 + 5 + 3)


# -- the table ---------------------------------------------------------------------------------
def test_frame_columns_come_in_a_fixed_order():
    runs = [
        make_run(
            "a",
            params={"lr": "0.1", "batch": "32"},
            tags={"z": "1", "a": "2"},
            metrics={"loss": 0.2},
        ),
        make_run("b", params={"depth": "3"}, metrics={"acc": 0.9, "loss": 0.3}),
    ]
    frame = runs_to_frame(runs)
    assert list(frame.columns) == [
        *FIXED_COLUMNS,
        "params.batch",
        "params.depth",
        "params.lr",
        "metrics.acc",
        "metrics.loss",
        "tags.a",
        "tags.z",
    ]
    assert FIXED_COLUMNS == (
        "run_id",
        "experiment",
        "run_name",
        "status",
        "start_time",
        "end_time",
        "duration_s",
    )


def test_frame_values_and_dtypes():
    runs = [
        make_run("a", params={"lr": "0.1"}, metrics={"acc": 0.93}, tags={"mlops.user": "ann"}),
        make_run("b", 1000, metrics={"acc": 1}, end_time=None, status="RUNNING"),
    ]
    frame = runs_to_frame(runs)
    assert frame["run_id"].tolist() == ["a", "b"]
    assert frame["experiment"].tolist() == ["iris", "iris"]
    assert frame["status"].tolist() == ["FINISHED", "RUNNING"]
    assert frame["start_time"].tolist() == [
        pd.Timestamp(T0, unit="ms", tz="UTC"),
        pd.Timestamp(T0 + 1000, unit="ms", tz="UTC"),
    ]
    for column in ("start_time", "end_time"):
        assert isinstance(frame[column].dtype, pd.DatetimeTZDtype)
        assert str(frame[column].dt.tz) == "UTC"
    assert pd.isna(frame["end_time"][1])
    assert frame["duration_s"].dtype == np.float64
    assert frame["duration_s"][0] == 2.5
    assert math.isnan(frame["duration_s"][1])
    assert frame["metrics.acc"].dtype == np.float64
    assert frame["metrics.acc"].tolist() == [0.93, 1.0]
    assert frame["params.lr"][0] == "0.1"
    assert pd.isna(frame["params.lr"][1])
    assert frame["tags.mlops.user"][0] == "ann"


def test_frame_keeps_the_given_row_order():
    frame = runs_to_frame(sort_runs(RUNS, "params.lr"))
    assert frame["run_id"].tolist() == ["b", "a", "e", "c", "d"]


def test_an_empty_frame_still_has_the_fixed_columns():
    frame = runs_to_frame([])
    assert list(frame.columns) == list(FIXED_COLUMNS)
    assert len(frame) == 0
    assert isinstance(frame["start_time"].dtype, pd.DatetimeTZDtype)
    assert frame["duration_s"].dtype == np.float64


def test_frame_tolerates_odd_documents():
    runs = [
        {"run_id": "x"},
        {"run_id": "y", "metrics": {"acc": 0.5, "bad": {"last": "oops"}}, "params": {"n": 3}},
        {"run_id": "z", "start_time": 10**20, "metrics": None, "params": "junk"},
    ]
    frame = runs_to_frame(runs)
    assert frame["metrics.acc"].tolist()[1] == 0.5
    assert frame["metrics.bad"].isna().all()
    assert str(frame["params.n"][1]) == "3"
    assert frame["start_time"].isna().all()


def test_search_then_frame_is_the_search_runs_table():
    keep = compile_filter("params.model = 'rf'")
    assert keep(RUNS[0])
    frame = runs_to_frame(search(RUNS, "params.model = 'rf'", "attributes.start_time"))
    assert frame["run_id"].tolist() == ["a", "c"]
    assert frame["metrics.acc"].tolist()[0] == 0.9
    assert math.isnan(frame["metrics.acc"].tolist()[1])
