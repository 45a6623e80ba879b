"""The compare panel's training sections: fit flags and system metrics.

The comparison panel (``%mlops_compare``) shows, when its runs have them:

- **Fit**: a line per run with a training and a validation curve, its overfitting or
  underfitting flag (:mod:`jupyter_mlops.viz.fit_diagnosis`, the rule in
  ``docs/tensorboard.md``) or "no flag";
- **System metrics**: the ``system/*`` metrics (``start_run(system_metrics=True)``,
  ``%%mlops_track --system-metrics``), per run their mean and maximum, and their histories as
  a chart (drawn by the panel like its other charts).

These functions build the HTML and the figure; the panel lays them out. Everything user-written
(run names, metric keys, messages) is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jupyter_mlops.jupyter.panels import esc, heading, html_table

SYSTEM_PREFIX = "system/"
_WRAP = "white-space: normal; max-width: 60em"  # a flag is a sentence: wrap it, never cut it
MAX_SYSTEM_CHARTS = 6
_UNITS = (("_percentage", "%"), ("_megabytes", "MB"))
CHART_ORDER = (
    "system/cpu_utilization_percentage",
    "system/system_memory_usage_megabytes",
    "system/gpu_0_utilization_percentage",
    "system/gpu_0_memory_usage_megabytes",
    "system/disk_read_megabytes",
    "system/network_receive_megabytes",
)


def is_system(key: str) -> bool:
    """Whether a metric key is a system metric."""
    return key.startswith(SYSTEM_PREFIX)


def training_metrics(keys: Sequence[str]) -> list[str]:
    """``keys`` without the system metrics (they have a section of their own)."""
    return [k for k in keys if not is_system(k)]


def fit_html(
    runs: Sequence[dict[str, Any]], labels: Mapping[str, str], flags: Mapping[str, list[Any]]
) -> str:
    """The Fit section (heading included), or ``""`` when no run has train/val curves.

    ``flags`` are :func:`jupyter_mlops.viz.fit_diagnosis.diagnose_runs`'s, by run id.
    """
    from jupyter_mlops.viz.fit_diagnosis import metric_pairs

    paired = [r for r in runs if metric_pairs(list(r.get("metrics") or {}))]
    if not paired:
        return ""
    rows = []
    for run in paired:
        label = f"<td><b>{esc(labels.get(run['run_id'], run['run_id'][:8]))}</b></td>"
        found = flags.get(run["run_id"], [])
        if not found:
            rows.append(
                [label, '<td class="jp-mlops-note">no overfitting or underfitting flag</td>']
            )
        for flag in found:
            text = f"⚠ {flag.message}"
            cell = f'<td class="jp-mlops-fit-{flag.kind}" style="{_WRAP}"><b>{esc(text)}</b></td>'
            rows.append([label, cell])
    return heading("Fit (training vs validation)") + html_table(
        ["<th>run</th>", "<th>flag</th>"], rows
    )


def system_keys(runs: Sequence[dict[str, Any]]) -> list[str]:
    """The system metrics any of ``runs`` logged, the usual ones first."""
    keys = {k for run in runs for k in (run.get("metrics") or {}) if is_system(k)}
    order = {key: i for i, key in enumerate(CHART_ORDER)}
    return sorted(keys, key=lambda k: (order.get(k, len(order)), k))


def chart_keys(keys: Sequence[str]) -> list[str]:
    """The system metrics worth a chart (CPU, memory, GPU, I/O), at most six."""
    return [k for k in keys if k in CHART_ORDER][:MAX_SYSTEM_CHARTS] or list(
        keys[:MAX_SYSTEM_CHARTS]
    )


def system_table(
    runs: Sequence[dict[str, Any]],
    labels: Mapping[str, str],
    histories: Mapping[str, Mapping[str, tuple[Any, Any]]],
) -> str:
    """Per run, the mean and maximum of each system metric (heading included; ``""``: none)."""
    keys = system_keys(runs)
    if not keys:
        return ""
    head = ["<th>run</th>"] + [f'<th colspan="2">{esc(_short(k))}</th>' for k in keys]
    head2 = ["<th></th>"] + ["<th>mean</th><th>max</th>" for _ in keys]
    rows = []
    for run in runs:
        cells = [f"<td><b>{esc(labels.get(run['run_id'], run['run_id'][:8]))}</b></td>"]
        for key in keys:
            values = _values(histories.get(run["run_id"], {}).get(key))
            if values:
                cells.append(f"<td>{_number(sum(values) / len(values))}</td>")
                cells.append(f"<td>{_number(max(values))}</td>")
            else:
                cells.append('<td colspan="2" class="jp-mlops-note">—</td>')
        rows.append(cells)
    return heading("System metrics") + html_table(head, rows, head2)


def system_figure(
    runs: Sequence[dict[str, Any]],
    labels: Mapping[str, str],
    histories: Mapping[str, Mapping[str, tuple[Any, Any]]],
) -> Any:
    """The histories of the main system metrics, one axes each, a line per run (or ``None``)."""
    from jupyter_mlops.viz import charts

    keys = chart_keys(system_keys(runs))
    if not keys:
        return None
    by_label = {
        labels.get(r["run_id"], r["run_id"][:8]): histories.get(r["run_id"], {}) for r in runs
    }
    return charts.metric_history_figure(by_label, keys)


def _values(history: tuple[Any, Any] | None) -> list[float]:
    if history is None:
        return []
    return [float(v) for v in history[1] if v == v]


def _short(key: str) -> str:
    name = key[len(SYSTEM_PREFIX) :]
    for suffix, unit in _UNITS:
        if name.endswith(suffix):
            return f"{name[: -len(suffix)].replace('_', ' ')} ({unit})"
    return name.replace("_", " ")


def _number(value: float) -> str:
    return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3g}"
