"""Record streams (prediction logs, labels): a run of ``_jupyter_mlops`` per stream.

Each append is one JSON-lines artifact chunk; beyond ``MAX_CHUNKS`` chunks a stream is compacted
into one. Trimming writes the kept records as a new chunk, then deletes the old ones, so a reader
never sees a stream emptied (it may briefly see both). Deleting chunks uses MLflow's artifact
repository (``get_artifact_repository``), the one thing ``MlflowClient`` has no method for.
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from typing import Any

from jupyter_mlops.store.formats import check_stream
from jupyter_mlops.store.mlflow.documents import Documents, tag_filter

MAX_CHUNKS = 64  # a record stream is compacted into one artifact beyond this many


class Streams(Documents):
    """Append-only record streams in artifact chunks."""

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        self._streams: dict[str, str] = {}  # record stream -> the run holding its chunks

    # -- record streams -------------------------------------------------------------------------
    def _stream_run(self, stream: str, create: bool) -> str | None:
        """The run holding a stream's chunks (looked up once: a model server appends often)."""
        check_stream(stream)
        with self._lock:
            if stream not in self._streams:
                runs = self._internal_runs(tag_filter("mlops.stream", stream))
                if runs:
                    first = min(runs, key=lambda r: r.info.start_time)
                    self._streams[stream] = str(first.info.run_id)
                elif create:
                    tags = {"mlops.stream": stream}
                    self._streams[stream] = self._internal_run(f"stream/{stream}"[:250], tags)
            return self._streams.get(stream)

    def _chunks(self, run_id: str) -> list[str]:
        files = self._call("list records", self.client.list_artifacts, run_id, "records")
        return sorted(f.path for f in files if not f.is_dir and f.path.endswith(".jsonl"))

    def _read_chunks(self, run_id: str, chunks: list[str]) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        with tempfile.TemporaryDirectory(prefix="mlops-records-") as tmp:
            for chunk in chunks:
                local = self._call(
                    "read records", self.client.download_artifacts, run_id, chunk, tmp
                )
                with open(local, encoding="utf-8") as fh:
                    for line in fh:
                        try:
                            records.append(json.loads(line))
                        except ValueError:
                            continue
        return records

    def _write_chunk(self, run_id: str, records: list[dict[str, Any]]) -> None:
        text = "".join(json.dumps(r, separators=(",", ":"), default=str) + "\n" for r in records)
        name = f"records/{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.jsonl"
        self._call("append records", self.client.log_text, run_id, text, name)

    def _delete_chunks(self, run_id: str, chunks: list[str]) -> None:
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        run = self._call("get run", self.client.get_run, run_id)
        repo = get_artifact_repository(run.info.artifact_uri, tracking_uri=self.tracking_uri)
        for chunk in chunks:
            self._call("trim records", repo.delete_artifacts, chunk)

    def append_records(self, stream: str, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        run_id = self._stream_run(stream, create=True)
        assert run_id is not None
        self._write_chunk(run_id, records)
        chunks = self._chunks(run_id)
        if len(chunks) > MAX_CHUNKS:
            with self._lock:
                self._write_chunk(run_id, self._read_chunks(run_id, chunks))
                self._delete_chunks(run_id, chunks)

    def read_records(self, stream: str, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        run_id = self._stream_run(stream, create=False)
        if run_id is None:
            return [], 0
        records = self._read_chunks(run_id, self._chunks(run_id))
        if offset > len(records):
            offset = 0  # trimmed since that offset was handed out
        return records[offset:], len(records)

    def count_records(self, stream: str) -> int:
        return len(self.read_records(stream)[0])

    def trim_records(self, stream: str, keep: int) -> int:
        run_id = self._stream_run(stream, create=False)
        if run_id is None:
            return 0
        with self._lock:
            chunks = self._chunks(run_id)
            records = self._read_chunks(run_id, chunks)
            if len(records) > keep:
                self._write_chunk(run_id, records[len(records) - keep :])
                self._delete_chunks(run_id, chunks)
            return min(len(records), keep)
