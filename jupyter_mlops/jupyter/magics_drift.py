"""``%mlops_drift``: the drift panel for two DataFrames, or for a deployment's traffic."""

from __future__ import annotations

from typing import Any

from IPython.core import magic_arguments
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

from jupyter_mlops.jupyter.magic_util import call, parse, variable


@magics_class
class DriftMagics(Magics):
    """Drift between two samples, or over time for a deployment."""

    @magic_arguments.magic_arguments()
    @magic_arguments.argument("reference", nargs="?", help="Variable holding the reference data.")
    @magic_arguments.argument("current", nargs="?", help="Variable holding the current data.")
    @magic_arguments.argument(
        "-c", "--column", dest="columns", action="extend", nargs="+", metavar="COL",
        help="Test only these columns.",
    )  # fmt: skip
    @magic_arguments.argument("--method", help="A drift method for every column, e.g. ks or psi.")
    @magic_arguments.argument("--threshold", type=float, help="The drift threshold (all columns).")
    @magic_arguments.argument("--deployment", metavar="NAME", help="Monitor this deployment.")
    @magic_arguments.argument("--window", default="1h", help="Window length: 15m, 1h, 1d...")
    @magic_arguments.argument("--since", help="Only traffic from then on: ISO time or '2h' (ago).")
    @line_magic
    def mlops_drift(self, line: str = "") -> None:
        """Show which columns drifted between two DataFrames, or a deployment's drift over time.

        With two variables: the verdict, a per-column table (method, statistic, p-value,
        threshold), the drift scores with their thresholds, and a column picker with the
        reference and current distributions; the report is saved as "CURRENT vs REFERENCE", so
        the MLOps side bar's Drift section lists it. With ``--deployment``: each window of the
        deployment's prediction log against the reference sample stored with the model
        version, the drift over time, and an alert banner for drifted windows (the windows
        are stored; see ``jupyter_mlops.monitoring.windows``).

        Examples
        --------
        In [1]: %mlops_drift train_df live_df

        In [2]: %mlops_drift train_df live_df -c age income --method psi --threshold 0.2

        In [3]: %mlops_drift --deployment churn-prod --window 15m

        In [4]: %mlops_drift --deployment churn-prod --window 1h --since 2026-03-01T00:00
        """
        from IPython.display import display

        args = parse(self.mlops_drift, line, "mlops_drift")
        if args.deployment:
            display(self._over_time(args))
        else:
            display(self._two_samples(args))

    def _two_samples(self, args: Any) -> Any:
        from jupyter_mlops.jupyter.panels_drift import DriftPanel
        from jupyter_mlops.monitoring.drift import detect_drift

        if not (args.reference and args.current):
            raise UsageError(
                "Give two DataFrame variables, e.g. %mlops_drift train_df live_df, or a "
                "deployment: %mlops_drift --deployment NAME."
            )
        reference = variable(self.shell, args.reference, "the reference data")
        current = variable(self.shell, args.current, "the current data")
        columns = _columns(args.columns, reference, current)
        report = call(
            detect_drift, reference, current, columns, args.method, args.threshold, progress=False
        )
        # Kept in the store, so the MLOps side bar's Drift section shows it too.
        call(report.save, f"{args.current} vs {args.reference}")
        return DriftPanel(report, f"Data drift: {args.current} against {args.reference}")

    def _over_time(self, args: Any) -> Any:
        from jupyter_mlops.jupyter.panels_drift import MonitorPanel
        from jupyter_mlops.monitoring.windows import monitor

        if args.reference or args.current:
            raise UsageError(
                "Give either two variables or --deployment NAME, not both "
                "(to compare a deployment with other data, call monitor(..., reference=df))."
            )
        result = call(
            monitor, args.deployment, args.window, None, args.columns, args.method,
            args.threshold, since=args.since,
        )  # fmt: skip
        return MonitorPanel(result)


def _columns(names: list[str] | None, *frames: Any) -> list[Any] | None:
    """``-c`` names matched to the frames' columns, which need not be strings (``0``, ``1``)."""
    if not names:
        return None
    known = {str(c): c for frame in frames for c in getattr(frame, "columns", [])}
    return [known.get(name, name) for name in names]


def register(ipython: Any) -> None:
    """Register :class:`DriftMagics` with an IPython shell."""
    ipython.register_magics(DriftMagics)
