"""TensorBoard event files → runs (``jupyter mlops tensorboard import LOGDIR``).

Every folder under ``LOGDIR`` that holds event files (a TensorBoard *run*) becomes a run, read
with TensorBoard's own loaders (so files written by TensorFlow, Keras, PyTorch's
``SummaryWriter`` or this package all read the same way; needs the ``tensorboard`` package):

- scalars (``simple_value`` or TF2 scalar tensors) → metric histories (tag = key, with steps and
  wall times);
- the HParams plugin's session start → params, its session end → the run's status;
- text summaries → one artifact per tag, ``tensorboard/text/<tag>.md`` (a section per step);
- other kinds (images, histograms, audio, graphs) are counted as skipped.

A TensorBoard run inside another one's folder (``SummaryWriter.add_hparams`` writes such a
sub-run) becomes a nested run of it. Runs are named after their path under ``LOGDIR`` and
remember it in the tags ``mlops.tensorboard.logdir`` and ``mlops.tensorboard.run``: importing
again finds them and adds only what is new (points, params, text), so a second import of an
unchanged folder adds nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from jupyter_mlops.errors import InvalidInput

LOGDIR_TAG = "mlops.tensorboard.logdir"
RUN_TAG = "mlops.tensorboard.run"
TEXT_FOLDER = "tensorboard/text"
_STATUSES = {1: "FINISHED", 2: "FAILED"}


@dataclass
class TensorBoardRun:
    """What one TensorBoard run holds, read from its event files."""

    path: str
    root: str = ""
    points: list[tuple[str, float, int, int]] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    status: str = "FINISHED"
    start_ms: int | None = None
    end_ms: int | None = None
    skipped: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class ImportedRun:
    """One imported TensorBoard run: the run it went into and what was added."""

    tensorboard_run: str
    run_id: str
    created: bool
    points: int
    params: int
    texts: int


@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_logdir` did, run by run, and the tags it could not import."""

    logdir: str
    experiment: str
    runs: tuple[ImportedRun, ...]
    skipped: tuple[str, ...]

    @property
    def added(self) -> int:
        """Points, params and texts added, over all runs."""
        return sum(r.points + r.params + r.texts for r in self.runs)

    def __str__(self) -> str:
        created = sum(r.created for r in self.runs)
        points = sum(r.points for r in self.runs)
        line = (
            f"{len(self.runs)} TensorBoard run{'s' * (len(self.runs) != 1)} from {self.logdir} "
            f"into experiment {self.experiment!r}: {created} new, {points} new points"
        )
        if self.skipped:
            line += f" (skipped: {', '.join(self.skipped[:5])}{' ...' * (len(self.skipped) > 5)})"
        return line


def import_logdir(logdir: str, experiment: str | None = None) -> ImportResult:
    """Import every TensorBoard run under ``logdir`` (default experiment: the folder's name)."""
    from jupyter_mlops.tracking import fluent

    root = _check_logdir(logdir)
    experiment = experiment or os.path.basename(root) or "tensorboard"
    tb_runs = [read_run(root, path) for path in find_runs(root)]
    known = _imported(fluent.find_runs(filter=f"tags.`{RUN_TAG}` IS NOT NULL"), root)
    results: list[ImportedRun] = []
    _import_tree(tb_runs, "", None, experiment, known, results)
    skipped = sorted({tag for run in tb_runs for tag in run.skipped})
    return ImportResult(root, experiment, tuple(results), tuple(skipped))


def _check_logdir(logdir: str) -> str:
    _require_tensorboard()
    path = os.path.abspath(os.path.expanduser(str(logdir)))
    if not os.path.isdir(path):
        raise InvalidInput(f"{path} is not a folder: give the folder you pass to --logdir.")
    if not find_runs(path):
        raise InvalidInput(
            f"No TensorBoard event files (events.out.tfevents.*) under {path}: is it the "
            "folder you give to tensorboard --logdir?"
        )
    return path


def _require_tensorboard() -> None:
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise InvalidInput(
            "Importing TensorBoard logs needs the tensorboard package: "
            "pip install 'jupyter-mlops[tensorboard]'."
        ) from None


def find_runs(root: str) -> list[str]:
    """Paths (relative to ``root``, ``"."`` for itself) of the folders holding event files."""
    from tensorboard.backend.event_processing import io_wrapper

    found = [os.path.relpath(p, root) for p in io_wrapper.GetLogdirSubdirectories(root)]
    return sorted(found, key=lambda p: (p != ".", p))


def read_run(root: str, relpath: str) -> TensorBoardRun:
    """Scalars, hparams and text of the TensorBoard run in ``root/relpath``."""
    from tensorboard.backend.event_processing import event_accumulator as ea

    everything = {kind: 0 for kind in ("scalars", "tensors", "images", "audio", "histograms")}
    accumulator = ea.EventAccumulator(os.path.join(root, relpath), size_guidance=everything)
    accumulator.Reload()
    run = TensorBoardRun(relpath, root)
    tags = accumulator.Tags()
    for tag in tags.get("scalars", []):  # simple_value summaries (TF1, PyTorch, this package)
        events = accumulator.Scalars(tag)
        _note_times(run, events)
        run.points.extend(
            (tag, float(e.value), int(e.step), int(round(e.wall_time * 1000))) for e in events
        )
    for tag in tags.get("tensors", []):  # TF2 summaries: the plugin says what they are
        plugin = accumulator.SummaryMetadata(tag).plugin_data.plugin_name
        events = accumulator.Tensors(tag)
        _note_times(run, events)
        if plugin == "scalars":
            run.points.extend(_scalars(tag, events))
        elif plugin == "text":
            run.texts[tag] = _text(events)
        elif plugin != "hparams":
            run.skipped.add(f"{tag} ({plugin or 'unknown'})")
    for tag, content in _plugin_content(accumulator, "hparams"):
        _hparams(run, tag, content)  # also PyTorch's, which carry no value at all
    for kind in ("images", "audio", "histograms"):
        run.skipped.update(f"{tag} ({kind})" for tag in tags.get(kind, []))
    return run


def _plugin_content(accumulator: Any, plugin: str) -> list[tuple[str, bytes]]:
    try:
        return sorted(accumulator.PluginTagToContent(plugin).items())
    except KeyError:
        return []


def _note_times(run: TensorBoardRun, events: Iterable[Any]) -> None:
    for e in events:
        ms = int(round(e.wall_time * 1000))
        run.start_ms = ms if run.start_ms is None else min(run.start_ms, ms)
        run.end_ms = ms if run.end_ms is None else max(run.end_ms, ms)


def _scalars(tag: str, events: Iterable[Any]) -> list[tuple[str, float, int, int]]:
    from tensorboard.util import tensor_util

    return [
        (
            tag,
            float(tensor_util.make_ndarray(e.tensor_proto).item()),
            int(e.step),
            int(round(e.wall_time * 1000)),
        )
        for e in events
    ]


def _text(events: Iterable[Any]) -> str:
    from tensorboard.util import tensor_util

    sections = []
    for e in events:
        values = tensor_util.make_ndarray(e.tensor_proto).reshape(-1)
        body = "\n\n".join(
            v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values
        )
        sections.append(f"## step {e.step}\n\n{body}\n")
    return "\n".join(sections)


def _hparams(run: TensorBoardRun, tag: str, content: bytes) -> None:
    from tensorboard.plugins.hparams import metadata

    if tag == metadata.SESSION_START_INFO_TAG:
        info = metadata.parse_session_start_info_plugin_data(content)
        for key, value in info.hparams.items():
            run.params[key] = _hparam_text(value)
    elif tag == metadata.SESSION_END_INFO_TAG:
        status = metadata.parse_session_end_info_plugin_data(content).status
        run.status = _STATUSES.get(status, run.status)


def _hparam_text(value: Any) -> str:
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        number = value.number_value
        return str(int(number)) if number.is_integer() else repr(number)
    if kind == "bool_value":
        return str(value.bool_value)
    return str(getattr(value, kind)) if kind else ""


# -- writing runs ---------------------------------------------------------------------------------
def _imported(docs: Iterable[dict[str, Any]], root: str) -> dict[str, str]:
    """``{tensorboard run path: run id}`` of runs already imported from ``root``."""
    return {
        d["tags"][RUN_TAG]: d["run_id"] for d in docs if d.get("tags", {}).get(LOGDIR_TAG) == root
    }


def _import_tree(
    tb_runs: list[TensorBoardRun],
    parent_path: str,
    parent_id: str | None,
    experiment: str,
    known: dict[str, str],
    results: list[ImportedRun],
) -> None:
    """Import the runs directly under ``parent_path`` (then theirs), children nested."""
    for run in tb_runs:
        if _parent_of(run.path, [r.path for r in tb_runs]) != parent_path:
            continue
        results.append(_import_one(run, parent_id, experiment, known))
        _import_tree(tb_runs, run.path, results[-1].run_id, experiment, known, results)


def _parent_of(path: str, paths: list[str]) -> str:
    """The nearest TensorBoard run folder containing ``path`` ("" for none)."""
    if path == ".":
        return ""
    candidates = [p for p in paths if p != path and (p == "." or path.startswith(p + os.sep))]
    return max(candidates, key=len, default="")


def _import_one(
    run: TensorBoardRun, parent_id: str | None, experiment: str, known: dict[str, str]
) -> ImportedRun:
    from jupyter_mlops.store import get_store

    store = get_store()
    run_id = known.get(run.path)
    created = run_id is None
    if run_id is None:
        run_id = _create(run, parent_id, experiment, store)
    doc = store.get_run(run_id)
    points = _new_points(store, run_id, doc, run.points)
    store.log_metric_points(run_id, points)
    params = {k: v for k, v in run.params.items() if k not in doc.get("params", {})}
    if params:
        store.log_params(run_id, params)
    texts = _new_texts(store, run_id, doc, run.texts)
    if created:
        times = {"start_time": run.start_ms, "end_time": run.end_ms}
        store.update_run(run_id, status=run.status, **{k: v for k, v in times.items() if v})
    return ImportedRun(run.path, run_id, created, len(points), len(params), texts)


def _create(run: TensorBoardRun, parent_id: str | None, experiment: str, store: Any) -> str:
    from jupyter_mlops.tracking import fluent

    tags = {LOGDIR_TAG: run.root, RUN_TAG: run.path, "mlops.source.type": "TENSORBOARD"}
    name = run.path if run.path != "." else os.path.basename(tags[LOGDIR_TAG]) or "tensorboard"
    active = fluent.start_run(name=name, experiment=experiment, tags=tags)
    fluent.end_run(run.status)
    if parent_id is not None:
        store.update_run(active.id, parent_run_id=parent_id)
        store.set_tags(active.id, {"mlops.parentRunId": parent_id})
    return active.id


def _new_points(
    store: Any, run_id: str, doc: dict[str, Any], points: list[tuple[str, float, int, int]]
) -> list[tuple[str, float, int, int]]:
    have: set[tuple[Any, ...]] = set()
    for key in {p[0] for p in points} & set(doc.get("metrics", {})):
        have.update((k, s, t, v) for k, v, s, t in store.get_metric_history(run_id, key))
    return [p for p in points if (p[0], p[2], p[3], p[1]) not in have]


def _new_texts(store: Any, run_id: str, doc: dict[str, Any], texts: dict[str, str]) -> int:
    from jupyter_mlops.tracking.context import put_text

    added = 0
    artifacts = doc.get("artifacts", {})
    for tag, text in texts.items():
        path = f"{TEXT_FOLDER}/{_artifact_name(tag)}.md"
        if path in artifacts and _read(store, run_id, path) == text:
            continue
        put_text(store, run_id, path, text)
        added += 1
    return added


def _artifact_name(tag: str) -> str:
    parts = [p for p in tag.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    return "/".join(parts) or "text"


def _read(store: Any, run_id: str, path: str) -> str:
    with open(store.artifact_file(run_id, path), encoding="utf-8") as fh:
        return fh.read()
