"""``jupyter mlops ...``: the command line, a thin adapter over the core.

Each subcommand parses its arguments, calls the core and prints the result. Our own errors end
the command with one line on stderr and exit code 2; nothing prints a traceback.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

from jupyter_mlops.errors import MlopsError

Command = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``jupyter-mlops`` (``jupyter mlops``)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        return args.handler(args)
    except MlopsError as e:
        print(f"jupyter mlops {args.command}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jupyter mlops",
        description="MLOps from inside the notebook: runs, models, deployments, drift, pipelines.",
    )
    parser.add_argument("--store", help="store folder or URI (default: $JUPYTER_MLOPS_STORE)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    runs = sub.add_parser("runs", help="list runs as a table")
    runs.add_argument("-e", "--experiment", action="append", help="experiment name (repeatable)")
    runs.add_argument(
        "-f", "--filter", help="e.g. \"metrics.accuracy > 0.9 and params.model = 'rf'\""
    )
    runs.add_argument("-o", "--order-by", action="append", help="e.g. 'metrics.accuracy DESC'")
    runs.add_argument(
        "-n", "--max-results", "--limit", type=int, default=50, help="at most N rows (50)"
    )
    runs.add_argument("--columns", help="comma-separated columns to show (default: a summary)")
    runs.set_defaults(handler=_runs)

    models = sub.add_parser("models", help="registered models, or one model's versions")
    models.add_argument("name", nargs="?", help="show this model's versions and alias history")
    models.set_defaults(handler=_models)

    drift = sub.add_parser(
        "drift",
        help="compare two data files (CSV or Parquet); exit code 1 when they drifted; "
        "--list: the saved drift reports",
    )
    drift.add_argument("reference", nargs="?", help="the reference data file")
    drift.add_argument("current", nargs="?", help="the current data file")
    drift.add_argument(
        "--list", action="store_true", help="list the saved drift reports (of --name) instead"
    )
    drift.add_argument("--name", help="with --list: only the reports saved under NAME")
    drift.add_argument("-c", "--column", action="append", help="only these columns (repeatable)")
    drift.add_argument("--method", help="one method for every column, e.g. ks or psi")
    drift.add_argument("--threshold", type=float, help="one threshold for every column")
    drift.add_argument("--save", metavar="NAME", help="store the report under NAME")
    drift.set_defaults(handler=_drift)

    serve = sub.add_parser("serve", help="serve a model over HTTP (MLflow's scoring protocol)")
    serve.add_argument(
        "model_uri", help="models:/NAME@ALIAS, models:/NAME/VERSION, runs:/ID/PATH or a folder"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    serve.add_argument("--port", type=int, default=5000, help="port (5000)")
    serve.add_argument("--name", help="deployment name: logs predictions under it")
    serve.add_argument(
        "--on-violation",
        choices=("count", "reject"),
        default="count",
        help="requests breaking the model's data contract: count them (default) or answer 400",
    )
    serve.set_defaults(handler=_serve)

    server = sub.add_parser(
        "server",
        help="serve the store over MLflow's tracking REST API (for mlflow clients)",
        description="Serve the store to MLflow clients: set MLFLOW_TRACKING_URI=http://HOST:PORT "
        "and mlflow.start_run/log_*/search_runs/log_model/register_model work on it.",
    )
    server.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    server.add_argument("--port", type=int, default=5000, help="port (5000)")
    server.set_defaults(handler=_server)

    deployments = sub.add_parser(
        "deployments",
        help="local deployments and their live status; `deployments stop NAME` stops one",
    )
    deployments.set_defaults(handler=_deployments)
    verbs = deployments.add_subparsers(dest="verb", metavar="VERB")
    verbs.add_parser("list", help="every deployment with its live status (the default)")
    stop = verbs.add_parser("stop", help="stop a deployment's server and mark it stopped")
    stop.add_argument("name", help="the deployment's name")

    k8s = sub.add_parser("k8s", help="write a Dockerfile and Kubernetes manifests for a model")
    k8s.add_argument("model_uri")
    k8s.add_argument("-o", "--output", required=True, help="folder to write into")
    k8s.add_argument("--name", help="Kubernetes name (default: from the model)")
    k8s.add_argument("--replicas", type=int, default=2)
    k8s.add_argument("--image", help="image name to put in the Deployment")
    k8s.set_defaults(handler=_k8s)

    sync = sub.add_parser(
        "sync",
        help="copy runs (with metric histories and artifacts) and models between two stores",
        description="Copy what DEST lacks of SOURCE: experiments, runs with their metric "
        "histories, datasets and artifacts, registered models, versions, aliases and alias "
        "history. Idempotent: syncing again copies nothing new. A store is a folder, file:// "
        "URI or mlflow+<tracking URI> (e.g. mlflow+http://127.0.0.1:5000).",
    )
    sync.add_argument("source", help="the store to copy from")
    sync.add_argument("dest", help="the store to copy into")
    sync.add_argument("-e", "--experiment", action="append", help="only this experiment's runs")
    sync.add_argument("-q", "--quiet", action="store_true", help="no line per run copied")
    sync.set_defaults(handler=_sync)

    from jupyter_mlops.pipelines.cli import add_commands

    add_commands(sub)
    from jupyter_mlops.store.cli import add_commands as add_store_commands

    add_store_commands(sub)

    from jupyter_mlops.tensorboard.cli import add_commands as add_tensorboard

    add_tensorboard(sub)

    demo = sub.add_parser("demo", help="run examples/quickstart.ipynb headless and show the result")
    demo.add_argument("--notebook", help="another notebook to run instead of the quickstart")
    demo.add_argument(
        "--output",
        default=None,
        help="where to save the executed notebook (default: a temporary folder, not the cwd)",
    )
    demo.set_defaults(handler=_demo)
    return parser


def _use_store(args: argparse.Namespace) -> None:
    if args.store:
        from jupyter_mlops.store import set_tracking_uri

        set_tracking_uri(args.store)
        os.environ["JUPYTER_MLOPS_STORE"] = args.store  # kernels started from here use it too


def _runs(args: argparse.Namespace) -> int:
    from jupyter_mlops.tracking.fluent import search_runs

    _use_store(args)
    frame = search_runs(args.experiment, args.filter, args.order_by, args.max_results)
    if frame.empty:
        print("No runs match." if args.filter else "No runs yet.")
        return 0
    print(_table(frame, args.columns))
    return 0


def _sync(args: argparse.Namespace) -> int:
    from jupyter_mlops.errors import InvalidInput
    from jupyter_mlops.store import get_store
    from jupyter_mlops.store.sync import sync

    source, dest = get_store(args.source), get_store(args.dest)
    if source.uri == dest.uri:
        raise InvalidInput(f"SOURCE and DEST are the same store ({source.uri}): nothing to copy.")
    print(f"syncing {source.uri} -> {dest.uri}")
    report = sync(source, dest, args.experiment, progress=None if args.quiet else print)
    print(report.summary())
    return 0


def _table(frame: Any, columns: str | None) -> str:
    if columns:
        wanted = [c.strip() for c in columns.split(",") if c.strip()]
        unknown = [c for c in wanted if c not in frame.columns]
        if unknown:
            from jupyter_mlops.errors import InvalidInput

            raise InvalidInput(
                f"Unknown column {unknown[0]!r}; columns: {', '.join(frame.columns)}"
            )
    else:
        metrics = [c for c in frame.columns if c.startswith("metrics.")][:4]
        params = [c for c in frame.columns if c.startswith("params.")][:3]
        wanted = ["run_id", "experiment", "run_name", "status", "start_time", *params, *metrics]
    shown = frame[wanted].copy()
    if "run_id" in shown:
        shown["run_id"] = shown["run_id"].str[:8]
    if "start_time" in shown:
        shown["start_time"] = shown["start_time"].dt.strftime("%Y-%m-%d %H:%M:%S")
    return shown.to_string(index=False, float_format=lambda v: f"{v:.4g}")


def _models(args: argparse.Namespace) -> int:
    from jupyter_mlops.registry import registry

    _use_store(args)
    if args.name is None:
        found = registry.search_models()
        if not found:
            print("No registered models yet. Register one with %mlops_register MODEL -n NAME.")
        rows = [
            (
                m.name,
                str(m.latest_version or ""),
                str(len(m.versions)),
                ", ".join(f"{a}→v{v}" for a, v in sorted(m.aliases.items())),
            )
            for m in found
        ]
        _print_rows(("name", "latest", "versions", "aliases"), rows)
        return 0
    versions = registry.list_versions(args.name)
    _print_rows(
        ("version", "status", "aliases", "run", "created"),
        [
            (
                f"v{v.version}",
                v.status,
                ", ".join(v.aliases),
                str(v.lineage.get("run_name") or ""),
                _when(v.creation_time),
            )
            for v in versions
        ],
    )
    moves = registry.alias_history(args.name)
    if moves:
        print("\nalias history:")
        _print_rows(
            ("when", "alias", "from", "to", "who", "why"),
            [
                (
                    _when(m["time"]),
                    m["alias"],
                    _v(m["from_version"]),
                    _v(m["to_version"]),
                    m["user"],
                    m["reason"],
                )
                for m in moves
            ],
        )
    return 0


def _drift(args: argparse.Namespace) -> int:
    from jupyter_mlops.errors import InvalidInput
    from jupyter_mlops.monitoring import detect_drift

    _use_store(args)
    if args.list:
        return _drift_reports(args.name)
    if not args.reference or not args.current:
        raise InvalidInput(
            "drift compares two files: jupyter mlops drift REFERENCE CURRENT (or --list to "
            "see the saved reports)."
        )
    report = detect_drift(
        _read_table(args.reference),
        _read_table(args.current),
        columns=args.column,
        method=args.method,
        threshold=args.threshold,
    )
    verdict = "DRIFT" if report.dataset_drift else "no drift"
    print(
        f"{verdict}: {report.n_drifted} of {report.n_tested} columns drifted "
        f"({report.drift_share:.0%})"
    )
    shown = report.columns[
        ["column", "kind", "method", "statistic", "p_value", "threshold", "drifted", "status"]
    ]
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.save:
        print(f"saved as {report.save(args.save)}")
    return 1 if report.dataset_drift else 0


def _drift_reports(name: str | None) -> int:
    from jupyter_mlops.monitoring.report import list_drift_reports

    found = list_drift_reports(name)
    if not found:
        print("No saved drift reports. Save one with `jupyter mlops drift REF CUR --save NAME`.")
        return 0
    rows = [
        (r.report_id[:12], r.name or "", r.created_at[:19], f"{r.n_drifted}/{r.n_tested}")
        for r in found
    ]
    _print_rows(("report", "name", "created", "drifted"), rows)
    return 0


def _read_table(path: str) -> Any:
    import pandas as pd

    from jupyter_mlops.errors import InvalidInput

    try:
        if path.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except (OSError, ValueError, ImportError) as e:
        raise InvalidInput(f"Cannot read {path}: {e}") from e


def _print_rows(header: tuple[str, ...], rows: Sequence[tuple[Any, ...]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _when(ms: Any) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S") if ms else ""


def _v(version: Any) -> str:
    return "—" if version is None else f"v{version}"


def _serve(args: argparse.Namespace) -> int:
    from jupyter_mlops.serving import deploy
    from jupyter_mlops.serving.http import serve

    _use_store(args)
    # `--name X` started by hand is a deployment too: listed, and marked stopped at exit.
    mine = bool(args.name) and deploy.register_foreground(
        args.name, args.model_uri, args.host, args.port
    )
    try:
        serve(
            args.model_uri, host=args.host, port=args.port, name=args.name,
            on_violation=args.on_violation,
        )  # fmt: skip
    finally:
        if mine:
            deploy.mark_stopped(args.name)
    return 0


def _server(args: argparse.Namespace) -> int:
    from jupyter_mlops.mlflow_api.server import serve

    _use_store(args)
    serve(host=args.host, port=args.port)
    return 0


def _deployments(args: argparse.Namespace) -> int:
    from jupyter_mlops.serving.deploy import list_deployments, stop_deployment

    _use_store(args)
    if getattr(args, "verb", None) == "stop":
        stopped = stop_deployment(args.name)
        print(f"Stopped deployment {stopped.name} ({stopped.url}): {stopped.requests} requests.")
        return 0
    found = list_deployments()
    if not found:
        print("No deployments yet. Start one with %mlops_deploy or `jupyter mlops serve`.")
        return 0
    rows = [
        (
            d.name,
            d.status,
            d.model_uri,
            str(d.version or ""),
            d.url,
            str(d.requests),
            _ms(d.p50_ms),
            _ms(d.p95_ms),
        )
        for d in found
    ]
    _print_rows(("name", "status", "model", "version", "url", "requests", "p50", "p95"), rows)
    return 0


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}ms"


def _k8s(args: argparse.Namespace) -> int:
    from jupyter_mlops.serving.k8s import export_k8s

    _use_store(args)
    for path in export_k8s(
        args.model_uri, args.output, name=args.name, replicas=args.replicas, image=args.image
    ):
        print(path)
    return 0


# -- demo -------------------------------------------------------------------------------------
def _demo(args: argparse.Namespace) -> int:
    from jupyter_mlops.store import get_tracking_uri
    from jupyter_mlops.tracking.fluent import search_runs

    _use_store(args)
    notebook = args.notebook or quickstart_path()
    print(f"Running {notebook} headless (store: {get_tracking_uri()}) ...", flush=True)
    started = _now_ms()
    output = run_notebook(notebook, args.output or _demo_output())
    frame = search_runs(
        filter=f"attributes.start_time >= {started}", order_by=["attributes.start_time ASC"]
    )
    print(f"\nRecorded {len(frame)} run(s):")
    for line in _summaries(frame):
        print(f"  {line}")
    print(
        f"\nExecuted notebook saved to {output}.\n"
        "See it in JupyterLab: `jupyter lab` and open the MLOps sidebar (left), or in a notebook:\n"
        "  %load_ext jupyter_mlops\n  %mlops_runs\n"
        "From a terminal: `jupyter mlops runs`."
    )
    return 0


def _demo_output() -> str:
    """Where the demo saves its executed notebook unless told: never the current folder."""
    import tempfile

    folder = tempfile.mkdtemp(prefix="jupyter-mlops-demo-")
    return os.path.join(folder, "quickstart-output.ipynb")


def _summaries(frame: Any) -> list[str]:
    """One line per run: name, id, status, duration, headline metrics, counts."""
    lines = []
    for _, row in frame.iterrows():
        metrics = {
            c[8:]: row[c]
            for c in frame.columns
            if c.startswith("metrics.")
            and row[c] == row[c]
            and not c.startswith("metrics.training_")
            and c != "metrics.duration_s"
        }
        shown = ", ".join(f"{k}={v:.3f}" for k, v in list(metrics.items())[:3])
        params = sum(1 for c in frame.columns if c.startswith("params.") and row[c] == row[c])
        duration = "" if row["duration_s"] != row["duration_s"] else f", {row['duration_s']:.1f} s"
        lines.append(
            f"{row['run_name']} ({row['run_id'][:8]}, {row['status']}{duration}): "
            f"{shown or 'no metrics'}; {params} params"
        )
    return lines


def quickstart_path() -> str:
    """The shipped quickstart notebook (in the wheel, or in a source checkout)."""
    here = os.path.dirname(os.path.abspath(__file__))
    for candidate in (
        os.path.join(here, "examples", "quickstart.ipynb"),
        os.path.join(os.path.dirname(here), "examples", "quickstart.ipynb"),
    ):
        if os.path.exists(candidate):
            return candidate
    from jupyter_mlops.errors import NotFound

    raise NotFound("The quickstart notebook is missing from this installation; reinstall it.")


def run_notebook(path: str, output: str, timeout: int = 600) -> str:
    """Execute a copy of ``path`` in a fresh kernel and save it as ``output``.

    The original is never modified. The kernel records the notebook's own path.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from jupyter_mlops.errors import InvalidInput

    try:
        nb = nbformat.read(path, as_version=4)
    except (OSError, ValueError) as e:
        raise InvalidInput(f"Cannot read notebook {path}: {e}") from e
    os.environ["JUPYTER_MLOPS_NOTEBOOK"] = os.path.abspath(path)
    from jupyter_client.manager import KernelManager

    # IPC transport: local sockets (in a private folder), and no "running over TCP without
    # encryption" warning.
    sockets = tempfile.mkdtemp(prefix="jupyter-mlops-kernel-")
    manager = KernelManager(
        kernel_name="python3", transport="ipc", ip=os.path.join(sockets, "kernel")
    )
    client = NotebookClient(
        nb, km=manager, timeout=timeout, resources={"metadata": {"path": os.getcwd()}}
    )
    try:
        client.execute()
    except CellExecutionError as e:
        nbformat.write(nb, output)
        raise InvalidInput(f"A cell failed; see {output}.\n{str(e).splitlines()[-1]}") from e
    finally:
        os.environ.pop("JUPYTER_MLOPS_NOTEBOOK", None)
        if manager.has_kernel:
            manager.shutdown_kernel()
        shutil.rmtree(sockets, ignore_errors=True)
    nbformat.write(nb, output)
    return os.path.abspath(output)


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)


if __name__ == "__main__":
    sys.exit(main())
