"""Values between steps: the format follows the type, and every value reads back the same."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression
from test_pipelines_fixtures import assert_same

from jupyter_mlops.pipelines import serializers as ser

HAS_PYARROW = importlib.util.find_spec("pyarrow") is not None
FRAME_EXT = ".parquet" if HAS_PYARROW else ".pkl"


class Local:
    """A class like one defined in a notebook."""

    def __init__(self, value):
        self.value = value


def fitted():
    return LinearRegression().fit(np.arange(6).reshape(-1, 1), np.arange(6) * 2.0)


def local_function():
    def helper(x):
        return x + 1

    return helper


@pytest.mark.parametrize(
    ("value", "ext"),
    [
        (pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}), FRAME_EXT),
        (pd.Series([1.5, 2.5], name="s"), ".series.parquet" if HAS_PYARROW else ".pkl"),
        (pd.Series([1, 2]), ".series.parquet" if HAS_PYARROW else ".pkl"),
        (np.arange(12.0).reshape(3, 4), ".npy"),
        (np.array(["a", None], dtype=object), ".pkl"),
        (np.float64(0.25), ".pkl"),
        (fitted(), ".joblib"),
        ({"name": "x", "sizes": [1, 2.5, None, True]}, ".json"),
        ("text", ".json"),
        ((1, 2), ".pkl"),  # a tuple would come back from JSON as a list
        ({1: "int keys"}, ".pkl"),
        (Local(3), ".pkl"),
    ],
)
def test_round_trip_by_type(tmp_path, value, ext):
    path = ser.save_value(value, str(tmp_path), "v")
    assert path == os.path.join(tmp_path, "v" + ext)
    back = ser.read_value(str(tmp_path), "v")
    assert type(back) is type(value)
    assert_same(value, back)
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_functions_and_classes_defined_in_a_step_are_pickled_by_value(tmp_path):
    ser.save_value(local_function(), str(tmp_path), "f")
    assert ser.read_value(str(tmp_path), "f")(1) == 2


def test_a_new_format_replaces_the_old_file(tmp_path):
    ser.save_value([1, 2], str(tmp_path), "v")
    ser.save_value(np.arange(3), str(tmp_path), "v")
    assert os.listdir(tmp_path) == ["v.npy"]


def test_reading_a_missing_value_says_which(tmp_path):
    with pytest.raises(FileNotFoundError, match="no value 'x' in"):
        ser.read_value(str(tmp_path), "x")


def test_embedded_source_is_self_contained():
    namespace: dict = {}
    exec(ser.embedded_source(docstrings=False), namespace)
    assert {"save_value", "read_value", "load_value"} <= set(namespace)
    assert "import jupyter_mlops" not in ser.embedded_source()
