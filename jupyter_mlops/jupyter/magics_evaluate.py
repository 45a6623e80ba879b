"""``%mlops_evaluate``: evaluate a model on test data and show the report panel."""

from __future__ import annotations

from typing import Any

from IPython.core import magic_arguments
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

from jupyter_mlops.jupyter.magic_util import call, parse, variable


@magics_class
class EvaluateMagics(Magics):
    """Model evaluation from the notebook."""

    @magic_arguments.magic_arguments()
    @magic_arguments.argument("model", help="A model variable, or a models:/ or runs:/ URI.")
    @magic_arguments.argument("x", metavar="X_VAR", help="Variable holding the test features.")
    @magic_arguments.argument("y", metavar="Y_VAR", help="Variable holding the test target.")
    @magic_arguments.argument(
        "--baseline", metavar="URI", help="A model variable or URI to compare."
    )
    @magic_arguments.argument(
        "--slice", dest="slices", action="extend", nargs="+", metavar="COLUMN",
        help="Metrics per value or quantile bin of these columns.",
    )  # fmt: skip
    @magic_arguments.argument(
        "--threshold", dest="thresholds", action="append", metavar="'METRIC>=VALUE'",
        help="A bound: 'f1>=0.9', 'rmse<=3', 'f1 >= baseline + 0.01' (repeatable).",
    )  # fmt: skip
    @magic_arguments.argument(
        "--task", help="binary, multiclass or regression (default: inferred)."
    )
    @magic_arguments.argument("-n", "--name", help="The data set's name (default: test).")
    @magic_arguments.argument("--deployment", metavar="NAME", help="Compare X with its traffic.")
    @magic_arguments.argument("--window", default="7d", help="Traffic window: 1h, 1d, 7d...")
    @line_magic
    def mlops_evaluate(self, line: str = "") -> None:
        """Evaluate a model on test data: metrics, thresholds, slices, fit, plots.

        The metrics are the evaluation module's (the gate's and autolog's: ``f1`` is the
        positive class's F1 for binary targets, macro otherwise). The report is logged to a run
        linked to the model's run and, for a ``models:/`` URI, stored with the version.

        Examples
        --------
        In [1]: %mlops_evaluate model X_test y_test

        In [2]: %mlops_evaluate models:/churn@candidate X_test y_test --baseline models:/churn@prod

        In [3]: %mlops_evaluate model X_test y_test --slice region age --threshold 'f1>=0.8'

        In [4]: %mlops_evaluate model X_test y_test --deployment churn-prod --window 7d
        """
        from IPython.display import display

        from jupyter_mlops.evaluation.core import evaluate
        from jupyter_mlops.jupyter.panels_evaluate import EvaluationPanel

        args = parse(self.mlops_evaluate, line, "mlops_evaluate")
        report = call(
            evaluate,
            self._model(args.model, "the model"),
            variable(self.shell, args.x, "the test features"),
            variable(self.shell, args.y, "the test target"),
            task=args.task,
            baseline=self._model(args.baseline, "the baseline") if args.baseline else None,
            thresholds=_thresholds(args.thresholds),
            slices=args.slices,
            name=args.name,
            deployment=args.deployment,
            window=args.window,
        )
        display(EvaluationPanel(report))

    def _model(self, text: str, what: str) -> Any:
        from jupyter_mlops.store.refs import is_model_uri

        if is_model_uri(text):
            return text
        return variable(self.shell, text, what)


def _thresholds(texts: list[str] | None) -> dict[str, Any] | None:
    from jupyter_mlops.evaluation.thresholds import parse_threshold

    if not texts:
        return None
    parsed = [call(parse_threshold, text) for text in texts]
    names = [name for name, _ in parsed]
    if len(set(names)) != len(names):
        raise UsageError("Give one --threshold per metric (combine bounds in one, or repeat none).")
    return dict(parsed)


def register(ipython: Any) -> None:
    """Register :class:`EvaluateMagics` with an IPython shell."""
    ipython.register_magics(EvaluateMagics)
