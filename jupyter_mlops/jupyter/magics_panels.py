"""``%mlops_runs``, ``%mlops_compare`` and ``%mlops_run``: the runs, comparison and run panels.

Each magic parses its line, builds a panel from :mod:`jupyter_mlops.jupyter.panels` and
displays it. A mistake (a bad filter, an unknown run or experiment) is one line of
:class:`~IPython.core.error.UsageError`, never a traceback.
"""

from __future__ import annotations

from typing import Any

from IPython.core import magic_arguments
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

from jupyter_mlops.jupyter.magic_util import call, parse

__all__ = ["PanelMagics", "register"]


def _flatten(groups: list[list[str]] | None) -> list[str] | None:
    return None if not groups else [item for group in groups for item in group]


@magics_class
class PanelMagics(Magics):
    """The runs and comparison panels."""

    @magic_arguments.magic_arguments()
    @magic_arguments.argument(
        "-e",
        "--experiment",
        nargs="+",
        action="append",
        metavar="EXP",
        help="Experiment name(s) to show (default: every experiment); repeatable.",
    )
    @magic_arguments.argument(
        "-f",
        "--filter",
        metavar="FILTER",
        help="A search_runs filter, quoted: \"metrics.acc > 0.9 and params.model = 'rf'\".",
    )
    @magic_arguments.argument(
        "-o", "--order-by", metavar="ORDER", help='Initial order, quoted: "metrics.acc DESC".'
    )
    @magic_arguments.argument(
        "-n", "--max-results", type=int, metavar="MAX", help="Show at most MAX runs."
    )
    @line_magic
    def mlops_runs(self, line: str = "") -> None:
        """Show the runs panel: filter, sort and page through runs, select some, compare them.

        The panel has an experiment selector, a filter box (a bad filter's error shows under
        it), a table of runs (name, status, start, duration, params, metrics with
        last/min/max), sorting by any column, pages of 50 rows and a "Compare selected" button.
        From Python: ``jupyter_mlops.jupyter.panels.RunsPanel(...)``.

        Examples
        --------
        In [1]: %mlops_runs

        In [2]: %mlops_runs -e churn fraud -f "metrics.auc > 0.8" -o "metrics.auc DESC"

        In [3]: %mlops_runs -f "params.model IN ('rf', 'gbm') and attributes.status = 'FINISHED'"
        """
        from IPython.display import display

        from jupyter_mlops.jupyter.panels_runs import RunsPanel

        args = parse(self.mlops_runs, line, "mlops_runs")
        if args.max_results is not None and args.max_results < 0:
            raise UsageError("-n/--max-results must be 0 or more.")
        panel = call(
            RunsPanel,
            experiments=_flatten(args.experiment),
            filter=args.filter,
            order_by=args.order_by,
            max_results=args.max_results,
        )
        display(panel)

    @magic_arguments.magic_arguments()
    @magic_arguments.argument(
        "runs", nargs="+", metavar="RUN", help="Run ids, unique id prefixes or unique run names."
    )
    @magic_arguments.argument(
        "-m",
        "--metric",
        nargs="+",
        action="append",
        metavar="METRIC",
        help="Metrics to chart (default: every metric of the runs).",
    )
    @magic_arguments.argument(
        "--no-live", action="store_true", help="Do not redraw while a run is RUNNING."
    )
    @line_magic
    def mlops_compare(self, line: str = "") -> None:
        """Compare runs side by side: param diff, best run per metric, metric charts.

        Shows a param diff with an "only differences" toggle, the best run per metric (with a
        max/min choice per metric, guessed from its name), last/min/max of every metric,
        metric-over-step overlays, parallel coordinates and a scatter of any two columns.
        While a run is RUNNING the charts are redrawn every 2 seconds.

        Examples
        --------
        In [1]: %mlops_compare 3f2a9c1e 7b0d44aa

        In [2]: %mlops_compare gbm-lr0.1 gbm-lr0.3 -m val_loss val_accuracy

        In [3]: %mlops_compare {run.id} {best_run_id}
        """
        from IPython.display import display

        from jupyter_mlops.jupyter.panels_compare import ComparePanel

        args = parse(self.mlops_compare, line, "mlops_compare")
        panel = call(ComparePanel, args.runs, metrics=_flatten(args.metric), live=not args.no_live)
        display(panel)

    @magic_arguments.magic_arguments()
    @magic_arguments.argument(
        "run", metavar="RUN_ID", help="A run id, a unique id prefix or a unique run name."
    )
    @magic_arguments.argument(
        "-m",
        "--metric",
        nargs="+",
        action="append",
        metavar="METRIC",
        help="Metrics to chart (default: the first few with more than one point).",
    )
    @line_magic
    def mlops_run(self, line: str = "") -> None:
        """Show the run page: params, metrics and charts, code, git, environment, artifacts.

        One run whole: its attributes, params, every metric (last/min/max, charts of their
        histories), tags, the cell's code, git commit and diff, Python and packages, datasets,
        artifacts with previews (images, text, tables, models), its parent and child runs. The
        same page opens in a JupyterLab tab from any run link or row of the MLOps side bar.
        From Python: ``jupyter_mlops.jupyter.panels.RunPanel(run_id)``.

        Examples
        --------
        In [1]: %mlops_run 3f2a9c1e

        In [2]: %mlops_run gbm-lr0.2-depth3 -m val_loss val_accuracy

        In [3]: %mlops_run {run.id}
        """
        from IPython.display import display

        from jupyter_mlops.jupyter.panels_run import RunPanel

        args = parse(self.mlops_run, line, "mlops_run")
        display(call(RunPanel, args.run, charts=_flatten(args.metric)))


def register(ipython: Any) -> None:
    """Register :class:`PanelMagics` with an IPython shell."""
    ipython.register_magics(PanelMagics)
