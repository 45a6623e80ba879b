"""Copy experiments, runs and registered models from one store to another: ``jupyter mlops sync``.

Any two stores: the embedded store to an MLflow server (work offline, push later), a server to the
embedded store (look at a team's runs on a plane), one folder to another. Only the :class:`Store`
interface is used, so a new backend syncs with every other one.

What is copied:

- runs, with their experiment (created by name), params, tags, datasets, every metric's whole
  history and every artifact jupyter_mlops recorded (each verified against its sha256 on the way
  out and hashed again on the way in); parents before children, ``parent_run_id`` mapped;
- registered models, their versions (same numbers, pointing at the copied runs), aliases and the
  alias history.

Syncing is idempotent: every run copied carries the id it had at its origin in the
``mlops.sync.origin_run_id`` tag (kept across further syncs), and a run is copied only when the
destination holds neither it nor a copy of it, so syncing twice, or back and forth, copies nothing
new. A version whose number is already taken by another model version at the destination is left
out and reported, never overwritten.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from jupyter_mlops.store.base import Store, StoreView, iter_batches

ORIGIN_TAG = "mlops.sync.origin_run_id"
REGISTRY_TABLES = ("registered_models", "model_versions", "aliases", "alias_history")


@dataclass
class SyncReport:
    """What one sync copied, and what it left out (with why)."""

    runs: int = 0
    runs_present: int = 0
    metric_points: int = 0
    artifacts: int = 0
    models: int = 0
    versions: int = 0
    aliases: int = 0
    alias_moves: int = 0
    left_out: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for people."""
        text = (
            f"copied {self.runs} runs ({self.metric_points:,} metric points, "
            f"{self.artifacts} artifacts), {self.models} models, {self.versions} versions, "
            f"{self.aliases} aliases; {self.runs_present} runs were already there"
        )
        if self.left_out:
            text += f"; left out {len(self.left_out)}: " + "; ".join(self.left_out[:5])
        return text


def sync(
    source: Store,
    dest: Store,
    experiments: Iterable[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> SyncReport:
    """Copy what ``dest`` lacks of ``source``'s runs (optionally only some experiments) and models.

    Parameters
    ----------
    source, dest : Store
        Any two stores (see :func:`jupyter_mlops.store.get_store`).
    experiments : iterable of str, optional
        Only runs of these experiments (models are always synced, for the runs that exist).
    progress : callable, optional
        Called with a line of text after each run.

    Returns
    -------
    SyncReport
    """
    report = SyncReport()
    wanted = None if experiments is None else set(experiments)
    run_map = _copy_runs(source, dest, wanted, report, progress or (lambda _: None))
    _copy_registry(source, dest, run_map, report, only_synced_runs=wanted is not None)
    return report


def _origin(run: dict[str, Any]) -> str:
    return str((run.get("tags") or {}).get(ORIGIN_TAG) or run["run_id"])


def _copy_runs(
    source: Store,
    dest: Store,
    wanted: set[str] | None,
    report: SyncReport,
    progress: Callable[[str], None],
) -> dict[str, str]:
    """Copy the runs ``dest`` lacks; ``{source run id: dest run id}`` for every run both hold."""
    present: dict[str, str] = {}  # a run's id or origin -> its id at dest
    for run in dest.list_runs():
        present[run["run_id"]] = run["run_id"]
        present.setdefault(_origin(run), run["run_id"])
    runs = [r for r in source.list_runs() if wanted is None or r.get("experiment") in wanted]
    run_map: dict[str, str] = {}
    for run in _parents_first(runs):
        known = present.get(run["run_id"]) or present.get(_origin(run))
        if known is not None:
            run_map[run["run_id"]] = known
            report.runs_present += 1
            continue
        copied = _copy_run(source, dest, run, run_map, report)
        run_map[run["run_id"]] = present[_origin(run)] = copied
        report.runs += 1
        progress(f"{run.get('experiment')}/{run.get('run_name')} -> {copied}")
    return run_map


def _parents_first(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_id = {r["run_id"]: r for r in runs}

    def depth(run: dict[str, Any]) -> int:
        level, seen = 0, set()
        while run.get("parent_run_id") in by_id and run["run_id"] not in seen:
            seen.add(run["run_id"])
            run, level = by_id[run["parent_run_id"]], level + 1
        return level

    return sorted(runs, key=lambda r: (depth(r), r.get("start_time") or 0))


def _copy_run(
    source: Store,
    dest: Store,
    run: dict[str, Any],
    run_map: dict[str, str],
    report: SyncReport,
) -> str:
    experiment = dest.get_or_create_experiment(run.get("experiment") or "Default")
    parent = run.get("parent_run_id")
    tags = {**(run.get("tags") or {}), ORIGIN_TAG: _origin(run)}
    if parent:
        tags["mlops.parentRunId"] = run_map.get(parent, parent)
    doc = {
        **{k: v for k, v in run.items() if k not in ("metrics", "datasets", "artifacts")},
        "experiment_id": experiment["experiment_id"],
        "experiment": experiment["name"],
        "parent_run_id": run_map.get(parent, parent) if parent else None,
        "tags": tags,
        "metrics": {},
        "datasets": [],
        "artifacts": {},
    }
    new_id = str(dest.create_run(doc)["run_id"])
    for key in sorted(run.get("metrics") or {}):
        points = source.get_metric_history(run["run_id"], key)
        for batch in iter_batches(points, dest.metric_batch):
            dest.log_metric_points(new_id, batch)
        report.metric_points += len(points)
    for dataset in run.get("datasets") or []:
        dest.add_dataset(new_id, dataset)
    for path in sorted(run.get("artifacts") or {}):
        dest.put_artifact(new_id, path, source.artifact_file(run["run_id"], path))
        report.artifacts += 1
    return new_id


def _copy_registry(
    source: Store,
    dest: Store,
    run_map: dict[str, str],
    report: SyncReport,
    only_synced_runs: bool,
) -> None:
    """Models, versions, aliases and moves.

    With ``only_synced_runs`` (``--experiment``), only models with a version from a synced run.
    """
    theirs = {table: source.documents(table) for table in REGISTRY_TABLES}
    for name in sorted(theirs["registered_models"]):
        versions = sorted(
            (d for d in theirs["model_versions"].values() if d["name"] == name),
            key=lambda d: d["version"],
        )
        if only_synced_runs and not any(v.get("run_id") in run_map for v in versions):
            continue
        aliases = [a for a in theirs["aliases"].values() if a["name"] == name]
        moves = {k: m for k, m in theirs["alias_history"].items() if m["name"] == name}
        model = theirs["registered_models"][name]
        dest.transact(
            functools.partial(_copy_model, model, versions, aliases, moves, run_map, report)
        )


def _copy_model(
    model: dict[str, Any],
    versions: list[dict[str, Any]],
    aliases: list[dict[str, Any]],
    moves: dict[str, dict[str, Any]],
    run_map: dict[str, str],
    report: SyncReport,
    txn: StoreView,
) -> None:
    name = model["name"]
    if txn.get("registered_models", name) is None:
        txn.put("registered_models", name, dict(model))
        report.models += 1
    mine = {d["version"]: d for d in txn.table("model_versions").values() if d["name"] == name}
    copied = set(mine)
    for version in versions:
        number = version["version"]
        if number in mine:
            if mine[number].get("sha256") != version.get("sha256"):
                report.left_out.append(f"{name} v{number}: the destination's v{number} differs")
            continue
        if version.get("run_id") not in run_map:
            report.left_out.append(
                f"{name} v{number}: its run {version.get('run_id')} was not synced"
            )
            break  # versions are numbered in order: a gap would renumber the rest
        if number != max(copied, default=0) + 1:
            report.left_out.append(f"{name} v{number}: the destination has no v{number - 1}")
            break
        run_id = run_map[version["run_id"]]
        path = version.get("artifact_path") or "model"
        doc = {**version, "run_id": run_id, "source": f"runs:/{run_id}/{path}"}
        doc["lineage"] = {**(version.get("lineage") or {}), "run_id": run_id}
        txn.put("model_versions", f"{name}/{number}", doc)
        copied.add(number)
        report.versions += 1
    for alias in aliases:
        key = f"{name}@{alias['alias']}"
        current = txn.get("aliases", key)
        if alias["version"] in copied and (current or {}).get("version") != alias["version"]:
            txn.put("aliases", key, dict(alias))
            report.aliases += 1
    have = txn.table("alias_history")
    for key, move in moves.items():
        if key not in have:
            txn.put("alias_history", key, dict(move))
            report.alias_moves += 1
