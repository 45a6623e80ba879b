"""Searches a hostile filter cannot make slow: linear LIKE, bounded filters, a time budget."""

from __future__ import annotations

import re
import sys
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyter_mlops.errors import FilterError, SearchTimeout
from jupyter_mlops.tracking import like
from jupyter_mlops.tracking.budget import time_budget
from jupyter_mlops.tracking.like import fold, like_matcher, split_pattern
from jupyter_mlops.tracking.search import MAX_LENGTH, compile_filter, search


def reference(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    r"""The textbook translation: ``%`` → ``.*``, ``_`` → ``.``; ``\%``, ``\_``, ``\\`` escape."""
    out, i = [], 0
    while i < len(pattern):
        if pattern[i] == "\\" and pattern[i + 1 : i + 2] in ("%", "_", "\\"):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append({"%": ".*", "_": "."}.get(pattern[i], re.escape(pattern[i])))
        i += 1
    return re.compile("".join(out), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("rf", "rf", True),
        ("rf", "rf1", False),
        ("r%", "rf", True),
        ("%f", "rf", True),
        ("%", "", True),
        ("_", "", False),
        ("%_%", "x", True),
        ("a%b%c", "abc", True),
        ("a%b%c", "acb", False),
        ("ab%ba", "aba", False),  # the prefix and the suffix may not share characters
        ("%a_c%", "xxabcx", True),
        ("%a_c%", "xxacx", False),
        ("a__", "abc", True),
        ("50\\%", "50%", True),
        ("50\\%", "500", False),
        ("\\_x", "_x", True),
        ("\\_x", "ax", False),
        ("a\\\\b", "a\\b", True),
        ("%\n%", "line\nbreak", True),
        ("%%%%a", "ba", True),
    ],
)
def test_like_examples(pattern, value, expected):
    assert like_matcher(pattern)(value) is expected
    assert (reference(pattern).fullmatch(value) is not None) is expected


def test_ilike_folds_both_sides():
    assert like_matcher("RF%", ignore_case=True)("rf-1")
    assert like_matcher("%straße", ignore_case=True)("STRAßE")
    assert like_matcher("_", ignore_case=True)("\u0130")  # İ lowers to two characters elsewhere
    assert fold("\u0130X") == "ix"


PATTERN_CHARS = st.sampled_from(list("ab%_\\") + ["\\%", "\\_", "\\\\"])
VALUE = st.text(alphabet="ab%_\\\n", max_size=14)
PATTERN = st.lists(PATTERN_CHARS, max_size=10).map("".join)


@settings(max_examples=1000, deadline=None)
@given(PATTERN, VALUE)
def test_like_answers_as_the_regex_does(pattern, value):
    assert like_matcher(pattern)(value) == (reference(pattern).fullmatch(value) is not None)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(list("aAbB%_")), max_size=8).map("".join), st.text("aAbB", max_size=10)
)
def test_ilike_answers_as_the_case_blind_regex_does(pattern, value):
    expected = reference(pattern, ignore_case=True).fullmatch(value) is not None
    assert like_matcher(pattern, ignore_case=True)(value) == expected


def has_repeat(pattern: str) -> bool:
    """Whether a regex holds a quantifier (``*``, ``+``, ``?``, ``{m,n}``): what backtracks."""
    repeats = (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT)
    stack = [sre_parse.parse(pattern)]
    while stack:
        for op, arg in stack.pop():
            if op in repeats:
                return True
            if isinstance(arg, (list, tuple)):
                stack.extend(a for a in arg if isinstance(a, sre_parse.SubPattern))
    return False


@settings(max_examples=500, deadline=None)
@given(PATTERN)
def test_no_segment_is_matched_by_a_regex_that_can_backtrack(pattern):
    segments, floating = split_pattern(pattern)
    assert has_repeat(reference(pattern).pattern) == floating  # the check sees what backtracks
    for segment in segments:
        assert not has_repeat(like._segment_regex(segment).pattern)


def python_steps(fn, *args) -> int:
    """Lines of Python executed by ``fn(*args)``: a measure of work that does not depend on time."""
    steps = 0

    def tracer(frame, event, arg):
        nonlocal steps
        if event == "line":
            steps += 1
        return tracer

    sys.settrace(tracer)
    try:
        fn(*args)
    finally:
        sys.settrace(None)
    return steps


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(["%", "a", "b", "_", "ab", "a_"]), min_size=1, max_size=40).map(
        "".join
    ),
    st.sampled_from(["a" * 1500, "ab" * 750, "a" * 1499 + "b"]),
)
def test_matching_work_is_linear_in_the_value(pattern, value):
    """Python-level steps stay within a constant times value plus pattern.

    The C calls in between are ``str.find``, ``str.count`` and quantifier-free regexes.
    """
    matches = like_matcher(pattern)
    assert python_steps(matches, value) <= 12 * (len(value) + len(pattern)) + 50


def test_a_filter_longer_than_the_limit_is_refused_at_the_limit():
    text = "params.a IN (" + ", ".join(f"'{i}'" for i in range(MAX_LENGTH // 4)) + ")"
    with pytest.raises(FilterError, match="more than the 10,000 allowed") as error:
        compile_filter(text)
    assert error.value.position == MAX_LENGTH
    assert len(str(error.value)) < 400  # the message shows an excerpt, not the whole filter


def test_a_long_filter_error_shows_an_excerpt_around_the_token():
    text = "params.a = 'x' AND " * 30 + "params.b >> 1"
    with pytest.raises(FilterError) as error:
        compile_filter(text)
    line, caret = str(error.value).splitlines()[-2:]
    assert line.startswith("  …") and ">>" in line
    token = error.value.token
    assert token and line[len(caret) - 1 : len(caret) - 1 + len(token)] == token


def test_a_search_past_its_time_budget_stops_with_a_clear_error():
    runs = [{"run_id": str(i), "params": {"note": "a" * 100}} for i in range(1000)]
    with time_budget(0.0), pytest.raises(SearchTimeout, match="stopped after 0 s") as error:
        search(runs, "params.note LIKE '%a%b'")
    assert "narrow the filter" in str(error.value) and isinstance(error.value, TimeoutError)
    with time_budget(600.0):
        assert search(runs, "params.note LIKE 'a%'") == runs
    assert search(runs, "params.note LIKE 'b%'") == []  # no budget outside the context


def test_ordering_by_too_many_fields_is_refused():
    from jupyter_mlops.tracking.search import parse_order_by

    assert len(parse_order_by(["metrics.acc"] * 20)) == 20
    with pytest.raises(FilterError, match="order by at most 20 fields"):
        parse_order_by(", ".join(["metrics.acc DESC"] * 21))


PARSER_TOKENS = st.sampled_from(
    ["(", ")", "NOT", "AND", "OR", "params.a", "metrics.b", "=", "LIKE", "IN", ",", "'x%'",
     "'", '"', "1", "1e999", "9" * 400, "IS NULL", "`", "attributes.bogus", "é"]
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(PARSER_TOKENS, min_size=1, max_size=300), st.sampled_from([" ", ""]))
def test_parsing_any_token_soup_is_linear_work_and_ends_in_a_predicate_or_filter_error(
    tokens, separator
):
    text = separator.join(tokens)

    def parse() -> None:
        try:
            compile_filter(text)
        except FilterError as error:
            assert 0 <= error.position <= len(text)

    assert python_steps(parse) <= 40 * len(text) + 400


@pytest.mark.parametrize("key", ["bogus1", "bogus" + "9" * 400, "x" * 2000])
def test_refusing_an_unknown_attribute_is_linear_work_with_its_suggestion(key):
    """The 'did you mean' of an unknown name is linear in its length (difflib's was not)."""
    text = f"attributes.{key} = 1"

    def parse() -> None:
        with pytest.raises(FilterError):
            compile_filter(text)

    assert python_steps(parse) <= 40 * len(text) + 400
