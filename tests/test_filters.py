"""The search filter dialect: what a filter keeps, and how a bad filter is reported."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_mlops.errors import FilterError, InvalidInput
from jupyter_mlops.tracking.search import compile_filter, server_filter

RUN = {
    "run_id": "3f2a9c",
    "run_name": "rf-1",
    "experiment_id": "1",
    "experiment": "iris",
    "status": "FINISHED",
    "start_time": 1_700_000_000_000,
    "end_time": 1_700_000_001_500,
    "parent_run_id": None,
    "params": {"lr": "0.1", "model": "rf", "n_estimators": "100", "flag": "True", "path": "a/b:c"},
    "metrics": {
        "acc": {"last": 0.93, "min": 0.5, "max": 0.93, "step": 9, "count": 10},
        "val.loss": {"last": 0.25},
        "f1 score": {"last": 0.8},
        "zero": {"last": 0},
    },
    "tags": {"mlops.user": "ann", "note": "it's 50% done", "team-name": "vision"},
    "datasets": [
        {"name": "iris", "digest": "ab12", "context": "training"},
        {"name": "iris-holdout", "digest": "cd34", "context": "evaluation"},
    ],
}

SAMPLE_RUNS = [
    RUN,
    {},
    {"run_id": "x", "metrics": {"acc": 0.5, "bad": {"last": "oops"}, "nan": {"last": math.nan}}},
    {"params": {"lr": 0.1, "n": 3, "b": True}, "tags": {"t": None}, "datasets": ["junk", {}]},
    {"metrics": "not a dict", "params": None, "datasets": None, "status": "running"},
]


def keeps(text: str, run: dict = RUN) -> bool:
    return compile_filter(text)(run)


def error_of(text: str) -> FilterError:
    with pytest.raises(FilterError) as info:
        compile_filter(text)
    return info.value


# -- operators ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.acc = 0.93", True),
        ("metrics.acc == 0.93", True),
        ("metrics.acc != 0.93", False),
        ("metrics.acc <> 0.5", True),
        ("metrics.acc < 0.93", False),
        ("metrics.acc <= 0.93", True),
        ("metrics.acc > 0.9", True),
        ("metrics.acc >= 0.94", False),
        ("metrics.acc > -1", True),
        ("metrics.acc < 9.3e-1", False),
        ("metrics.acc < 1E0", True),
        ("metrics.acc > .9", True),
        ("metrics.zero = 0", True),
        ("metrics.zero = FALSE", True),
        ("metrics.acc IN (0.5, 0.93)", True),
        ("metrics.acc IN (1)", False),
        ("metrics.acc NOT IN (1, 2)", True),
        ("params.model = 'rf'", True),
        ("params.model != 'rf'", False),
        ('params.model = "rf"', True),
        ("params.model < 'xgb'", True),
        ("params.model LIKE 'r%'", True),
        ("params.model LIKE 'R%'", False),
        ("params.model ILIKE 'R%'", True),
        ("params.model LIKE '_f'", True),
        ("params.model LIKE '_'", False),
        ("params.model NOT LIKE 'x%'", True),
        ("params.model NOT ILIKE 'RF'", False),
        ("params.model IN ('rf', 'xgb')", True),
        ("params.model NOT IN ('rf', 'xgb')", False),
        ("params.model IS NOT NULL", True),
        ("params.model IS NULL", False),
        ("tags.note LIKE '%50\\%%'", True),
        ("tags.note LIKE '%5_\\%%'", True),
        ("tags.note LIKE '%60\\%%'", False),
        ("params.flag = true", True),
        ("params.flag != TRUE", False),
        ("params.flag IN (FALSE, TRUE)", True),
    ],
)
def test_each_operator(text, expected):
    assert keeps(text) is expected


def test_keywords_are_case_insensitive():
    assert keeps("params.model like 'r%' and not metrics.acc is null or params.model in ('x')")
    assert keeps("params.model iLiKe 'RF' AnD metrics.acc Is NoT nUlL")


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t"])
def test_blank_filter_keeps_everything(text):
    assert all(compile_filter(text)(run) for run in SAMPLE_RUNS)


def test_a_compiled_filter_is_reusable():
    predicate = compile_filter("metrics.acc > 0.9")
    assert [predicate(run) for run in SAMPLE_RUNS] == [True, False, False, False, False]
    assert [predicate(run) for run in SAMPLE_RUNS] == [True, False, False, False, False]


# -- precedence --------------------------------------------------------------------------------
FLAG_RUNS = [
    {"run_id": f"{a}{b}{c}", "params": {"a": str(a), "b": str(b), "c": str(c)}}
    for a, b, c in itertools.product((0, 1), repeat=3)
]


def kept(text: str, runs: list[dict] = FLAG_RUNS) -> set[str]:
    predicate = compile_filter(text)
    return {run["run_id"] for run in runs if predicate(run)}


def ids(condition) -> set[str]:
    return {run["run_id"] for run in FLAG_RUNS if condition(*map(int, run["run_id"]))}


@pytest.mark.parametrize(
    ("text", "condition"),
    [
        ("params.a = 1 OR params.b = 1 AND params.c = 1", lambda a, b, c: a or (b and c)),
        ("params.a = 1 AND params.b = 1 OR params.c = 1", lambda a, b, c: (a and b) or c),
        ("(params.a = 1 OR params.b = 1) AND params.c = 1", lambda a, b, c: (a or b) and c),
        ("NOT params.a = 1 AND params.b = 1", lambda a, b, c: (not a) and b),
        ("NOT (params.a = 1 AND params.b = 1)", lambda a, b, c: not (a and b)),
        ("NOT params.a = 1 OR params.b = 1", lambda a, b, c: (not a) or b),
        ("NOT NOT params.a = 1", lambda a, b, c: a),
        ("params.a = 1 OR params.b = 1 OR params.c = 1", lambda a, b, c: a or b or c),
        ("params.a = 1 AND params.b = 1 AND params.c = 1", lambda a, b, c: a and b and c),
        ("((params.a = 1))", lambda a, b, c: a),
        ("params.a=1 and(params.b=0 or params.c=0)", lambda a, b, c: a and (not b or not c)),
    ],
)
def test_precedence_not_over_and_over_or(text, condition):
    assert kept(text) == ids(condition)


# -- NULL --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("params.missing = 'x'", False),
        ("params.missing != 'x'", False),
        ("params.missing <> 'x'", False),
        ("params.missing NOT LIKE 'x%'", False),
        ("params.missing NOT IN ('x')", False),
        ("metrics.missing != 1", False),
        ("metrics.missing < 1", False),
        ("params.missing IS NULL", True),
        ("params.missing IS NOT NULL", False),
        ("metrics.missing IS NULL", True),
        ("attributes.parent_run_id IS NULL", True),
        ("NOT metrics.missing > 1", True),
    ],
)
def test_missing_values_are_null(text, expected):
    assert keeps(text) is expected


def test_a_metric_that_is_not_a_number_is_null():
    run = SAMPLE_RUNS[2]
    assert keeps("metrics.bad IS NULL", run)
    assert keeps("metrics.acc = 0.5", run)  # a bare number is its own last value
    assert not keeps("metrics.nan > 0 or metrics.nan <= 0", run)


# -- fields and quoting ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "metrics.`f1 score` = 0.8",
        'metrics."f1 score" = 0.8',
        "metric.`f1 score` > 0.7",
        "metrics.val.loss < 0.3",
        "metrics.`val.loss` < 0.3",
        "tags.mlops.user = 'ann'",
        "tags.`mlops.user` = 'ann'",
        'tags."mlops.user" = "ann"',
        "tags.team-name = 'vision'",
        "params.path = 'a/b:c'",
        "param.model = 'rf'",
        "tag.note LIKE 'it''s%'",
        "tag.note LIKE 'it\\'s%'",
        'tag.note = "it\'s 50% done"',
        'tag.note LIKE "%""%" OR tag.note LIKE "it\'s%"',
        "Metrics.acc > 0.9",
    ],
)
def test_keys_may_be_quoted_and_contain_punctuation(text):
    assert keeps(text)


@pytest.mark.parametrize(
    "text",
    [
        "attributes.run_id = '3f2a9c'",
        "attributes.id = '3f2a9c'",
        "attributes.run_uuid LIKE '3f%'",
        "attributes.run_name = 'rf-1'",
        "attr.name = 'rf-1'",
        "attribute.status = 'FINISHED'",
        "run.status = 'finished'",
        "run.status IN ('Running', 'finished')",
        "run.status LIKE 'fin%'",
        "attributes.experiment = 'iris'",
        "attributes.experiment_id = '1'",
        "attributes.experiment_id = 1",
        "attributes.user = 'ann'",
        "attributes.start_time = 1700000000000",
        "attributes.start_time > 1699999999999 AND attributes.end_time < 1700000002000",
        "attributes.start_time >= '2023-11-14'",
        "attributes.start_time < '2023-11-14T22:14:00+00:00'",
        "attributes.duration_s = 1.5",
        "attributes.duration > 1",
        "datasets.name = 'iris-holdout'",
        "dataset.context = 'training'",
        "datasets.context = 'evaluation'",
        "datasets.digest IN ('zz', 'cd34')",
        "datasets.name LIKE '%holdout'",
        "datasets.name != 'iris'",
        "datasets.name IS NOT NULL",
    ],
)
def test_attributes_and_datasets(text):
    assert keeps(text)


def test_user_falls_back_to_tags_and_a_running_run_has_no_duration():
    running = {"status": "RUNNING", "start_time": 1, "tags": {"mlflow.user": "bob"}}
    assert keeps("attributes.user = 'bob'", running)
    assert keeps("attributes.duration_s IS NULL", running)
    assert not keeps("attributes.duration_s >= 0", running)
    assert keeps("attributes.user = 'cy'", {"user": "cy", "tags": {"mlops.user": "ann"}})


def test_datasets_match_when_any_dataset_matches():
    runs = [RUN, {"datasets": [{"name": "mnist", "context": "training"}]}, {"datasets": []}, {}]
    assert [keeps("datasets.name = 'iris'", r) for r in runs] == [True, False, False, False]
    assert [keeps("datasets.context = 'training'", r) for r in runs] == [True, True, False, False]
    assert [keeps("datasets.name NOT LIKE 'iris%'", r) for r in runs] == [False, True, False, False]
    assert [keeps("datasets.name IS NULL", r) for r in runs] == [False, False, True, True]


# -- numbers in params and tags ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("params.lr = 0.1", True),
        ("params.lr = '0.1'", True),
        ("params.lr = '0.10'", True),
        ("params.lr = 1e-1", True),
        ("params.lr > 0.01", True),
        ("params.lr < '0.05'", False),
        ("params.lr IN (0.1, 0.2)", True),
        ("params.lr IN ('0.10')", True),
        ("params.lr NOT IN (0.1)", False),
        ("params.n_estimators > 99", True),
        ("params.n_estimators > 9", True),  # numerically, though '100' < '9' as text
        ("params.n_estimators = 100.0", True),
        ("params.model = 1", False),  # 'rf' is no number: compared as text
        ("params.model > 1", True),  # 'rf' > '1' as text, as MLflow would
        ("params.lr LIKE '0.%'", True),
    ],
)
def test_params_compare_as_numbers_when_both_sides_are_numbers(text, expected):
    assert keeps(text) is expected


def test_params_stored_as_non_strings_still_compare():
    run = SAMPLE_RUNS[3]
    assert keeps("params.lr = 0.1", run)
    assert keeps("params.n = '3'", run)
    assert keeps("params.b = TRUE", run)
    assert keeps("tags.t IS NULL", run)


# -- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "position", "token", "fragment"),
    [
        ("params.model = 'rf", 15, "'rf", "unterminated string"),
        ("metrics.`f1 score = 1", 8, "`f1 score = 1", "unterminated quoted key"),
        ("metrix.acc > 1", 0, "metrix", "did you mean 'metrics'"),
        ("parms.lr = 1", 0, "parms", "did you mean 'params'"),
        ("acc > 0.9", 0, "acc", "did you mean metrics.acc or params.acc?"),
        ("metrics > 1", 0, "metrics", "metrics.<key>"),
        ("metrics.acc >", 13, "", "missing value after '>'"),
        ("metrics.acc", 11, "", "expected an operator"),
        ("metrics.acc LIKE '%9'", 12, "LIKE", "is a number"),
        ("metrics.acc ILIKE '%9'", 12, "ILIKE", "is a number"),
        ("metrics.acc > '0.9'", 14, "'0.9'", "remove the quotes"),
        ("metrics.acc IN (1, 'a')", 19, "'a'", "remove the quotes"),
        ("attributes.start_time > 'yesterday'", 24, "'yesterday'", "ISO date"),
        ("(metrics.acc > 1", 0, "(", "unclosed '('"),
        ("((metrics.acc > 1)", 0, "(", "unclosed '('"),
        ("metrics.acc > 1)", 15, ")", "unmatched ')'"),
        ("(metrics.acc > 1 params.a = 'x')", 17, "params.a", "expected ')'"),
        ("metrics.acc > 1 params.a = 'x'", 16, "params.a", "join conditions with AND or OR"),
        ("metrics.acc > 1 2", 16, "2", "after a complete condition"),
        ("params.a IN ()", 13, ")", "empty IN list"),
        ("params.a IN 'x'", 12, "'x'", "IN needs a list"),
        ("params.a IN ('x'", 12, "(", "unclosed IN list"),
        ("params.a IN ('x' 'y')", 17, "'y'", "expected ',' or ')'"),
        ("params.a IN ('x',)", 17, ")", "expected a value"),
        ("params.a = rf", 11, "rf", "quote text, e.g. 'rf'"),
        ("params.a = params.b", 11, "params.b", "fields cannot be compared"),
        ("params.a = NULL", 11, "NULL", "IS NULL"),
        ("params.a IS 'x'", 12, "'x'", "expected NULL after IS"),
        ("params.a NOT = 'x'", 13, "=", "expected LIKE, ILIKE or IN after NOT"),
        ("params.a LIKE 5", 14, "5", "quoted pattern"),
        ("params.a > TRUE", 9, ">", "TRUE and FALSE only work"),
        ("attributes.colour = 'red'", 11, "colour", "unknown attribute"),
        ("attributes.`stat us` = 'x'", 11, "`stat us`", "unknown attribute"),
        ("attributes.statuss = 'x'", 11, "statuss", "did you mean 'status'"),
        ("datasets.nam = 'x'", 9, "nam", "did you mean 'name'"),
        ("metrics. acc > 1", 8, "", "missing key after 'metrics.'"),
        ("metrics.`` > 1", 8, "``", "empty key"),
        ("`acc` > 1", 0, "`acc`", "did you mean metrics.acc"),
        ("`metrix`.acc > 1", 0, "`metrix`", "unknown prefix"),
        ('"metrics.acc" > 1', 0, '"metrics.acc"', "expected a field"),
        ("metrics.acc > 1x", 14, "1x", "malformed number"),
        ("metrics.acc > 1.2.3", 14, "1.2.3", "malformed number"),
        ("metrics.acc ~ 1", 12, "~", "unexpected character"),
        ("metrics.acc ! 1", 12, "!", "unexpected character"),
        ("metrics.acc > 1 AND", 19, "", "condition should follow"),
        ("AND metrics.acc > 1", 0, "AND", "expected a condition"),
        ("()", 1, ")", "expected a condition before ')'"),
        ("NOT", 3, "", "condition should follow"),
        ("metrics.acc greater 1", 12, "greater", "expected an operator"),
        ("(" * 60 + "metrics.acc > 1" + ")" * 60, 50, "(", "nested more than"),
    ],
)
def test_errors_point_at_the_offending_token(text, position, token, fragment):
    error = error_of(text)
    assert (error.position, error.token, error.text) == (position, token, text)
    assert fragment in str(error)
    assert text[position : position + len(token)] == token


def test_the_message_shows_where_the_error_is():
    message = str(error_of("metrics.acc > 1 AND bogus = 2"))
    assert message.splitlines()[1:] == [
        "  metrics.acc > 1 AND bogus = 2",
        "                      ^",
    ]


def test_filter_errors_are_value_errors():
    error = error_of("nonsense")
    assert isinstance(error, InvalidInput)
    assert isinstance(error, ValueError)


def test_a_filter_must_be_text():
    with pytest.raises(FilterError, match="must be a string"):
        compile_filter(42)  # type: ignore[arg-type]


# -- properties --------------------------------------------------------------------------------
GRAMMAR_TOKENS = [
    *"( ) , = == != <> < <= > >= ' \" ` . - %".split(),
    *"AND OR NOT LIKE ILIKE IN IS NULL TRUE FALSE and or not like in is null".split(),
    "metrics.acc", "metrics.`f1 score`", 'metrics."f1 score"', "params.lr", "params.model",
    "tags.note", "attributes.status", "attributes.start_time", "run.duration", "datasets.name",
    "metric", "metrics.", "attributes.bogus", "datasets.x", "acc", "rf",
    "'rf'", '"rf"', "'0.1'", "'%f'", "'it''s'", "'a\\'b'", "0.1", "-3", "1e5", "1x", ".5", "",
]  # fmt: skip


def check(text: str) -> None:
    """``text`` compiles to a predicate that runs on every sample, or raises only FilterError."""
    try:
        predicate = compile_filter(text)
    except FilterError as error:
        assert 0 <= error.position <= len(text)
        assert text[error.position : error.position + len(error.token)] == error.token
        assert error.text == text
        return
    assert all(isinstance(predicate(run), bool) for run in SAMPLE_RUNS)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_compiles_or_raises_filter_error(text):
    check(text)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(GRAMMAR_TOKENS), max_size=12), st.sampled_from([" ", ""]))
def test_any_token_soup_compiles_or_raises_filter_error(tokens, separator):
    check(separator.join(tokens))


NUMBER = st.one_of(
    st.integers(-(10**12), 10**12).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)
TEXT = st.text(max_size=8).map(lambda s: "'" + s.replace("\\", "\\\\").replace("'", "''") + "'")
KEY = st.sampled_from(["acc", "`f1 score`", '"val.loss"', "a-b/c:d", "zero", "missing"])
TEXT_FIELD = st.sampled_from(
    ["params.lr", "params.model", "tags.note", "tags.`mlops.user`", "attributes.status",
     "run.name", "attributes.experiment_id", "datasets.name", "dataset.context"]
)  # fmt: skip
NUMBER_FIELD = st.one_of(
    KEY.map("metrics.{}".format),
    st.sampled_from(["attributes.start_time", "attr.end_time", "run.duration_s"]),
)
OPERATOR = st.sampled_from(["=", "==", "!=", "<>", "<", "<=", ">", ">="])
VALUES = st.lists(st.one_of(NUMBER, TEXT), min_size=1, max_size=4).map(", ".join)


def in_list(parts: tuple[str, str, str]) -> str:
    return f"{parts[0]} {parts[1]} ({parts[2]})"


CONDITION = st.one_of(
    st.tuples(NUMBER_FIELD, OPERATOR, NUMBER).map(" ".join),
    st.tuples(TEXT_FIELD, OPERATOR, NUMBER | TEXT).map(" ".join),
    st.tuples(TEXT_FIELD, st.sampled_from(["LIKE", "NOT ILIKE", "ilike"]), TEXT).map(" ".join),
    st.tuples(TEXT_FIELD, st.sampled_from(["IN", "NOT IN"]), VALUES).map(in_list),
    st.tuples(NUMBER_FIELD, st.sampled_from(["in", "not in"]), NUMBER).map(in_list),
    st.tuples(TEXT_FIELD | NUMBER_FIELD, st.sampled_from(["IS NULL", "is not null"])).map(" ".join),
)
FILTER = st.recursive(
    CONDITION,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["AND", "OR", "and", "or"]), inner).map(" ".join),
        inner.map("NOT {}".format),
        inner.map("({})".format),
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FILTER)
def test_valid_filters_compile_and_evaluate(text):
    predicate = compile_filter(text)
    assert all(isinstance(predicate(run), bool) for run in SAMPLE_RUNS)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FILTER, FILTER)
def test_not_and_or_combine_like_sets(first, second):
    def kept(text):
        predicate = compile_filter(text)
        return [predicate(run) for run in SAMPLE_RUNS]

    a, b = kept(first), kept(second)
    assert kept(f"NOT ({first})") == [not x for x in a]
    assert kept(f"({first}) AND ({second})") == [x and y for x, y in zip(a, b, strict=True)]
    assert kept(f"({first}) OR ({second})") == [x or y for x, y in zip(a, b, strict=True)]


# -- what a server may apply first (the mlflow+ backend) ---------------------------------------
@pytest.mark.parametrize(
    ("text", "pushed"),
    [
        (
            "metrics.acc > 0.5 and params.model = 'rf'",
            "metrics.`acc` > 0.5 and params.`model` = 'rf'",
        ),
        ("metric.acc == 1 AND tags.team LIKE 'v%'", "metrics.`acc` = 1 and tags.`team` LIKE 'v%'"),
        # numbers in text compare as numbers here, as text in MLflow: left to us
        ("params.lr = '0.1' and metrics.`f1 score` <= 1e-3", "metrics.`f1 score` <= 1e-3"),
        # our attributes (status shows KILLED for dead processes) stay ours
        ("attributes.status = 'KILLED' and params.model != 'lr'", "params.`model` != 'lr'"),
        ("metrics.acc > 0.5 or params.model = 'rf'", None),
        ("NOT metrics.acc > 0.5", None),
        ("(metrics.acc > 0.5)", None),
        ("params.model IN ('a', 'b')", None),
        ("params.note = 'it''s'", None),
        ("metrics.acc >", None),
        ("", None),
    ],
)
def test_server_filter_keeps_what_means_the_same_to_mlflow(text, pushed):
    assert server_filter(text) == pushed


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FILTER)
def test_server_filter_never_drops_a_run_the_filter_keeps(text):
    """Applying the pushed part first, then the whole filter, gives the whole filter's runs."""
    pushed = server_filter(text)
    if pushed is None:
        return
    full, first = compile_filter(text), compile_filter(pushed)
    assert all(first(run) for run in SAMPLE_RUNS if full(run))
