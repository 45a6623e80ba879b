"""Model flavors: how a kind of model is written to one file and read back as a predictor.

A flavor is a small class with ``matches``, ``save`` and ``load``. ``log_model`` picks the first
flavor that matches; the flavor's name goes into ``MLmodel.json`` so every loader (``load_model``,
the model server, the validation gate) reads the file back the same way. Files are always
verified against their sha256 before ``load`` is called.

- ``sklearn``: scikit-learn estimators and pipelines (pickle);
- ``pytorch``: ``torch.nn.Module``, saved with ``torch.export`` (batch size dynamic) when an input
  example is given, so the server needs no model class; pickled otherwise. Loaded as a predictor
  whose ``predict`` takes a DataFrame or array and returns the network's output as an array;
- ``python``: any other object with ``predict`` (pickle);
- ``mlflow``: a model MLflow's own client logged (a folder with MLflow's ``MLmodel``, e.g. through
  ``jupyter mlops server``), read back by ``mlflow.pyfunc``; never chosen by ``log_model``.
"""

from __future__ import annotations

import pickle
import sys
from typing import Any, ClassVar


class Flavor:
    """One way to store and load a kind of model."""

    name: ClassVar[str]
    filename: ClassVar[str] = "model.pkl"

    def matches(self, model: Any) -> bool:
        """Whether this flavor handles ``model``."""
        raise NotImplementedError

    def save(self, model: Any, path: str, example: Any) -> None:
        """Write ``model`` to ``path``."""
        with open(path, "wb") as fh:
            pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)

    def load(self, path: str) -> Any:
        """Read a verified file back as an object with ``predict``."""
        with open(path, "rb") as fh:
            return pickle.load(fh)  # noqa: S301 - callers verified the sha256 first


class SklearnFlavor(Flavor):
    """scikit-learn estimators and pipelines."""

    name = "sklearn"

    def matches(self, model: Any) -> bool:
        return type(model).__module__.startswith("sklearn") or hasattr(model, "get_params")


class TorchFlavor(Flavor):
    """PyTorch modules, served through :class:`TorchPredictor`."""

    name = "pytorch"
    filename = "model.pt2"

    def matches(self, model: Any) -> bool:
        torch = sys.modules.get("torch")
        return torch is not None and isinstance(model, torch.nn.Module)

    def save(self, model: Any, path: str, example: Any) -> None:
        import torch

        training = model.training
        model.eval()
        try:
            if example is None:
                torch.save(model, path)
                return
            batch = {0: torch.export.Dim.AUTO}
            program = torch.export.export(model, (as_tensor(example),), dynamic_shapes=(batch,))
            torch.export.save(program, path)
        finally:  # the caller may go on training: leave the module as it was
            model.train(training)

    def load(self, path: str) -> Any:
        import zipfile

        import torch

        if zipfile.is_zipfile(path) and _is_exported_program(path):
            return TorchPredictor(torch.export.load(path).module())
        module = torch.load(path, weights_only=False)  # noqa: S614 - sha256 verified
        return TorchPredictor(module)


def _is_exported_program(path: str) -> bool:
    import zipfile

    with zipfile.ZipFile(path) as archive:
        return any(n.endswith("/archive_format") for n in archive.namelist())


class PythonFlavor(Flavor):
    """Any other object with ``predict``."""

    name = "python"

    def matches(self, model: Any) -> bool:
        return hasattr(model, "predict")


class TorchPredictor:
    """A torch module behind ``predict(X) -> ndarray`` (float32 in, eval mode, no grad)."""

    def __init__(self, module: Any):
        self.module = module
        if hasattr(module, "eval") and not _is_graph_module(module):
            module.eval()

    def predict(self, X: Any) -> Any:
        import torch

        with torch.no_grad():
            output = self.module(as_tensor(X))
        array = output.detach().cpu().numpy()
        return array[:, 0] if array.ndim == 2 and array.shape[1] == 1 else array


def _is_graph_module(module: Any) -> bool:
    # an exported program's module refuses eval(); it was exported in eval mode already
    return type(module).__name__ == "GraphModule" or "export" in type(module).__module__


def as_tensor(data: Any) -> Any:
    """A DataFrame, array or nested list as a float32 tensor."""
    import numpy as np
    import torch

    values = data.to_numpy() if hasattr(data, "to_numpy") else np.asarray(data)
    return torch.as_tensor(np.asarray(values, dtype="float32"))


class MlflowFlavor(Flavor):
    """A model MLflow's client wrote: ``load`` takes its ``MLmodel`` (in a verified folder)."""

    name = "mlflow"
    filename = "MLmodel"

    def matches(self, model: Any) -> bool:
        return False  # we write our own flavors; this one only reads MLflow's

    def load(self, path: str) -> Any:
        import os

        from jupyter_mlops.errors import InvalidInput

        try:
            import mlflow.pyfunc
        except ImportError:
            raise InvalidInput(
                "This model was logged by MLflow's client; loading it needs MLflow: "
                "pip install 'jupyter-mlops[mlflow]'."
            ) from None
        try:
            return mlflow.pyfunc.load_model(os.path.dirname(path))
        except ImportError as e:  # the MLflow flavor's own library
            raise InvalidInput(
                f"This model was logged by MLflow's client; its flavor needs {e.name or e}: "
                f"pip install {e.name or 'the packages in its requirements.txt'}."
            ) from None


FLAVORS: list[Flavor] = [TorchFlavor(), SklearnFlavor(), PythonFlavor(), MlflowFlavor()]


def flavor_for(model: Any) -> Flavor | None:
    """The first flavor that handles ``model`` (``None``: it cannot be logged)."""
    return next((f for f in FLAVORS if f.matches(model)), None)


def flavor_named(name: str) -> Flavor:
    """The flavor recorded in a descriptor (unknown names read as plain pickles)."""
    return next((f for f in FLAVORS if f.name == name), PythonFlavor())
