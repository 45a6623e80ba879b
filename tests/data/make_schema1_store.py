"""Write tests/data/schema1-store with jupyter_mlops as of commit 5602d6b (store schema 1).

Run with that version on the path, e.g.::

    git archive 5602d6b jupyter_mlops | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old JUPYTER_MLOPS_COMPACT_BYTES=4000 python tests/data/make_schema1_store.py

It records runs (params, metric histories, an artifact, a model), registers the model with an
alias, writes a prediction stream and trims it, crosses one compaction (so there are both a
snapshot and a journal), and leaves two lines torn by "killed writers" *inside* the journal and
a metric log, as schema 1 did. ``expected.json`` is what that version reads back.
"""

import json
import os
import shutil
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression

import jupyter_mlops as mlops
from jupyter_mlops.store import get_store

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "schema1-store")


def torn(path: str, text: bytes) -> None:
    """What a writer killed mid-append left: a line without its end."""
    with open(path, "ab") as fh:
        fh.write(text)


def main() -> None:
    shutil.rmtree(ROOT, ignore_errors=True)
    mlops.set_tracking_uri(ROOT)
    store = get_store()
    ids = []
    for i in range(3):
        with mlops.start_run(name=f"rf-{i}", experiment="churn") as run:
            mlops.log_params({"n_estimators": 10 * (i + 1), "model": "rf"})
            for step in range(5):
                mlops.log_metric("loss", 1.0 / (step + 1 + i))
            mlops.log_metric("acc", 0.8 + i / 100)
            mlops.log_text(f"notes {i}", "notes.txt")
            if i == 1:
                torn(os.path.join(ROOT, "journal-0.jsonl"), b'[["merge","runs","x",{"ta')
            ids.append(run.id)
    X = np.arange(20, dtype=float).reshape(10, 2)
    y = np.array([0, 1] * 5)
    with mlops.start_run(name="model", experiment="churn") as run:
        mlops.log_model(LogisticRegression().fit(X, y), "model")
        ids.append(run.id)
    mlops.register_model(f"runs:/{ids[-1]}/model", "churn")
    mlops.set_alias("churn", "champion", 1)
    store.append_records("predictions/churn", [{"i": i, "y": i % 2} for i in range(8)])
    store.trim_records("predictions/churn", 5)
    store.append_records("predictions/churn", [{"i": 8, "y": 0}])
    journals = [n for n in os.listdir(ROOT) if n.startswith("journal-")]
    assert os.path.exists(os.path.join(ROOT, "store.json")) and journals != ["journal-0.jsonl"]
    journal = os.path.join(ROOT, sorted(journals)[-1])
    torn(journal, b'[["put","experiments","9",{"name":"to')
    metric_log = os.path.join(ROOT, "metrics", ids[0][:2], f"{ids[0]}.tsv")
    torn(metric_log, b"loss\t9\t17")
    with mlops.start_run(name="after-torn", experiment="churn") as run:
        mlops.log_metric("loss", 0.5)  # the next writer terminates the torn lines with "\n"
        ids.append(run.id)
    expected = {
        "runs": sorted(
            (r["run_name"], r["params"], {k: v["count"] for k, v in r["metrics"].items()})
            for r in store.list_runs()
        ),
        "histories": {rid: [p[1] for p in store.get_metric_history(rid, "loss")] for rid in ids},
        "records": store.read_records("predictions/churn")[0],
        "model_version": mlops.get_model_version("churn", 1).run_id,
        "alias": mlops.alias_holder("churn", "champion"),
        "run_ids": ids,
    }
    with open(os.path.join(HERE, "schema1-expected.json"), "w") as fh:
        json.dump(expected, fh, indent=1, default=str)
    print("wrote", ROOT, file=sys.stderr)


if __name__ == "__main__":
    main()
