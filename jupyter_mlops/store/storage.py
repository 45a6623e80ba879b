"""Where the embedded store's bytes live: the interface, and the in-memory medium.

A storage holds four things and knows nothing of runs or models:

- a **snapshot**: every table as one TinyDB database (``store.json``);
- a **journal**: one framed line per committed transaction since that snapshot
  (``journal-<generation>.jsonl``, see :mod:`~jupyter_mlops.store.journal`);
- **streams**: append-only files, such as a run's metric log (``metrics/ab/<run_id>.tsv``) or a
  deployment's prediction log (``records/<name>.jsonl``). A stream's committed length lives in
  the journal; :meth:`BaseStorage.append_stream` first cuts the file back to it, so bytes a
  failed or killed writer left beyond it are never read and never kept;
- **blobs**: content-addressed artifact files (``artifacts/ab/<sha256>``).

:class:`~jupyter_mlops.store.files.FileStorage` keeps them in a folder, :class:`MemoryStorage`
in memory (one process; tests and scratch work). Both behave the same.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

from tinydb.storages import Storage

from jupyter_mlops.errors import NotFound, StoreError

_CHUNK = 1 << 20


def _file_mode() -> int:
    """0o666 less this process's umask (read without changing it, which is not thread-safe)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            umask = next(int(line.split()[1], 8) for line in fh if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        umask = 0o022
    return 0o666 & ~umask


FILE_MODE = _file_mode()


class BaseStorage(abc.ABC):
    """The medium under :class:`~jupyter_mlops.store.embedded.EmbeddedStore`."""

    root: str = "memory:"
    read_only: bool = False

    @abc.abstractmethod
    def lock(self, exclusive: bool) -> contextlib.AbstractContextManager[None]:
        """Hold the cross-process lock (shared for readers, exclusive for writers)."""

    def describe(self, name: str) -> str:
        """A human name for the file ``name`` (a path on disk)."""
        return name

    # -- format and snapshot ------------------------------------------------------------------
    @abc.abstractmethod
    def read_format(self) -> int | None:
        """The schema in ``FORMAT``, or ``None`` when there is no such file."""

    @abc.abstractmethod
    def write_format(self, schema: int) -> None:
        """Record the schema the store is written in."""

    @abc.abstractmethod
    def read_snapshot(self) -> Any:
        """The snapshot's JSON (``None`` when there is none); ``StoreError`` when unreadable."""

    @abc.abstractmethod
    def write_snapshot(self, tables: dict[str, Any], generation: int) -> None:
        """Replace the snapshot atomically, start journal ``generation`` empty, drop older ones."""

    @abc.abstractmethod
    def snapshot_id(self) -> object:
        """Changes whenever the snapshot is replaced (readers then reload it)."""

    # -- journal ------------------------------------------------------------------------------
    @abc.abstractmethod
    def journals(self) -> list[int]:
        """The generations of the journal files present, ascending."""

    @abc.abstractmethod
    def journal_size(self, generation: int) -> int:
        """Bytes in journal ``generation`` (0 when it does not exist)."""

    @abc.abstractmethod
    def read_journal(self, generation: int, offset: int) -> tuple[bytes, int]:
        """Complete lines from ``offset`` on, and the offset after the last one."""

    @abc.abstractmethod
    def append_journal(self, generation: int, at: int, line: bytes) -> int:
        """Cut the journal back to ``at`` (its committed end), append ``line``; the new size.

        The caller holds the exclusive lock. A journal shorter than ``at`` is damage
        (``StoreError``). When the write fails the journal is cut back to ``at`` again.
        """

    @abc.abstractmethod
    def remove_journal(self, generation: int) -> None:
        """Delete an old generation's journal (already folded into the snapshot)."""

    # -- streams ------------------------------------------------------------------------------
    @abc.abstractmethod
    def stream_size(self, name: str) -> int:
        """A stream file's size in bytes (0 when it does not exist)."""

    @abc.abstractmethod
    def read_stream(self, name: str, offset: int = 0, end: int | None = None) -> bytes:
        """Bytes ``offset:end`` of a stream file (``end=None``: up to its last newline)."""

    @abc.abstractmethod
    def append_stream(self, name: str, at: int, data: bytes) -> int:
        """Cut the file back to ``at`` (its committed length), append ``data``; the new length.

        A file shorter than ``at`` is damage (``StoreError``); a failed write is cut back.
        """

    @abc.abstractmethod
    def truncate_stream(self, name: str, length: int) -> None:
        """Cut a stream file back to ``length`` bytes; never raises (a later writer retries)."""

    @abc.abstractmethod
    def write_stream_file(self, name: str, data: bytes) -> None:
        """Write a new stream file atomically (a trim's new version)."""

    @abc.abstractmethod
    def remove_stream_file(self, name: str) -> None:
        """Delete a stream file if it exists; never raises."""

    @abc.abstractmethod
    def list_streams(self) -> list[str]:
        """Every stream file present (names relative to the store)."""

    # -- blobs ----------------------------------------------------------------------------------
    @abc.abstractmethod
    def put_blob(self, source: str) -> tuple[str, int]:
        """Store a file by content; return ``(sha256, size)``."""

    @abc.abstractmethod
    def blob_path(self, sha256: str) -> str:
        """A local file holding the blob, verified against its hash."""

    def cleanup(self) -> list[str]:
        """Remove what dead writers left (temporary files); return what was removed."""
        return []


def complete_lines(data: bytes) -> bytes:
    """``data`` cut after its last newline (a line still being written is left for later)."""
    end = data.rfind(b"\n")
    return data[: end + 1] if end >= 0 else b""


def sha256_of(path: str) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class AtomicJSONStorage(Storage):
    """TinyDB storage that never leaves a half-written file behind.

    ``write`` goes to a temporary file in the same folder, is fsynced, then renamed over the
    target (``os.replace`` is atomic on POSIX): a reader sees the old file or the new one.
    ``opener`` lets the file storage route these system calls through its fault seam.
    """

    def __init__(self, path: str, fsync: bool = True, io: Any = None):
        self.path = path
        self.fsync = fsync
        self.io = io

    def read(self) -> dict[str, dict[str, Any]] | None:
        try:
            with open(self.path, "rb") as fh:
                return json.loads(fh.read())
        except FileNotFoundError:
            return None
        except ValueError as e:
            raise StoreError(f"{self.path} is not valid JSON ({e}).") from e

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        body = json.dumps(data, separators=(",", ":")).encode()
        folder = os.path.dirname(self.path)
        fd, tmp = tempfile.mkstemp(prefix=".snapshot-", dir=folder)
        try:
            os.fchmod(fd, FILE_MODE)  # as readable as any other file (mkstemp gives 0600)
            if self.io is not None:
                self.io.write_all(fd, body, tmp)
                if self.fsync:
                    self.io.fsync(fd, tmp)
                os.close(fd)
                fd = -1
                self.io.replace(tmp, self.path)
            else:
                with os.fdopen(fd, "wb") as fh:
                    fd = -1
                    fh.write(body)
                    fh.flush()
                    if self.fsync:
                        os.fsync(fh.fileno())
                os.replace(tmp, self.path)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


class MemoryStorage(BaseStorage):
    """Everything in memory, for one process: same semantics, no files (tests, scratch work)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._format: int | None = None
        self._snapshot: str | None = None
        self._snapshot_count = 0
        self._journals: dict[int, bytearray] = {}
        self._streams: dict[str, bytearray] = {}
        self._blobs: dict[str, bytes] = {}
        self._blob_dir = tempfile.mkdtemp(prefix="jupyter-mlops-mem-")

    @contextlib.contextmanager
    def lock(self, exclusive: bool) -> Iterator[None]:
        with self._lock:
            yield

    def read_format(self) -> int | None:
        return self._format

    def write_format(self, schema: int) -> None:
        self._format = schema

    def read_snapshot(self) -> Any:
        return None if self._snapshot is None else json.loads(self._snapshot)

    def write_snapshot(self, tables: dict[str, Any], generation: int) -> None:
        self._snapshot = json.dumps(tables)
        self._snapshot_count += 1
        self._journals = {generation: bytearray()}

    def snapshot_id(self) -> object:
        return self._snapshot_count

    def journals(self) -> list[int]:
        return sorted(self._journals)

    def journal_size(self, generation: int) -> int:
        return len(self._journals.get(generation, b""))

    def read_journal(self, generation: int, offset: int) -> tuple[bytes, int]:
        data = complete_lines(bytes(self._journals.get(generation, b"")[offset:]))
        return data, offset + len(data)

    def append_journal(self, generation: int, at: int, line: bytes) -> int:
        return _append_at(self._journals.setdefault(generation, bytearray()), at, line)

    def remove_journal(self, generation: int) -> None:
        self._journals.pop(generation, None)

    def stream_size(self, name: str) -> int:
        return len(self._streams.get(name, b""))

    def read_stream(self, name: str, offset: int = 0, end: int | None = None) -> bytes:
        data = bytes(self._streams.get(name, b"")[offset:end])
        return complete_lines(data) if end is None else data

    def append_stream(self, name: str, at: int, data: bytes) -> int:
        return _append_at(self._streams.setdefault(name, bytearray()), at, data)

    def truncate_stream(self, name: str, length: int) -> None:
        if name in self._streams:
            del self._streams[name][length:]

    def write_stream_file(self, name: str, data: bytes) -> None:
        self._streams[name] = bytearray(data)

    def remove_stream_file(self, name: str) -> None:
        self._streams.pop(name, None)

    def list_streams(self) -> list[str]:
        return sorted(self._streams)

    def put_blob(self, source: str) -> tuple[str, int]:
        with open(source, "rb") as fh:
            data = fh.read()
        sha = hashlib.sha256(data).hexdigest()
        self._blobs[sha] = data
        return sha, len(data)

    def blob_path(self, sha256: str) -> str:
        if sha256 not in self._blobs:
            raise NotFound(f"The artifact {sha256[:12]}... is not in this in-memory store.")
        path = os.path.join(self._blob_dir, sha256)
        with open(path, "wb") as fh:
            fh.write(self._blobs[sha256])
        return path

    def __del__(self) -> None:
        shutil.rmtree(getattr(self, "_blob_dir", ""), ignore_errors=True)


def _append_at(buffer: bytearray, at: int, data: bytes) -> int:
    if len(buffer) < at:
        raise StoreError(
            f"An in-memory stream is shorter ({len(buffer)} bytes) than committed ({at})."
        )
    del buffer[at:]
    buffer += data
    return len(buffer)
