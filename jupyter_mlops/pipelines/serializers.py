"""Values between steps: one file per value, in a format chosen by its type (no object store).

================================  ===========================  =============================
value                             file                         read back with
================================  ===========================  =============================
pandas DataFrame / Series         ``.parquet`` (pyarrow)        ``pandas.read_parquet``
                                  else ``.pkl``                 ``pickle``
NumPy array (not ``object``)      ``.npy``                      ``numpy.load``
scikit-learn estimator            ``.joblib``                   ``joblib.load``
``None``, bool, int, float, str,  ``.json``                     ``json``
and lists/dicts of those
anything else                     ``.pkl`` (pickle, then        ``pickle``
                                  cloudpickle for functions
                                  and classes defined in the
                                  notebook)
================================  ===========================  =============================

The format is in the file name, so reading needs no side file. Every function here is
self-contained (its imports are inside it): the Airflow and Kubeflow targets copy their source
into the generated code, where jupyter_mlops may not be installed. Writes go to a temporary
file first and are renamed into place, so a killed step never leaves a half-written value.
"""

from __future__ import annotations

from typing import Any


def save_value(value: Any, folder: str, name: str) -> str:
    """Write ``value`` as ``folder/name.<ext>`` and return that path (see the module table)."""
    import os

    os.makedirs(folder, exist_ok=True)
    base = os.path.join(folder, name)
    for old in os.listdir(folder):  # a value saved before in another format
        if old.startswith(name + ".") and not old.endswith(".tmp"):
            os.remove(os.path.join(folder, old))
    for writer in (_save_frame, _save_array, _save_model, _save_json):
        path = writer(value, base)
        if path:
            return path
    return _save_pickle(value, base)


def load_value(path: str) -> Any:
    """Read a value written by :func:`save_value`."""
    import json
    import pickle

    if path.endswith(".parquet"):
        import pandas as pd

        frame = pd.read_parquet(path)
        if not path.endswith(".series.parquet"):
            return frame
        series = frame.iloc[:, 0]
        return series.rename(None) if series.name == "__series__" else series
    if path.endswith(".npy"):
        import numpy as np

        return np.load(path, allow_pickle=False)
    if path.endswith(".joblib"):
        import joblib

        return joblib.load(path)
    with open(path, "rb") as fh:
        return json.load(fh) if path.endswith(".json") else pickle.load(fh)


def read_value(folder: str, name: str) -> Any:
    """The value :func:`save_value` wrote as ``name`` into ``folder``, whatever its format."""
    import os

    for entry in sorted(os.listdir(folder)):
        if entry.startswith(name + ".") and not entry.endswith(".tmp"):
            return load_value(os.path.join(folder, entry))
    raise FileNotFoundError(f"no value {name!r} in {folder}: did the step that makes it run?")


def _save_frame(value: Any, base: str) -> str | None:
    import importlib.util
    import os

    kind = type(value).__name__
    if type(value).__module__.split(".")[0] != "pandas" or kind not in ("DataFrame", "Series"):
        return None
    if importlib.util.find_spec("pyarrow") is None:
        return _save_pickle(value, base)
    frame = value
    if kind == "Series":
        frame = value.to_frame(name="__series__" if value.name is None else value.name)
    path = base + (".series.parquet" if kind == "Series" else ".parquet")
    try:
        frame.to_parquet(path + ".tmp")
    except Exception:  # mixed-type or non-string columns: pickle keeps them exactly
        if os.path.exists(path + ".tmp"):
            os.remove(path + ".tmp")
        return _save_pickle(value, base)
    os.replace(path + ".tmp", path)
    return path


def _save_array(value: Any, base: str) -> str | None:
    import os

    if type(value).__name__ != "ndarray" or type(value).__module__ != "numpy":
        return None
    if value.dtype.hasobject:
        return None
    import numpy as np

    with open(base + ".npy.tmp", "wb") as fh:
        np.save(fh, value, allow_pickle=False)
    os.replace(base + ".npy.tmp", base + ".npy")
    return base + ".npy"


def _save_model(value: Any, base: str) -> str | None:
    import os
    import sys

    sklearn_base = sys.modules.get("sklearn.base")
    if sklearn_base is None or not isinstance(value, sklearn_base.BaseEstimator):
        return None
    import joblib

    try:
        joblib.dump(value, base + ".joblib.tmp")
    except Exception:  # e.g. a class defined in the notebook: cloudpickle handles it
        return None
    os.replace(base + ".joblib.tmp", base + ".joblib")
    return base + ".joblib"


def _save_json(value: Any, base: str) -> str | None:
    import json
    import os

    def is_plain(v: Any) -> bool:
        if type(v) in (type(None), bool, int, float, str):
            return True
        if type(v) is list:
            return all(is_plain(x) for x in v)
        return type(v) is dict and all(type(k) is str and is_plain(x) for k, x in v.items())

    if not is_plain(value):
        return None
    with open(base + ".json.tmp", "w", encoding="utf-8") as fh:
        json.dump(value, fh)
    os.replace(base + ".json.tmp", base + ".json")
    return base + ".json"


def _save_pickle(value: Any, base: str) -> str:
    import os
    import pickle

    try:
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # local functions and classes: pickle them by value
        try:  # a dependency of joblib >= 1.5; vendored inside older joblib
            import cloudpickle
        except ImportError:
            from joblib.externals import cloudpickle  # type: ignore[no-redef]
        data = cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    with open(base + ".pkl.tmp", "wb") as fh:
        fh.write(data)
    os.replace(base + ".pkl.tmp", base + ".pkl")
    return base + ".pkl"


EMBEDDED = (
    save_value,
    load_value,
    read_value,
    _save_frame,
    _save_array,
    _save_model,
    _save_json,
    _save_pickle,
)
"""The functions the Airflow and Kubeflow targets copy into generated code, in this order."""


def embedded_source(docstrings: bool = True) -> str:
    """The source of :data:`EMBEDDED` for generated code (``Any`` annotations removed).

    Without ``docstrings`` the functions are regenerated from their syntax tree, with neither
    docstrings nor comments: compact enough to copy into every Kubeflow component.
    """
    import ast
    import inspect
    import textwrap

    sources = [textwrap.dedent(inspect.getsource(f)) for f in EMBEDDED]
    if not docstrings:
        sources = [ast.unparse(_without_docstrings(ast.parse(s))) for s in sources]
    return "\n\n\n".join(s.replace(": Any", "").replace(" -> Any", "").strip() for s in sources)


def _without_docstrings(tree: Any) -> Any:
    import ast

    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, ast.FunctionDef) and body and isinstance(body[0], ast.Expr):
            if isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree
