"""``%mlops_deploy`` and ``%mlops_deployments``: local model servers from a cell."""

from __future__ import annotations

from typing import Any

from IPython.core import magic_arguments
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

from jupyter_mlops.jupyter.magic_util import call, parse


@magics_class
class DeployMagics(Magics):
    """Deploy models as local REST services and watch them."""

    @magic_arguments.magic_arguments()
    @magic_arguments.argument(
        "model_uri", nargs="?", help="models:/NAME@ALIAS, models:/NAME/N, runs:/..."
    )
    @magic_arguments.argument("-n", "--name", help="Deployment name (default: from the model).")
    @magic_arguments.argument("-p", "--port", type=int, help="Port (default: a free one).")
    @magic_arguments.argument("--stop", metavar="NAME", help="Stop the deployment NAME.")
    @magic_arguments.argument(
        "--target",
        choices=["local", "k8s"],
        default="local",
        help="local: start a server now; k8s: write a Dockerfile and manifests (needs -o).",
    )
    @magic_arguments.argument("-o", "--output", help="Folder for --target k8s.")
    @magic_arguments.argument(
        "--on-violation", choices=["count", "reject"], default="count",
        help="Requests breaking the version's data contract: count them, or reject with 400.",
    )  # fmt: skip
    @line_magic
    def mlops_deploy(self, line: str = "") -> Any:
        """Serve a model over HTTP (MLflow's scoring protocol), or stop a deployment.

        The server is its own process (it outlives kernel restarts), binds to 127.0.0.1 and is
        recorded in the store. A ``models:/NAME@ALIAS`` deployment follows the alias: when the
        alias moves, the server loads the new version without dropping requests. Every request
        is checked against the version's data contract; ``--on-violation reject`` answers the
        ones that break it with 400 naming the column and the rule.

        Examples
        --------
        In [1]: %mlops_deploy models:/churn@production

        In [2]: %mlops_deploy models:/churn/3 -n churn-v3 -p 5001

        In [3]: %mlops_deploy --stop churn-production

        In [4]: %mlops_deploy models:/churn@production --target k8s -o k8s/

        In [5]: %mlops_deploy models:/churn@production --on-violation reject
        """
        from jupyter_mlops.serving import deploy

        args = parse(self.mlops_deploy, line, "mlops_deploy")
        if args.stop:
            if args.model_uri:
                raise UsageError("--stop NAME takes no model URI.")
            call(deploy.stop_deployment, args.stop)
            print(f"✓ stopped {args.stop}")
            return None
        if not args.model_uri:
            raise UsageError("Give a model URI, e.g. %mlops_deploy models:/churn@production.")
        if args.target == "k8s":
            return self._k8s(args)
        found = call(
            deploy.deploy, args.model_uri, name=args.name, port=args.port,
            on_violation=args.on_violation,
        )  # fmt: skip
        print(
            f"✓ {found.name} serving {found.model_uri} (v{found.version}) at {found.url} · "
            f"POST {found.url}/invocations"
        )
        return None

    def _k8s(self, args: Any) -> None:
        from jupyter_mlops.serving.k8s import export_k8s

        if not args.output:
            raise UsageError("--target k8s writes files: give the folder with -o DIR.")
        files = call(export_k8s, args.model_uri, args.output, name=args.name)
        print(
            f"✓ wrote {len(files)} files to {args.output}: "
            + ", ".join(f.split("/")[-1] for f in files)
        )

    @magic_arguments.magic_arguments()
    @magic_arguments.argument("--no-live", action="store_true", help="Do not refresh.")
    @line_magic
    def mlops_deployments(self, line: str = "") -> None:
        """Show live deployment status: health, version, uptime, requests, errors, latency.

        The panel refreshes every few seconds while it is open; a killed server shows as down
        at the next refresh. Stop a deployment from the panel.

        Examples
        --------
        In [1]: %mlops_deployments
        """
        from IPython.display import display

        from jupyter_mlops.jupyter.panels_deploy import DeploymentsPanel

        args = parse(self.mlops_deployments, line, "mlops_deployments")
        display(call(DeploymentsPanel, live=not args.no_live))


def register(ipython: Any) -> None:
    """Register :class:`DeployMagics` with an IPython shell."""
    ipython.register_magics(DeployMagics)
