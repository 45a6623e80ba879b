"""``%mlops_validate``: a DataFrame checked against a data contract, shown as a panel."""

from __future__ import annotations

from typing import Any

from IPython.core import magic_arguments
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

from jupyter_mlops.jupyter.magic_util import call, parse, variable
from jupyter_mlops.store.refs import is_model_uri


@magics_class
class ValidateMagics(Magics):
    """Data contracts in the notebook."""

    @magic_arguments.magic_arguments()
    @magic_arguments.argument("data", help="Variable holding the DataFrame to check.")
    @magic_arguments.argument(
        "--contract", metavar="URI",
        help="A contract file (.yaml/.json), a variable holding a DataContract, or a model URI.",
    )  # fmt: skip
    @magic_arguments.argument(
        "--against", metavar="MODEL_URI",
        help="Check against the contract a model version recorded (models:/churn@prod).",
    )  # fmt: skip
    @line_magic
    def mlops_validate(self, line: str = "") -> None:
        """Check a DataFrame against a data contract: each rule passed or failed, with examples.

        The contract comes from a file saved with ``contract.save(...)``, a notebook variable
        holding a ``DataContract`` (``mlops.profile(df)``), or the model version whose training
        data it was profiled from. The panel shows the verdict, every failed check with its
        count and share of rows, and the offending rows; without a widget frontend the same
        tables show as HTML.

        Examples
        --------
        In [1]: %mlops_validate live_df --against models:/churn@prod

        In [2]: %mlops_validate live_df --contract contract.yaml

        In [3]: %mlops_validate live_df --contract my_contract
        """
        from IPython.display import display

        from jupyter_mlops.contracts.validate import validate
        from jupyter_mlops.jupyter.panels_validate import ValidationPanel

        args = parse(self.mlops_validate, line, "mlops_validate")
        if bool(args.contract) == bool(args.against):
            raise UsageError(
                "Give the contract with --contract FILE_OR_VARIABLE or --against MODEL_URI "
                "(one of them), e.g. %mlops_validate live_df --against models:/churn@prod."
            )
        data = variable(self.shell, args.data, "the data to validate")
        source = self._contract(args.contract) if args.contract else args.against
        if args.against and not is_model_uri(args.against):
            raise UsageError(
                f"--against takes a model URI (models:/name/1, models:/name@alias, "
                f"runs:/<run_id>/model), not {args.against!r}."
            )
        report = call(validate, data, source)
        display(ValidationPanel(report, data, f"Data validation: {args.data}"))

    def _contract(self, name: str) -> Any:
        from jupyter_mlops.contracts.model import DataContract

        value = getattr(self.shell, "user_ns", {}).get(name)
        return value if isinstance(value, DataContract) else name


def register(ipython: Any) -> None:
    """Register :class:`ValidateMagics` with an IPython shell."""
    ipython.register_magics(ValidateMagics)
