"""The Optuna journal a sweep keeps in the store folder: Optuna's file format, the store's rules.

Optuna's ``JournalFileBackend`` fsyncs every append; a trial makes about six of them, so on a
busy disk the journal alone cost 20-40 ms per trial. This backend writes the same JSON lines
(``optuna.storages.journal.JournalFileBackend`` reads the file as it is) the way the store writes
its own journal (``docs/store.md``): one ``write()`` on an ``O_APPEND`` descriptor under an
exclusive ``flock``, an fsync only with ``JUPYTER_MLOPS_FSYNC=1``. So an append that returned
survives a killed process, and a power loss is the only thing that can cost the last appends.

Readers take no lock: they consume complete lines only, so an append in progress is picked up
by the next read. A line left unterminated by a writer killed mid-append is terminated by the
next writer; every reader then skips it alike, so all processes number the logs the same way.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from typing import Any

from optuna.storages.journal import BaseJournalBackend


class StoreJournal(BaseJournalBackend):
    """Optuna journal logs in one append-only file, safe for many processes."""

    def __init__(self, path: str):
        self.path = path
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
        self._offset = 0  # bytes consumed so far, up to log number ``self._count``
        self._count = 0
        self._fsync = os.environ.get("JUPYTER_MLOPS_FSYNC") == "1"
        self._fd: int | None = None
        self._pid = 0

    def _descriptor(self) -> int:
        # One descriptor per process: a forked child must not share the parent's (its flock
        # would then be the parent's too).
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
            self._pid = os.getpid()
        return self._fd

    def read_logs(self, log_number_from: int) -> Iterator[dict[str, Any]]:
        if log_number_from < self._count:  # a fresh replay: start over
            self._offset = self._count = 0
        fd = self._descriptor()
        size = os.fstat(fd).st_size
        data = os.pread(fd, size - self._offset, self._offset) if size > self._offset else b""
        end = data.rfind(b"\n") + 1  # an append in progress waits for the next read
        for line in data[:end].splitlines():
            number = self._count
            self._count += 1
            self._offset += len(line) + 1
            if number < log_number_from:
                continue
            try:
                yield json.loads(line)
            except ValueError:  # a line torn by a killed writer (terminated since)
                continue

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        data = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs).encode()
        fd = self._descriptor()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if not _ends_with_newline(fd):
                data = b"\n" + data
            os.write(fd, data)
            if self._fsync:
                os.fsync(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


def _ends_with_newline(fd: int) -> bool:
    size = os.fstat(fd).st_size
    return size == 0 or os.pread(fd, 1, size - 1) == b"\n"
