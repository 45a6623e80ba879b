"""``%mlops_register``, ``%mlops_models`` and ``%mlops_promote``: the registry from a cell."""

from __future__ import annotations

from typing import Any

from IPython.core import magic_arguments
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

from jupyter_mlops.jupyter.magic_util import call, parse, variable


@magics_class
class RegistryMagics(Magics):
    """Register, list and promote models."""

    @magic_arguments.magic_arguments()
    @magic_arguments.argument("model", help="A variable holding a model, or a runs:/ URI.")
    @magic_arguments.argument("-n", "--name", help="Registered model name (default: the variable).")
    @magic_arguments.argument("-a", "--alias", help="Also point this alias at the new version.")
    @magic_arguments.argument("-d", "--description", help="A description of the version.")
    @line_magic
    def mlops_register(self, line: str = "") -> Any:
        """Register a model (a variable or a runs:/ URI) as the next version of a name.

        A model fitted in a tracked cell is registered from the run that logged it, so its
        lineage (metrics, params, datasets, git commit, packages) comes along.

        Examples
        --------
        In [1]: %mlops_register model -n churn

        In [2]: %mlops_register model -n churn -a staging -d "gbm, 300 trees"

        In [3]: %mlops_register runs:/3f2a91c0.../model -n churn

        In [4]: best = mlops.best_trial("lr-sweep")  # a run: its logged model is registered

        In [5]: %mlops_register best -n churn
        """
        from jupyter_mlops.registry import registry

        args = parse(self.mlops_register, line, "mlops_register")
        if args.model.startswith("runs:/"):
            model, name = args.model, args.name
        else:
            model, name = variable(self.shell, args.model, "the model"), args.name or args.model
            model = _run_model(model)
        if not name:
            raise UsageError("Give the registered name with -n NAME, e.g. -n churn.")
        if args.alias:
            call(registry.check_alias, args.alias)
        version = call(registry.register_model, model, name, description=args.description)
        if args.alias:
            call(registry.set_alias, name, args.alias, version.version, reason="%mlops_register")
        alias = f" as @{args.alias}" if args.alias else ""
        print(
            f"✓ registered {name} v{version.version}{alias} · {version.uri} · "
            f"run {version.lineage.get('run_name')}"
        )
        return None

    @magic_arguments.magic_arguments()
    @magic_arguments.argument("name", nargs="?", help="Show this model in detail.")
    @line_magic
    def mlops_models(self, line: str = "") -> None:
        """Show the registry panel: every model, or one model's versions, lineage and history.

        For one model: versions with aliases and headline metrics, the lineage and validation
        reports of a chosen version, the alias history, and a promote form running the gate.

        Examples
        --------
        In [1]: %mlops_models

        In [2]: %mlops_models churn
        """
        from IPython.display import display

        from jupyter_mlops.jupyter.panels_registry import ModelsPanel

        args = parse(self.mlops_models, line, "mlops_models")
        user_ns: dict[str, Any] = self.shell.user_ns if self.shell is not None else {}
        display(call(ModelsPanel, args.name, user_ns=user_ns))

    @magic_arguments.magic_arguments()
    @magic_arguments.argument("target", metavar="NAME/VERSION", help="E.g. churn/3.")
    @magic_arguments.argument("alias", help="The alias to move, e.g. production.")
    @magic_arguments.argument(
        "--check",
        action="append",
        metavar="CHECK",
        help="'METRIC OP VALUE', e.g. 'accuracy>=0.9' or 'f1>=current-0.01'; repeatable.",
    )
    @magic_arguments.argument(
        "--threshold",
        action="append",
        metavar="THRESHOLD",
        help="A MetricThreshold against the current holder: 'f1 >= baseline + 0.01'; repeatable.",
    )
    @magic_arguments.argument(
        "--data", nargs=2, metavar=("X_VAR", "Y_VAR"), help="Evaluation data variables."
    )
    @magic_arguments.argument("--force", action="store_true", help="Move it even if checks fail.")
    @magic_arguments.argument(
        "--reason", help="Why (kept in the alias history; needed with --force)."
    )
    @line_magic
    def mlops_promote(self, line: str = "") -> Any:
        """Evaluate a version (and the alias's current holder), then move the alias if all pass.

        Checks are thresholds (``accuracy>=0.9``) or comparisons with the version holding the
        alias now (``accuracy>=current-0.01``: not worse by more than 0.01); ``--threshold``
        takes ``mlops.MetricThreshold`` bounds in text (``f1 >= baseline + 0.01``, the baseline
        being the current holder). With ``--data`` the metrics are the evaluation module's on
        that data (the same ``f1`` autolog logs as ``training_f1_score``); without it, each
        version's latest stored evaluation, over its run's metrics, is compared. The report is
        stored with the version either way.

        Examples
        --------
        In [1]: %mlops_promote churn/3 production --check 'accuracy>=0.9' --data X_test y_test

        In [2]: %mlops_promote churn/3 production --check 'f1>=current-0.01' --data X_test y_test

        In [3]: %mlops_promote churn/3 production --threshold 'f1>=baseline+0.01' --data X y

        In [4]: %mlops_promote churn/2 production --force --reason "rollback after incident 12"
        """
        from jupyter_mlops.registry import gate

        args = parse(self.mlops_promote, line, "mlops_promote")
        name, sep, version = args.target.rpartition("/")
        if not sep or not name:
            raise UsageError(
                f"Write the version as NAME/VERSION, e.g. churn/3, not {args.target!r}."
            )
        data = None
        if args.data:
            data = (
                variable(self.shell, args.data[0], "X"),
                variable(self.shell, args.data[1], "y"),
            )
        from jupyter_mlops.evaluation.thresholds import thresholds_from_json

        report = call(
            gate.promote,
            name,
            version,
            args.alias,
            checks=args.check,
            data=data,
            force=args.force,
            reason=args.reason,
            thresholds=call(thresholds_from_json, args.threshold),
        )
        verb = "forced to" if report.forced else "promoted to"
        print(f"✓ {name} v{report.version} {verb} @{args.alias}")
        print(report.summary())
        return None


def register(ipython: Any) -> None:
    """Register :class:`RegistryMagics` with an IPython shell."""
    ipython.register_magics(RegistryMagics)


def _run_model(value: Any) -> Any:
    """A run (e.g. ``mlops.best_trial(...)``) stands for the model it logged: its runs:/ URI."""
    from jupyter_mlops.tracking.fluent import Run
    from jupyter_mlops.tracking.models import DESCRIPTOR

    if not isinstance(value, Run):
        return value
    models = sorted(p.rsplit("/", 1)[0] for p in value.artifacts if p.endswith("/" + DESCRIPTOR))
    if not models:
        raise UsageError(
            f"Run {value.name!r} ({value.id[:8]}) logged no model: log one in the cell with "
            "mlops.log_model(model), or sweep with --autolog."
        )
    return f"{value.uri}/{models[0]}"
