"""The peers' side of bench_contracts.py: Pandera and Great Expectations on the same checks.

Run by ``bench_contracts.py --worker pandera|great_expectations`` with each peer's own venv
python. Both build their schema or suite from ``checks.json`` (outside the timing) and return
the failing-row counts per ``column/check`` in ``bench_contracts``' key format.
"""

from __future__ import annotations

from typing import Any

from bench_contracts import timed


def run(tool: str, frame: Any, checks: dict[str, Any], repeats: int) -> dict[str, Any]:
    """Time the peer's validation of ``frame``."""
    if tool == "pandera":
        schema = pandera_schema(checks)
        return timed(lambda: run_pandera(schema, frame), repeats)
    validate = gx_validator(checks)
    return timed(lambda: validate(frame), repeats)


def pandera_schema(checks: dict[str, Any]) -> Any:
    import pandera.pandas as pa

    columns = {}
    for name, rule in checks["columns"].items():
        tests = []
        if rule["range"]:
            tests.append(pa.Check.in_range(*rule["range"]))
        if rule["categories"]:
            tests.append(pa.Check.isin(rule["categories"]))
        columns[name] = pa.Column(nullable=rule["nullable"], checks=tests, required=True)
    return pa.DataFrameSchema(columns)


def run_pandera(schema: Any, frame: Any) -> dict[str, int]:
    import pandera.errors

    try:
        schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as e:
        cases = e.failure_cases
        kinds = cases["check"].astype(str).map(_pandera_check)
        counts = cases.assign(kind=kinds).groupby(["column", "kind"]).size()
        return {f"{column}/{kind}": int(n) for (column, kind), n in counts.items()}
    return {}


def _pandera_check(name: str) -> str:
    if name.startswith("in_range"):
        return "range"
    if name.startswith("isin"):
        return "categories"
    if name == "not_nullable":
        return "not_null"
    return name


def gx_validator(checks: dict[str, Any]) -> Any:
    import great_expectations as gx
    import great_expectations.expectations as gxe

    context = gx.get_context(mode="ephemeral")
    asset = context.data_sources.add_pandas("bench").add_dataframe_asset("frame")
    batch_definition = asset.add_batch_definition_whole_dataframe("all")
    suite = context.suites.add(gx.ExpectationSuite(name="contract"))
    for name, rule in checks["columns"].items():
        suite.add_expectation(gxe.ExpectColumnToExist(column=name))
        if not rule["nullable"]:
            suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=name))
        if rule["range"]:
            low, high = rule["range"]
            suite.add_expectation(
                gxe.ExpectColumnValuesToBeBetween(column=name, min_value=low, max_value=high)
            )
        if rule["categories"]:
            suite.add_expectation(
                gxe.ExpectColumnValuesToBeInSet(column=name, value_set=rule["categories"])
            )
    kinds = {
        "expect_column_values_to_not_be_null": "not_null",
        "expect_column_values_to_be_between": "range",
        "expect_column_values_to_be_in_set": "categories",
    }

    def validate(frame: Any) -> dict[str, int]:
        batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(suite, result_format="SUMMARY")
        out = {}
        for item in result.results:
            config = item.expectation_config
            kind = kinds.get(config.type)
            count = (item.result or {}).get("unexpected_count") or 0
            if kind and count:
                out[f"{config.kwargs['column']}/{kind}"] = int(count)
        return out

    return validate
