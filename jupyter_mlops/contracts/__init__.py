"""Data contracts: profile a dataset, edit and save the contract, validate data against it.

The core knows nothing of Jupyter: :mod:`.profile` infers a :class:`~.model.DataContract`,
:mod:`.io` saves and reads it (YAML or JSON), :mod:`.diff` compares two, :mod:`.validate` checks
a batch and returns a :class:`~.report.DataValidationReport`, and :mod:`.enforce` checks model
server requests. :mod:`.resolve` finds the contract a model version recorded.
"""

from __future__ import annotations

from jupyter_mlops._lazy import lazy_api

__getattr__, __dir__, __all__ = lazy_api(
    __name__,
    {
        "ColumnContract": "jupyter_mlops.contracts.model",
        "DataContract": "jupyter_mlops.contracts.model",
        "profile": "jupyter_mlops.contracts.profile",
        "validate": "jupyter_mlops.contracts.validate",
        "CheckResult": "jupyter_mlops.contracts.report",
        "DataValidationReport": "jupyter_mlops.contracts.report",
        "ContractDiff": "jupyter_mlops.contracts.diff",
        "diff_contracts": "jupyter_mlops.contracts.diff",
        "load_contract": "jupyter_mlops.contracts.resolve",
        "RequestChecker": "jupyter_mlops.contracts.enforce",
    },
)
