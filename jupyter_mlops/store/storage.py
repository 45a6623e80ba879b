"""Where the embedded store's bytes live: on disk (:class:`FileStorage`) or in memory.

A storage holds four things, and knows nothing of runs or models:

- a **snapshot**: every table as one TinyDB database (``store.json``, TinyDB's JSON layout,
  written by :class:`AtomicJSONStorage`, a TinyDB ``Storage`` that replaces the file atomically);
- a **journal**: one line of JSON per committed transaction since that snapshot
  (``journal-<generation>.jsonl``), appended with a single ``write`` on an ``O_APPEND`` file;
- **streams**: append-only text files, such as a run's metric log (``metrics/ab/<run_id>.tsv``)
  or a deployment's prediction log;
- **blobs**: content-addressed artifact files (``artifacts/ab/<sha256>``).

A lock (``flock`` on ``.lock``) serialises writers across processes; it is released by the
kernel when a process dies, so a killed writer never leaves the store locked. A writer killed
in the middle of an append leaves at most one unterminated line: the next writer terminates it
and every reader skips lines that do not parse, so a torn transaction is dropped whole and
nothing before it is touched.
"""

from __future__ import annotations

import abc
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

from tinydb.storages import Storage

from jupyter_mlops.errors import IntegrityError, NotFound, StoreError

SCHEMA_VERSION = 1
_CHUNK = 1 << 20


class BaseStorage(abc.ABC):
    """The medium under :class:`~jupyter_mlops.store.embedded.EmbeddedStore`."""

    @abc.abstractmethod
    def lock(self, exclusive: bool) -> contextlib.AbstractContextManager[None]:
        """Hold the cross-process lock (shared for readers, exclusive for writers)."""

    @abc.abstractmethod
    def read_snapshot(self) -> dict[str, dict[str, Any]]:
        """All tables as of the last compaction (``{}`` for a new store)."""

    @abc.abstractmethod
    def write_snapshot(self, tables: dict[str, dict[str, Any]], generation: int) -> None:
        """Replace the snapshot atomically and start journal ``generation`` empty."""

    @abc.abstractmethod
    def snapshot_id(self) -> object:
        """Changes whenever the snapshot is replaced (readers then reload it)."""

    @abc.abstractmethod
    def journal_size(self, generation: int) -> int:
        """Bytes in journal ``generation`` (0 when it does not exist)."""

    @abc.abstractmethod
    def read_journal(self, generation: int, offset: int) -> tuple[bytes, int]:
        """Complete lines from ``offset`` on, and the offset after the last one."""

    @abc.abstractmethod
    def append_journal(self, generation: int, line: bytes) -> int:
        """Append one line (caller holds the exclusive lock); return the new size."""

    @abc.abstractmethod
    def append_stream(self, name: str, data: bytes) -> None:
        """Append lines to the stream ``name`` (a relative path chosen by the store)."""

    @abc.abstractmethod
    def read_stream(self, name: str, offset: int = 0) -> bytes:
        """A stream's complete lines from byte ``offset`` on (``b""`` when none)."""

    @abc.abstractmethod
    def stream_size(self, name: str) -> int:
        """A stream's size in bytes (0 when it does not exist)."""

    @abc.abstractmethod
    def replace_stream(self, name: str, data: bytes) -> None:
        """Replace a stream's content atomically (the caller holds the exclusive lock)."""

    @abc.abstractmethod
    def put_blob(self, source: str) -> tuple[str, int]:
        """Store a file by content; return ``(sha256, size)``."""

    @abc.abstractmethod
    def blob_path(self, sha256: str) -> str:
        """A local file holding the blob, verified against its hash."""

    def check_schema(self) -> None:  # noqa: B027 - memory stores have no format file
        """Refuse a store written by a newer version of jupyter_mlops."""


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
    """

    def __init__(self, path: str, fsync: bool = True):
        self.path = path
        self.fsync = fsync

    def read(self) -> dict[str, dict[str, Any]] | None:
        try:
            with open(self.path, encoding="utf-8") as fh:
                return json.load(fh)
        except FileNotFoundError:
            return None
        except ValueError as e:
            raise StoreError(f"The store snapshot {self.path} is not valid JSON ({e}).") from e

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        folder = os.path.dirname(self.path)
        fd, tmp = tempfile.mkstemp(prefix=".snapshot-", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, separators=(",", ":"))
                fh.flush()
                if self.fsync:
                    os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


class FileStorage(BaseStorage):
    """The store in a folder, safe for many processes at once (see the module docstring)."""

    def __init__(self, root: str, fsync: bool | None = None):
        self.root = os.path.abspath(os.path.expanduser(root))
        if fsync is None:
            fsync = os.environ.get("JUPYTER_MLOPS_FSYNC", "") not in ("", "0", "false")
        self.fsync = fsync
        self._thread_lock = threading.RLock()
        self._lock_fd: int | None = None
        self._lock_depth = 0
        try:
            for sub in ("metrics", "artifacts", "tmp"):
                os.makedirs(os.path.join(self.root, sub), exist_ok=True)
        except OSError as e:
            raise StoreError(
                f"Cannot create the store folder {self.root} ({e.strerror}). "
                "Point JUPYTER_MLOPS_STORE at a writable folder."
            ) from e
        self._snapshot = AtomicJSONStorage(os.path.join(self.root, "store.json"), fsync=True)
        self._ensure_format()

    # -- format -----------------------------------------------------------------------------
    def _ensure_format(self) -> None:
        path = os.path.join(self.root, "FORMAT")
        if not os.path.exists(path):
            with self.lock(exclusive=True):
                if not os.path.exists(path):
                    AtomicJSONStorage(path).write({"schema": SCHEMA_VERSION})  # type: ignore[dict-item]
        self.check_schema()

    def check_schema(self) -> None:
        path = os.path.join(self.root, "FORMAT")
        found = AtomicJSONStorage(path).read() or {}
        schema = found.get("schema", SCHEMA_VERSION)
        if not isinstance(schema, int) or schema > SCHEMA_VERSION:
            raise StoreError(
                f"The store at {self.root} was written by a newer jupyter_mlops (store schema "
                f"{schema}; this version reads schema {SCHEMA_VERSION} and older). Upgrade with "
                "`pip install -U jupyter-mlops`, or point JUPYTER_MLOPS_STORE at another folder."
            )

    # -- lock -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, exclusive: bool) -> Iterator[None]:
        # flock locks belong to an open file description, so threads of one process share
        # one descriptor and queue on a thread lock; the outermost holder picks the mode.
        with self._thread_lock:
            if self._lock_depth == 0:
                if self._lock_fd is None:
                    self._lock_fd = os.open(
                        os.path.join(self.root, ".lock"), os.O_RDWR | os.O_CREAT
                    )
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
                if self._lock_depth == 0 and self._lock_fd is not None:
                    fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    # -- snapshot and journal -----------------------------------------------------------------
    def _journal_path(self, generation: int) -> str:
        return os.path.join(self.root, f"journal-{generation}.jsonl")

    def read_snapshot(self) -> dict[str, dict[str, Any]]:
        return self._snapshot.read() or {}

    def write_snapshot(self, tables: dict[str, dict[str, Any]], generation: int) -> None:
        self._snapshot.write(tables)
        open(self._journal_path(generation), "ab").close()
        for name in os.listdir(self.root):
            if name.startswith("journal-") and name != f"journal-{generation}.jsonl":
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(self.root, name))

    def snapshot_id(self) -> object:
        try:
            st = os.stat(self._snapshot.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def journal_size(self, generation: int) -> int:
        try:
            return os.stat(self._journal_path(generation)).st_size
        except FileNotFoundError:
            return 0

    def read_journal(self, generation: int, offset: int) -> tuple[bytes, int]:
        try:
            with open(self._journal_path(generation), "rb") as fh:
                fh.seek(offset)
                data = complete_lines(fh.read())
        except FileNotFoundError:
            return b"", offset
        return data, offset + len(data)

    def append_journal(self, generation: int, line: bytes) -> int:
        return _append(self._journal_path(generation), line, self.fsync)

    # -- streams --------------------------------------------------------------------------------
    def append_stream(self, name: str, data: bytes) -> None:
        path = os.path.join(self.root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        _append(path, data, self.fsync)

    def read_stream(self, name: str, offset: int = 0) -> bytes:
        try:
            with open(os.path.join(self.root, name), "rb") as fh:
                fh.seek(offset)
                return complete_lines(fh.read())
        except FileNotFoundError:
            return b""

    def stream_size(self, name: str) -> int:
        try:
            return os.stat(os.path.join(self.root, name)).st_size
        except FileNotFoundError:
            return 0

    def replace_stream(self, name: str, data: bytes) -> None:
        path = os.path.join(self.root, name)
        fd, tmp = tempfile.mkstemp(prefix="stream-", dir=os.path.join(self.root, "tmp"))
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)

    # -- blobs ----------------------------------------------------------------------------------
    def _blob_file(self, sha256: str) -> str:
        return os.path.join(self.root, "artifacts", sha256[:2], sha256)

    def put_blob(self, source: str) -> tuple[str, int]:
        digest = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(prefix="blob-", dir=os.path.join(self.root, "tmp"))
        try:
            with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                size = 0
                for chunk in iter(lambda: src.read(_CHUNK), b""):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                if self.fsync:
                    out.flush()
                    os.fsync(out.fileno())
            sha = digest.hexdigest()
            target = self._blob_file(sha)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return sha, size

    def blob_path(self, sha256: str) -> str:
        path = self._blob_file(sha256)
        if not os.path.exists(path):
            raise NotFound(
                f"The artifact file {sha256[:12]}... is missing from the store {self.root}."
            )
        if sha256_of(path) != sha256:
            raise IntegrityError(
                f"The artifact file {path} does not match the sha256 recorded when it was logged: "
                "it was changed on disk. Nothing was loaded; log the artifact again."
            )
        return path


def _append(path: str, data: bytes, fsync: bool) -> int:
    """Append ``data`` with one write, terminating a line torn by a killed writer first."""
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        written = 0
        while written < len(data):
            written += os.write(fd, data[written:])
        if fsync:
            os.fsync(fd)
        return size + len(data)
    finally:
        os.close(fd)


class MemoryStorage(BaseStorage):
    """Everything in memory, for one process: same semantics, no files (tests, scratch work)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._snapshot: dict[str, dict[str, Any]] = {}
        self._snapshot_count = 0
        self._journals: dict[int, bytearray] = {0: bytearray()}
        self._streams: dict[str, bytearray] = {}
        self._blobs: dict[str, bytes] = {}
        self._blob_dir = tempfile.mkdtemp(prefix="jupyter-mlops-mem-")

    @contextlib.contextmanager
    def lock(self, exclusive: bool) -> Iterator[None]:
        with self._lock:
            yield

    def read_snapshot(self) -> dict[str, dict[str, Any]]:
        return json.loads(json.dumps(self._snapshot))

    def write_snapshot(self, tables: dict[str, dict[str, Any]], generation: int) -> None:
        self._snapshot = json.loads(json.dumps(tables))
        self._snapshot_count += 1
        self._journals = {generation: bytearray()}

    def snapshot_id(self) -> object:
        return self._snapshot_count

    def journal_size(self, generation: int) -> int:
        return len(self._journals.get(generation, b""))

    def read_journal(self, generation: int, offset: int) -> tuple[bytes, int]:
        data = complete_lines(bytes(self._journals.get(generation, b"")[offset:]))
        return data, offset + len(data)

    def append_journal(self, generation: int, line: bytes) -> int:
        journal = self._journals.setdefault(generation, bytearray())
        journal += line
        return len(journal)

    def append_stream(self, name: str, data: bytes) -> None:
        self._streams.setdefault(name, bytearray()).extend(data)

    def read_stream(self, name: str, offset: int = 0) -> bytes:
        return complete_lines(bytes(self._streams.get(name, b"")[offset:]))

    def stream_size(self, name: str) -> int:
        return len(self._streams.get(name, b""))

    def replace_stream(self, name: str, data: bytes) -> None:
        self._streams[name] = bytearray(data)

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
