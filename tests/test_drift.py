"""detect_drift: scipy-exact statistics, Evidently's automatic choice, odd data, reports, charts."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats
from scipy.spatial import distance

from jupyter_mlops.errors import InvalidInput, NotFound
from jupyter_mlops.monitoring import (
    DriftMethod,
    DriftReport,
    charts,
    detect_drift,
    get_drift_report,
    list_drift_reports,
    register_method,
)
from jupyter_mlops.monitoring.methods import (
    METHODS,
    ks_asymptotic_pvalue,
    ks_statistic,
    wasserstein,
)

REF = [1.2, 3.4, 2.2, 0.5, 4.1, 2.8, 3.3, 1.9, 2.5, 3.0, 0.9, 2.1, 4.4, 1.1, 2.7, 3.8, 1.6, 2.4]
REF += [3.1, 2.0]
CUR = [2.9, 4.5, 3.6, 1.8, 5.2, 3.9, 4.4, 3.1, 3.3, 4.0, 2.2, 3.5, 5.6, 2.6, 3.7, 4.8, 2.4, 3.2]
CUR += [4.1, 3.0, 4.6, 3.4]
CREF = list("aabbbcccccdddde")
CCUR = list("abbbbbcccddddddd") + ["f"]

# Golden values: scipy 1.17 on the data above (each is also recomputed with scipy below).
GOLDEN = [
    ("x", "ks", 0.4681818181818182, 0.013605448238249855),
    ("x", "wasserstein", 1.1253022838920355, None),
    ("x", "anderson", 6.1526689852197824, 0.0013710757683021118),
    ("x", "cramer_von_mises", 1.0268759018759015, 0.0020499594847493974),
    ("x", "chisquare", 11.919669421487605, 0.2178759457156101),
    ("x", "psi", 2.6536301369386024, None),
    ("x", "jensenshannon", 0.4152492008384767, None),
    ("x", "kl_div", 2.0177041321342166, None),
    ("x", "hellinger", 0.46967301051091237, None),
    ("c", "chisquare", 4.042305407011289, 0.5433412372948548),
    ("c", "psi", 1.0673941466841284, None),
    ("c", "jensenshannon", 0.2747714879192995, None),
    ("c", "kl_div", 0.5609099715760663, None),
    ("c", "hellinger", 0.308221533221673, None),
]


def one(ref, cur, **kwargs) -> pd.Series:
    """The single row of a one-column report."""
    kwargs.setdefault("progress", False)
    report = detect_drift(pd.DataFrame({"v": ref}), pd.DataFrame({"v": cur}), **kwargs)
    return report.columns.iloc[0]


# --- what scipy says, computed independently of jupyter_mlops ---------------------------------


def counts_of(ref, cur, categorical: bool):
    """Aligned counts as the docs define them: categories, or deciles of the reference."""
    ref, cur = np.asarray(ref), np.asarray(cur)
    if categorical or len(np.union1d(ref, cur)) <= 10:
        table = pd.crosstab(
            np.r_[np.zeros(len(ref)), np.ones(len(cur))], np.concatenate([ref, cur])
        ).to_numpy()
        return table[0], table[1]
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, 11)[1:-1]))
    bins = np.concatenate([[-np.inf], edges, [np.inf]])
    r, c = np.histogram(ref, bins)[0], np.histogram(cur, bins)[0]
    keep = (r > 0) | (c > 0)
    return r[keep], c[keep]


def evidently_floor(p):
    smallest = p[p > 0].min()
    return np.where(p == 0, smallest / 1e6 if smallest <= 1e-4 else 1e-4, p)


def scipy_says(method, ref, cur, categorical=False):
    """(statistic, p-value) of ``method`` computed with scipy directly."""
    if method == "ks":
        res = stats.ks_2samp(ref, cur)
        return res.statistic, res.pvalue
    if method == "wasserstein":
        return stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001), None
    if method == "anderson":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # p-value capped / floored
            res = stats.anderson_ksamp([np.asarray(ref), np.asarray(cur)], variant="midrank")
        return res.statistic, res.pvalue
    if method == "cramer_von_mises":
        res = stats.cramervonmises_2samp(ref, cur)
        return res.statistic, res.pvalue
    r, c = counts_of(ref, cur, categorical)
    p, q = r / r.sum(), c / c.sum()
    if method == "chisquare":
        res = stats.chi2_contingency(np.vstack([r, c]), correction=False)
        return res.statistic, res.pvalue
    if method == "psi":
        fp, fq = evidently_floor(p), evidently_floor(q)
        return np.sum((fp - fq) * np.log(fp / fq)), None
    if method == "jensenshannon":
        return distance.jensenshannon(p, q), None
    if method == "kl_div":
        fp, fq = evidently_floor(p), evidently_floor(q)
        return special.rel_entr(fp / fp.sum(), fq / fq.sum()).sum(), None
    if method == "hellinger":
        return distance.euclidean(np.sqrt(p), np.sqrt(q)) / math.sqrt(2), None
    raise AssertionError(method)


def assert_same(row, expected, rtol=1e-12):
    statistic, p_value = expected
    assert row["statistic"] == pytest.approx(statistic, rel=rtol, abs=1e-300)
    if p_value is None:
        assert math.isnan(row["p_value"])
    else:
        assert row["p_value"] == pytest.approx(p_value, rel=rtol, abs=1e-300)


# --- exactness --------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "method", "statistic", "p_value"), GOLDEN)
def test_golden_values(data, method, statistic, p_value):
    ref, cur = (REF, CUR) if data == "x" else (CREF, CCUR)
    row = one(ref, cur, method=method)
    assert row["status"] == "ok"
    assert_same(row, (statistic, p_value))
    assert_same(row, scipy_says(method, ref, cur, categorical=data == "c"))


NUMERIC_METHODS = ["ks", "wasserstein", "anderson", "cramer_von_mises"]
COUNT_METHODS = ["chisquare", "psi", "jensenshannon", "kl_div", "hellinger"]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("method", NUMERIC_METHODS + COUNT_METHODS)
def test_numeric_columns_equal_scipy_on_random_data(method, seed):
    rng = np.random.default_rng(seed)
    ref = rng.normal(size=int(rng.integers(30, 3000)))
    cur = rng.normal(
        rng.uniform(-0.3, 0.3), rng.uniform(0.8, 1.3), size=int(rng.integers(30, 3000))
    )
    if seed % 2:  # ties, which searchsorted must count as scipy does
        ref, cur = np.round(ref, 1), np.round(cur, 1)
    assert_same(one(ref, cur, method=method), scipy_says(method, ref, cur))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("method", COUNT_METHODS)
def test_categorical_columns_equal_scipy_on_random_data(method, seed):
    rng = np.random.default_rng(seed)
    labels = [f"k{i}" for i in range(int(rng.integers(3, 30)))]
    ref = rng.choice(labels, size=int(rng.integers(50, 5000)))
    cur = rng.choice(labels[1:] + ["new"], size=int(rng.integers(50, 5000)))
    assert_same(one(ref, cur, method=method), scipy_says(method, ref, cur, categorical=True))


def test_large_samples_use_the_asymptotic_ks_exactly_as_scipy():
    rng = np.random.default_rng(7)
    ref, cur = rng.normal(size=12_000), rng.normal(0.02, size=15_001)
    row = one(ref, cur, method="ks")
    expected = stats.ks_2samp(ref, cur)
    assert (row["statistic"], row["p_value"]) == (expected.statistic, expected.pvalue)
    assert wasserstein(np.sort(ref), np.sort(cur)) == stats.wasserstein_distance(ref, cur)


@pytest.mark.parametrize("seed", range(6))
def test_sort_once_ks_and_wasserstein_equal_scipy_bit_for_bit_with_ties(seed):
    rng = np.random.default_rng(seed)
    n1, n2 = rng.integers(1, 4000, 2)
    if seed % 3 == 0:
        ref, cur = rng.integers(0, 5, n1).astype(float), rng.integers(1, 7, n2).astype(float)
    elif seed % 3 == 1:
        ref, cur = np.round(rng.normal(size=n1), 1), np.round(rng.normal(0.1, size=n2), 1)
    else:
        ref, cur = rng.exponential(size=n1), rng.exponential(1.1, size=n2)
    expected = stats.ks_2samp(ref, cur, method="asymp")
    d = ks_statistic(np.sort(ref), np.sort(cur))
    assert (d, ks_asymptotic_pvalue(d, n1, n2)) == (expected.statistic, expected.pvalue)
    assert wasserstein(np.sort(ref), np.sort(cur)) == stats.wasserstein_distance(ref, cur)


def test_z_test_matches_the_2x2_chi_square():
    ref, cur = [True] * 12 + [False] * 8, [True] * 6 + [False] * 14
    row = one(ref, cur, method="z")
    table = np.array([[8, 12], [14, 6]])
    chi2 = stats.chi2_contingency(table, correction=False)
    assert row["statistic"] ** 2 == pytest.approx(chi2.statistic, rel=1e-12)
    assert row["p_value"] == pytest.approx(chi2.pvalue, rel=1e-9)
    assert row["p_value"] == pytest.approx(2 * stats.norm.sf(abs(row["statistic"])), rel=1e-15)


def test_missing_and_infinite_values_are_dropped_and_counted():
    rng = np.random.default_rng(3)
    ref, cur = rng.normal(size=400), rng.normal(0.3, size=300)
    ref_holes, cur_holes = ref.copy(), cur.copy()
    ref_holes[:40] = np.nan
    cur_holes[:30] = np.inf
    cur_holes[30:90] = -np.inf
    row = one(ref_holes, cur_holes, method="ks")
    assert_same(row, scipy_says("ks", ref[40:], cur[90:]))
    assert (row["missing_ref"], row["missing_cur"]) == (0.1, 0.3)
    assert row["missing_share_change"] == pytest.approx(0.2)
    assert (row["n_ref"], row["n_cur"]) == (360, 210)


def test_datetimes_are_tested_as_epoch_seconds():
    rng = np.random.default_rng(4)
    ref_s, cur_s = rng.uniform(0, 1e6, 500), rng.uniform(2e5, 1.2e6, 500)
    ref = pd.to_datetime(ref_s, unit="s", utc=True).tz_convert("Europe/Paris")
    row = one(ref, pd.to_datetime(cur_s, unit="s"), method="ks")
    assert row["kind"] == "datetime"
    assert_same(row, scipy_says("ks", ref_s.round(6), cur_s.round(6)), rtol=1e-6)


# --- the automatic choice ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "small", "large"),
    [
        (lambda rng, n: rng.normal(size=n), "ks", "wasserstein"),
        (lambda rng, n: rng.choice(["a", "b", "c"], n), "chisquare", "jensenshannon"),
        (lambda rng, n: rng.choice([True, False], n), "z", "jensenshannon"),
        (lambda rng, n: rng.integers(0, 4, n).astype(float), "chisquare", "jensenshannon"),
        (lambda rng, n: rng.integers(0, 2, n), "z", "jensenshannon"),
    ],
)
def test_automatic_choice_switches_after_1000_reference_values(make, small, large):
    rng = np.random.default_rng(0)
    cur = make(rng, 800)
    assert one(make(rng, 1000), cur)["method"] == small
    assert one(make(rng, 1001), cur)["method"] == large


def test_automatic_choice_counts_non_missing_reference_values():
    rng = np.random.default_rng(0)
    ref = np.append(rng.normal(size=1000), np.nan)
    assert one(ref, rng.normal(size=50))["method"] == "ks"


def test_default_thresholds_and_comparisons_are_evidentlys():
    rng = np.random.default_rng(5)
    ref, cur = rng.normal(size=300), rng.normal(0.1, size=300)
    row = one(ref, cur, method="ks")
    assert row["threshold"] == 0.05
    assert one(ref, cur, method="ks", threshold=row["p_value"])["drifted"]  # p <= t
    chi = one(ref, cur, method="chisquare")
    assert not one(ref, cur, method="chisquare", threshold=chi["p_value"])["drifted"]  # p < t
    wd = one(ref, cur, method="wasserstein")
    assert wd["threshold"] == 0.1
    assert one(ref, cur, method="wasserstein", threshold=wd["statistic"])["drifted"]  # >= t


# --- options ----------------------------------------------------------------------------------


def frames(n=600, seed=1):
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame(
        {
            "num": rng.normal(size=n),
            "shifted": rng.normal(size=n),
            "city": rng.choice(["paris", "lyon", "nice"], n),
            "flag": rng.random(n) < 0.3,
            "user_id": np.arange(n),
        }
    )
    cur = ref.copy()
    cur["num"] = rng.normal(size=n)
    cur["shifted"] = rng.normal(1.0, size=n)
    cur["city"] = rng.choice(["paris", "lyon", "nice"], n, p=[0.7, 0.2, 0.1])
    cur["flag"] = rng.random(n) < 0.32
    return ref, cur


def test_report_shape_and_dataset_drift_share():
    ref, cur = frames()
    report = detect_drift(ref, cur, progress=False)
    cols = report.columns.set_index("column")
    assert list(report.columns.columns[:8]) == [
        "column", "kind", "method", "statistic", "p_value", "threshold", "drifted", "status"
    ]  # fmt: skip
    assert cols.loc["user_id", "status"] == "skipped: identifier"
    assert list(cols["kind"]) == ["numeric", "numeric", "categorical", "boolean", "identifier"]
    assert report.drifted_columns == ["shifted", "city"]
    assert (report.n_tested, report.n_drifted, report.drift_share) == (4, 2, 0.5)
    assert report.dataset_drift
    assert not detect_drift(ref, cur, drift_share=0.6, progress=False).dataset_drift


def test_method_and_threshold_by_kind_and_by_column():
    ref, cur = frames()
    report = detect_drift(
        ref,
        cur,
        method={"numeric": "psi", "shifted": "ks", "categorical": "hellinger"},
        threshold={"numeric": 0.3, "city": 0.01},
        progress=False,
    )
    cols = report.columns.set_index("column")
    assert list(cols.loc[["num", "shifted", "city", "flag"], "method"]) == [
        "psi", "ks", "hellinger", "z"
    ]  # fmt: skip
    assert list(cols.loc[["num", "shifted", "city", "flag"], "threshold"]) == [
        0.3, 0.3, 0.01, 0.05
    ]  # fmt: skip


def test_column_kind_overrides():
    ref, cur = frames()
    report = detect_drift(
        ref, cur, column_kinds={"user_id": "categorical", "num": "identifier"}, progress=False
    )
    cols = report.columns.set_index("column")
    assert cols.loc["num", "status"] == "skipped: identifier"
    assert (cols.loc["user_id", "kind"], cols.loc["user_id", "method"]) == (
        "categorical",
        "chisquare",
    )


def test_forced_kinds_coerce_strings_and_count_the_rest_as_missing():
    ref = pd.DataFrame({"s": ["1.5", "2", "x", None] * 10, "d": ["2024-01-01", "bad"] * 20})
    cur = pd.DataFrame({"s": ["2.5", "3", "y", None] * 10, "d": ["2024-03-01", None] * 20})
    report = detect_drift(ref, cur, column_kinds={"s": "numeric", "d": "datetime"}, progress=False)
    cols = report.columns.set_index("column")
    assert list(cols["kind"]) == ["numeric", "datetime"]
    assert list(cols["status"]) == ["ok", "ok"]
    assert cols.loc["d", "method"] == "z"  # 2024-01-01 against 2024-03-01
    assert (cols.loc["s", "missing_ref"], cols.loc["s", "n_ref"]) == (0.5, 20)


def test_columns_selects_and_orders():
    ref, cur = frames()
    report = detect_drift(ref, cur, columns=["city", "num"], progress=False)
    assert list(report.columns["column"]) == ["city", "num"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "nope"}, "Unknown drift method"),
        ({"method": "ks"}, "does not apply to categorical column 'city'"),
        ({"method": {"colour": "ks"}}, "unknown columns: colour"),
        ({"threshold": "high"}, "finite number"),
        ({"drift_share": 0}, "drift_share"),
        ({"column_kinds": {"num": "float"}}, "Unknown kinds"),
        ({"columns": ["num", "ghost"]}, "neither frame: ghost"),
    ],
)
def test_bad_options_raise_invalid_input(kwargs, message):
    ref, cur = frames()
    with pytest.raises(InvalidInput, match=message):
        detect_drift(ref, cur, progress=False, **kwargs)


def test_not_a_frame_and_duplicate_columns_raise():
    with pytest.raises(InvalidInput, match="must be a pandas DataFrame"):
        detect_drift([1, 2], pd.DataFrame({"a": [1]}))
    dupes = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(InvalidInput, match="duplicate columns: a"):
        detect_drift(dupes, dupes)


def test_a_custom_method_plugs_in():
    class MeanShift(DriftMethod):
        name, kinds, input, default_threshold = "mean_shift", frozenset({"numeric"}), "values", 0.5

        def compute(self, ref, cur):
            return abs(cur.mean() - ref.mean()), None

    register_method(MeanShift())
    try:
        row = one([1.0, 2.0, 3.0], [2.0, 3.0, 4.0], method="mean_shift")
        assert (row["statistic"], row["drifted"]) == (1.0, True)
    finally:
        del METHODS["mean_shift"]


# --- odd data ---------------------------------------------------------------------------------


def test_odd_columns_get_a_status_never_a_crash():
    n = 50
    ref = pd.DataFrame(
        {
            "only_ref": range(n),
            "all_nan": [np.nan] * n,
            "half_nan": [np.nan] * (n - 1) + [1.0],
            "constant": [3.0] * n,
            "constant_moved": [3.0] * n,
            "infinite": [np.inf] * n,
            "kind_change": np.arange(n, dtype=float),
            "mixed": [1, "a", None, 2.5, "b"] * 10,
            "lists": [[1], [2]] * 25,
            "two_values": [1.0, 2.0] * 25,
        }
    )
    cur = pd.DataFrame(
        {
            "only_cur": range(n),
            "all_nan": np.arange(n, dtype=float),
            "half_nan": np.arange(n, dtype=float),
            "constant": [3.0] * n,
            "constant_moved": [4.0] * n,
            "infinite": np.arange(n, dtype=float),
            "kind_change": ["x"] * n,
            "mixed": [1, "a", None, 2.5, "c"] * 10,
            "lists": [[1], [3]] * 25,
            "two_values": [1.0, 2.0] * 25,
        }
    )
    report = detect_drift(ref, cur, method={"two_values": "cramer_von_mises"}, progress=False)
    status = report.columns.set_index("column")["status"].to_dict()
    assert status["only_ref"] == "skipped: only in reference"
    assert status["only_cur"] == "skipped: only in current"
    assert status["all_nan"] == "skipped: all missing in reference"
    assert status["infinite"] == "skipped: all missing in reference"
    assert status["constant"] == "constant"
    assert status["constant_moved"] == "ok"
    assert status["half_nan"] == "ok"
    assert (
        status["kind_change"]
        == "skipped: kind differs (numeric in reference, categorical in current)"
    )
    assert status["mixed"] == "ok"
    assert status["lists"].startswith("error: TypeError")
    assert status["two_values"] == "ok"
    assert report.n_tested == 5  # ok and constant columns
    json.dumps(report.to_dict(), allow_nan=False)


def test_empty_frames_and_tiny_samples():
    empty = pd.DataFrame({"a": pd.Series([], dtype=float)})
    row = detect_drift(empty, pd.DataFrame({"a": [1.0, 2.0]}), progress=False).columns.iloc[0]
    assert row["status"] == "skipped: no rows in reference"
    row = one([1.0, 2.0, 3.0], [5.0], method="cramer_von_mises")
    assert row["status"] == "skipped: too few values (1; cramer_von_mises needs 2 on each side)"
    row = one(["a", "b", "c"], ["a", "b"], method="z")
    assert row["status"].startswith("skipped: the z-test needs two values")
    report = detect_drift(empty, empty, progress=False)
    assert (report.n_tested, report.drift_share, report.dataset_drift) == (0, 0.0, False)


# --- report, JSON and store -------------------------------------------------------------------


def test_to_dict_is_json_and_round_trips():
    ref, cur = frames()
    ref["gone"] = np.nan
    report = detect_drift(ref, cur, progress=False)
    text = json.dumps(report.to_dict(), allow_nan=False)
    back = DriftReport.from_dict(json.loads(text))
    pd.testing.assert_frame_equal(back.columns, report.columns)
    assert back.to_dict() == report.to_dict()
    assert back.drifted_columns == report.drifted_columns
    assert "gone" in text and "NaN" not in text


def test_save_and_list_in_the_store(tracking_store):
    ref, cur = frames()
    first = detect_drift(ref, cur, progress=False)
    second = detect_drift(ref, ref, progress=False)
    assert first.save("weekly") == first.report_id
    second.save()
    listed = list_drift_reports()
    assert [r.report_id for r in listed] == [second.report_id, first.report_id]
    assert [r.report_id for r in list_drift_reports("weekly")] == [first.report_id]
    loaded = get_drift_report(first.report_id)
    assert loaded.name == "weekly" and loaded.dataset_drift and loaded.columns.equals(first.columns)
    with pytest.raises(NotFound, match="list_drift_reports"):
        get_drift_report("nope")
    with pytest.raises(InvalidInput):
        first.save("  ")


def test_html_fallback_escapes_user_strings():
    ref = pd.DataFrame({"<b>x</b>": [1.0, 2.0, 3.0]})
    html = detect_drift(ref, ref, progress=False)._repr_html_()
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html


# --- progress ---------------------------------------------------------------------------------


def test_progress_callback_and_text(capsys):
    ref, cur = frames()
    calls = []
    detect_drift(ref, cur, progress=lambda *args: calls.append(args))
    assert calls == [(i, 5, c) for i, c in enumerate(ref.columns, 1)]
    detect_drift(ref, cur, progress=True)
    assert "drift: 5/5 columns" in capsys.readouterr().err
    detect_drift(ref, cur, progress=False)
    assert capsys.readouterr().err == ""


# --- charts -----------------------------------------------------------------------------------


def png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    data = buffer.getvalue()
    assert data.startswith(b"\x89PNG")
    return data


def test_charts_render_even_with_nan_and_empty_columns():
    ref, cur = frames()
    ref["all_nan"], cur["all_nan"] = np.nan, np.nan
    ref["dates"] = pd.date_range("2024-01-01", periods=len(ref), freq="h")
    cur["dates"] = pd.NaT
    ref["many"] = [f"v{i % 40}" for i in range(len(ref))]
    cur["many"] = [f"v{i % 45}" for i in range(len(cur))]
    cur["extra"] = 1.0
    report = detect_drift(ref, cur, method={"shifted": "wasserstein"}, progress=False)
    png(report.plot())
    for column in report.columns["column"]:
        png(report.plot(column))
    png(charts.drift_scores(report.to_dict()))
    with pytest.raises(InvalidInput, match="no column"):
        report.plot("ghost")
    empty = detect_drift(
        pd.DataFrame({"a": [np.nan]}), pd.DataFrame({"a": [np.nan]}), progress=False
    )
    png(empty.plot())


def test_drift_over_time_chart():
    ref, cur = frames()
    windows = []
    for hour in range(4):
        report = detect_drift(ref, cur if hour % 2 else ref, progress=False)
        start = pd.Timestamp("2024-05-01", tz="UTC") + pd.Timedelta(hours=hour)
        windows.append(dataclasses.replace(report, window_start=start.isoformat()))
    png(charts.drift_over_time(windows, columns=["shifted", "city"]))
    png(charts.drift_over_time([w.to_dict() for w in windows]))
    png(charts.drift_over_time([]))
