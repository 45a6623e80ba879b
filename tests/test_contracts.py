"""The data-contract core: profile, edit, save/load, diff, validate, and the request checker."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

import jupyter_mlops as mlops
from jupyter_mlops.contracts.enforce import RequestChecker, ViolationCounter, check_on_violation
from jupyter_mlops.contracts.report import DataValidationReport
from jupyter_mlops.errors import InvalidInput, NotFound


@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 500
    income = rng.normal(50_000, 9_000, n)
    income[::50] = np.nan
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "income": income,
            "city": rng.choice(["Paris", "Lyon", "Nice"], n),
            "plan": pd.Categorical(
                rng.choice(["free", "pro"], n), categories=["free", "pro", "team"]
            ),
            "user_id": np.arange(1000, 1000 + n),
            "signup": pd.date_range("2024-01-01", periods=n, freq="h", tz="Europe/Paris"),
            "active": rng.random(n) > 0.3,
            "comment": [f"note {i}" for i in range(n)],
        }
    )


@pytest.fixture()
def contract(train: pd.DataFrame) -> mlops.DataContract:
    return mlops.profile(train, name="train")


# -- profile ------------------------------------------------------------------------------------
def test_profile_infers_kind_dtype_nullability_range_categories_uniqueness(contract, train):
    age, income, city = contract["age"], contract["income"], contract["city"]
    assert (age.kind, age.dtype, age.integer, age.allow_null) == ("numeric", "int64", True, False)
    assert (age.min_value, age.max_value) == (int(train.age.min()), int(train.age.max()))
    assert income.allow_null and income.stats["missing"] == 10
    assert income.stats["missing_share"] == pytest.approx(10 / 500)
    finite = train.income.dropna().to_numpy()
    assert income.stats["quantiles"]["p25"] == pytest.approx(np.quantile(finite, 0.25))
    assert income.stats["quantiles"]["p99"] == pytest.approx(np.quantile(finite, 0.99))
    assert income.stats["mean"] == pytest.approx(finite.mean(), rel=1e-6)
    assert city.kind == "categorical" and city.value_set == ["Lyon", "Nice", "Paris"]
    assert contract["plan"].value_set == ["free", "pro", "team"]  # declared categories win
    assert contract["user_id"].kind == "identifier" and contract["user_id"].is_unique
    assert contract["signup"].kind == "datetime"
    assert contract["signup"].min_value == "2023-12-31T23:00:00"  # UTC
    assert contract["active"].kind == "boolean" and contract["active"].value_set is None
    assert contract["comment"].value_set is None  # 500 distinct > 50: no categories rule
    assert contract["comment"].stats["distinct"] == 500 and contract["comment"].stats["unique"]
    assert contract.rows == 500 and contract.source == {"dataset": "train"}


def test_every_training_row_passes_its_own_contract(train):
    odd = train.copy()
    odd["income"] = odd["income"].astype(object)
    odd.loc[3, "income"] = None
    odd["ratio"] = np.linspace(0.0, 1.0, len(odd))
    odd.loc[odd.index % 7 == 0, "ratio"] = np.inf
    odd.loc[1, "ratio"] = -np.inf
    odd["nullable_int"] = pd.array([1, None] * 250, dtype="Int64")
    report = mlops.validate(odd, mlops.profile(odd))
    assert report.passed, report.summary()
    assert report.rows_failed == 0


def test_profile_caps_categories_and_rejects_bad_arguments(train):
    assert mlops.profile(train, max_categories=2)["city"].value_set is None
    with pytest.raises(InvalidInput, match="max_categories"):
        mlops.profile(train, max_categories=-1)
    with pytest.raises(InvalidInput, match="twice"):
        mlops.profile(pd.DataFrame([[1, 2]], columns=["a", "a"]))
    arrays = mlops.profile(np.arange(12.0).reshape(6, 2))
    assert arrays.columns == ["0", "1"] and arrays["1"].max_value == 11.0


# -- editing and bad contracts ------------------------------------------------------------------
def test_editing_rules_in_place_and_chained(contract):
    contract["age"].range(0, 120)
    contract["city"].categories("Paris", "Lyon")
    contract["income"].required()
    contract["comment"].nullable(0.1).optional()
    contract["signup"].range("2024-01-01", None)
    assert contract["age"].rules()["range"] == [0, 120]
    assert contract["city"].value_set == ["Paris", "Lyon"]
    assert not contract["income"].allow_null
    assert contract["comment"].max_null_share == 0.1 and contract["comment"].is_optional
    assert contract["signup"].rules()["range"] == ["2024-01-01T00:00:00", None]
    contract["city"].categories(None)
    assert contract["city"].value_set is None


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["age"].range("a", 3), "range's min must be a number"),
        (lambda c: c["age"].range(10, 5), "minimum above its maximum"),
        (lambda c: c["city"].range(0, 1), "city' is categorical: a range applies to numeric"),
        (lambda c: c["signup"].range("not a date", None), "is not a date or time"),
        (lambda c: c["city"].categories([["a"]]), "categories must be strings, numbers"),
        (lambda c: c["comment"].nullable(2), "max_missing must be a share between 0 and 1"),
        (lambda c: c["age"].unique("yes"), "unique must be true or false"),
        (lambda c: c["agee"], r"no column 'agee' \(columns: age, income"),
    ],
)
def test_bad_edits_get_one_clear_message(contract, edit, message):
    with pytest.raises((InvalidInput, NotFound), match=message):
        edit(contract)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"columns": {"age": {"kind": "numbr"}}}, "kind must be one of numeric"),
        ({"columns": {"age": {"kind": "numeric", "rnage": [0, 1]}}}, "unknown rule 'rnage'"),
        ({"columns": {"age": {"kind": "numeric", "range": 5}}}, r"range must be \[min, max\]"),
        ({"columns": {"age": {"kind": "numeric", "range": ["x", 5]}}}, "must be a number"),
        ({"columns": {"age": {"kind": "numeric", "nullable": "no"}}}, "nullable must be true"),
        ({"columns": {"age": {"kind": "numeric", "categories": "abc"}}}, "must be a list"),
        ({"columns": {"age": "numeric"}}, "must be a mapping of rules"),
        ({"columns": []}, "a 'columns' mapping"),
        ({"columns": {}, "colums": {}}, "Unknown contract key 'colums'"),
        ({"jupyter_mlops_contract": 9, "columns": {}}, "format 9"),
    ],
)
def test_bad_contract_documents_get_one_clear_message(data, message):
    with pytest.raises(InvalidInput, match=message):
        mlops.DataContract.from_dict(data)


# -- save, load, diff ---------------------------------------------------------------------------
def test_yaml_and_json_round_trip_and_yaml_is_readable(contract, tmp_path):
    contract["age"].range(0, 120)
    yml = contract.save(tmp_path / "contract.yaml")
    jsn = contract.save(tmp_path / "contract.json")
    text = open(yml, encoding="utf-8").read()
    assert "    range: [0, 120]\n" in text and "categories: [Lyon, Nice, Paris]" in text
    assert yaml.safe_load(text)["columns"]["city"]["kind"] == "categorical"
    assert json.load(open(jsn))["columns"]["age"]["range"] == [0, 120]
    for path in (yml, jsn):
        loaded = mlops.load_contract(path)
        assert loaded == contract and loaded["income"].stats == contract["income"].stats


def test_broken_files_get_one_clear_message(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns: {age: [unclosed\n")
    with pytest.raises(InvalidInput, match="neither JSON nor YAML"):
        mlops.load_contract(bad)
    with pytest.raises(NotFound, match="No contract file"):
        mlops.load_contract(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(InvalidInput, match="must hold a mapping"):
        mlops.validate(pd.DataFrame({"a": [1]}), str(tmp_path / "list.yaml"))


def test_diff_lists_added_removed_and_changed_rules(contract):
    new = mlops.DataContract.from_dict(contract.to_dict())
    new["age"].range(0, 120)
    new["city"].categories("Paris", "Nice", "Lyon")  # same set: not a change
    new["income"].required()
    new.drop("comment")
    new_col = mlops.profile(pd.DataFrame({"tenure": [1, 2]}))["tenure"]
    new = mlops.DataContract([*new, new_col])
    diff = contract.diff(new)
    assert diff.added == ("tenure",) and diff.removed == ("comment",)
    assert [(c.column, c.rule) for c in diff.changed] == [("age", "range"), ("income", "nullable")]
    assert "~ age.range: [18, 89] → [0, 120]" in str(diff)
    assert not contract.diff(mlops.DataContract.from_dict(contract.to_dict()))


# -- validate -----------------------------------------------------------------------------------
def test_validate_counts_shares_and_examples_per_check(contract, train):
    bad = train.copy()
    bad.loc[[3, 9], "age"] = [150, -1]
    bad.loc[5, "city"] = "Rome"
    bad["user_id"] = bad["user_id"].where(bad.index != 7, 1000)
    bad["age"] = bad["age"].astype(object)
    bad.loc[11, "age"] = "forty"
    bad = bad.drop(columns=["comment"]).assign(extra=1)
    contract["income"].nullable(0.01)
    report = mlops.validate(bad, contract)
    failed = {(c.column, c.check): c for c in report.failures}
    assert set(failed) == {
        ("age", "range"), ("age", "type"), ("city", "categories"), ("user_id", "unique"),
        ("income", "max_missing"), ("comment", "present"),
    }  # fmt: skip
    age = failed[("age", "range")]
    assert (age.failed, age.failed_share) == (2, 2 / 500)
    assert [e["value"] for e in age.examples] == [150, -1]
    assert [e["index"] for e in age.examples] == [3, 9]
    assert failed[("age", "type")].examples[0]["value"] == "forty"
    assert failed[("user_id", "unique")].failed == 2
    assert failed[("income", "max_missing")].failed_share == pytest.approx(0.02)
    assert failed[("comment", "present")].failed == 500
    assert report.rows_failed == 500 and report.extra_columns == ("extra",)
    assert "age: range [18, 89] — 2 rows (0.4%) fail, e.g. 150 (row 3)" in report.summary()
    assert not report.passed


def test_missing_values_break_not_null_only_and_optional_columns_may_be_absent(contract, train):
    contract["income"].required()
    contract["comment"].optional()
    report = mlops.validate(train.drop(columns=["comment"]), contract)
    (failure,) = report.failures
    assert (failure.column, failure.check, failure.failed) == ("income", "not_null", 10)


def test_datetime_boolean_and_category_checks(contract, train):
    bad = train.copy()
    bad["signup"] = bad["signup"].astype(str)
    bad.loc[0, "signup"] = "yesterday-ish"
    bad.loc[1, "signup"] = "2030-01-01T00:00:00+00:00"
    bad["active"] = bad["active"].astype(object)
    bad.loc[2, "active"] = "yes"
    bad["plan"] = bad["plan"].cat.add_categories(["gold"])
    bad.loc[4, "plan"] = "gold"
    failed = {(c.column, c.check): c.failed for c in mlops.validate(bad, contract).failures}
    assert failed == {
        ("signup", "type"): 1, ("signup", "range"): 1, ("active", "type"): 1,
        ("plan", "categories"): 1,
    }  # fmt: skip


def test_report_round_trips_and_renders_escaped_html(contract, train):
    bad = train.copy()
    bad.loc[0, "city"] = "<script>x</script>"
    report = mlops.validate(bad, contract)
    again = DataValidationReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again.checks == report.checks and again.rows_failed == 1
    page = report._repr_html_()
    assert "&lt;script&gt;" in page and "<script>" not in page
    assert "failed" in page and "categories (3: Lyon, Nice, Paris)" in page
    frame = report.to_frame()
    assert list(frame.columns[:4]) == ["column", "check", "rule", "passed"]
    assert "<b>Data contract</b>" in contract._repr_html_()


def test_validate_takes_files_and_rejects_other_things(contract, train, tmp_path):
    path = contract.save(tmp_path / "c.yaml")
    report = mlops.validate(train, path)
    assert report.passed and report.contract_source == path
    with pytest.raises(InvalidInput, match="validate needs a DataContract"):
        mlops.validate(train, 42)


# -- requests -----------------------------------------------------------------------------------
def test_request_checker_names_column_rule_and_value(contract, train):
    checker = RequestChecker(contract)
    clean = train.iloc[:2].astype(object).to_numpy().tolist()
    assert checker.check_rows(clean, list(train.columns)).ok
    bad = [list(r) for r in clean]
    bad[1][0] = 300
    bad[1][1] = None
    bad[0][2] = "Rome"
    result = checker.check_rows(bad, list(train.columns))
    assert result.counts == {("age", "range"): 1, ("city", "categories"): 1}
    assert result.per_row == (("city:categories",), ("age:range",))
    assert result.message.startswith("Column 'city' breaks its data contract: 'Rome' (row 0)")
    assert "allowed categories 'Lyon', 'Nice', 'Paris'" in result.message
    contract["income"].required()
    result = RequestChecker(contract).check_rows(bad, list(train.columns))
    assert ("income", "not_null") in result.counts


def test_request_checker_on_arrays_frames_and_big_batches(train):
    numeric = train[["age", "income"]].fillna(1.0)
    checker = RequestChecker(mlops.profile(numeric))
    assert checker.check(np.array([[20.0, 40_000.0]])).ok
    result = checker.check(np.array([[20.5, 40_000.0], [20.0, "x"]], dtype=object))
    assert result.counts == {("age", "type"): 1, ("income", "type"): 1}
    frame = numeric.copy()
    frame.loc[[2, 4], "age"] = 999
    small, big = checker.check(frame.iloc[:10]), checker.check(frame)
    assert small.counts == {("age", "range"): 2} and big.counts == {("age", "range"): 2}
    assert big.per_row[2] == ("age:range",) and big.per_row[3] == ()
    assert checker.check_rows([[20]], ["age"]).counts == {("income", "present"): 1}


def test_violation_counter_renders_prometheus_lines(contract, train):
    counter = ViolationCounter()
    checker = RequestChecker(contract)
    row = train.iloc[:1].astype(object).to_numpy().tolist()
    row[0][0] = 300
    counter.add(checker.check_rows(row, list(train.columns)), rejected=True)
    counter.add(checker.check_rows(row[:0], list(train.columns)))
    text = "\n".join(counter.prometheus('model="m",version="1"'))
    assert (
        'mlops_contract_violations_total{model="m",version="1",column="age",rule="range"} 1' in text
    )
    assert 'mlops_contract_rejected_requests_total{model="m",version="1"} 1' in text
    assert 'mlops_contract_rows_violating_total{model="m",version="1"} 1' in text
    assert check_on_violation("reject") == "reject"
    with pytest.raises(InvalidInput, match="on_violation must be 'count'"):
        check_on_violation("drop")


def test_frame_rows_reads_blocks_like_to_numpy():
    from jupyter_mlops.contracts.enforce import frame_rows

    frame = pd.DataFrame(
        {
            "a": [1.0, np.nan], "b": ["x", None], "c": pd.Categorical(["p", "q"]),
            "d": pd.to_datetime(["2024-01-01", None]), "e": [1, 2], "g": [True, False],
            "h": pd.array([1, None], dtype="Int64"), "i": [2.0, 3.0],
        }
    )  # fmt: skip
    assert repr(frame_rows(frame)) == repr(frame.to_numpy(dtype=object).tolist())


def test_served_checks_cover_only_the_signatures_columns(contract, train):
    from jupyter_mlops.contracts.enforce import checker_for

    signature = {"inputs": [{"name": "age", "type": "long"}, {"name": "city", "type": "string"}]}
    checker = checker_for(contract, signature)
    assert checker.contract.columns == ["age", "city"] and checker.order == ["age", "city"]
    assert checker.check_rows([[30, "Paris"]], None).ok
    assert checker.check_rows([[300, "Paris"]], None).counts == {("age", "range"): 1}
    assert checker_for(None, signature) is None
