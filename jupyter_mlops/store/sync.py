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
out and reported, never overwritten. The registry is copied through the stores' named
operations (``create_registered_model``, ``create_model_version`` with its number,
``restore_alias``, ``record_alias_move``), so each backend writes it its own way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from jupyter_mlops.entities.registry import ModelVersionDoc
from jupyter_mlops.store.base import Store, iter_batches

ORIGIN_TAG = "mlops.sync.origin_run_id"


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
    """Models, versions, aliases and moves, through the stores' registry operations.

    With ``only_synced_runs`` (``--experiment``), only models with a version from a synced run.
    """
    versions, aliases = source.list_model_versions(), source.list_aliases()
    moves = source.list_alias_moves()
    for model in source.list_registered_models():
        theirs = [v for v in versions if v.name == model.name]
        if only_synced_runs and not any(v.run_id in run_map for v in theirs):
            continue
        if dest.create_registered_model(model):
            report.models += 1
        copied = _copy_versions(dest, model.name, theirs, run_map, report)
        for alias in (a for a in aliases if a.name == model.name):
            if alias.version in copied and dest.restore_alias(alias):
                report.aliases += 1
        for move in (m for m in moves if m.name == model.name):
            report.alias_moves += dest.record_alias_move(move)


def _copy_versions(
    dest: Store,
    name: str,
    versions: list[ModelVersionDoc],
    run_map: dict[str, str],
    report: SyncReport,
) -> set[int]:
    """Copy the versions ``dest`` lacks, in order; the numbers ``dest`` holds afterwards."""
    mine = {v.version: v for v in dest.list_model_versions(name)}
    copied = set(mine)
    for version in versions:
        number = version.version
        if number in mine:
            if mine[number].sha256 != version.sha256:
                report.left_out.append(f"{name} v{number}: the destination's v{number} differs")
            continue
        if version.run_id not in run_map:
            report.left_out.append(f"{name} v{number}: its run {version.run_id} was not synced")
            break  # versions are numbered in order: a gap would renumber the rest
        if number != max(copied, default=0) + 1:
            report.left_out.append(f"{name} v{number}: the destination has no v{number - 1}")
            break
        run_id = run_map[version.run_id]
        doc = replace(
            version,
            run_id=run_id,
            source=f"runs:/{run_id}/{version.artifact_path or 'model'}",
            lineage={**version.lineage, "run_id": run_id},
        )
        dest.create_model_version(doc, number=number)
        copied.add(number)
        report.versions += 1
    return copied
