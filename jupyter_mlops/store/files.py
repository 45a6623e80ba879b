"""The embedded store in a folder: :class:`FileStorage`.

Layout (``docs/store.md`` has the whole picture)::

    FORMAT  store.json  journal-<generation>.jsonl  .lock
    metrics/ab/<run_id>.tsv   records/<stream>.jsonl   artifacts/ab/<sha256>   tmp/

A lock (``flock`` on ``.lock``) serialises writers across processes; the kernel releases it when
a process dies, so a killed writer never leaves the store locked. Appends go to a committed
offset: the writer cuts off whatever lies beyond it (a dead or failed writer's unacknowledged
tail) before writing, and cuts its own bytes off again when the write fails.

Every system call that changes a file goes through :class:`DiskIO`, whose ``fault`` hook lets a
test make any one of them fail as a full or broken disk would. ``OSError`` never leaves this
module: a full disk becomes :class:`~jupyter_mlops.errors.DiskFull`, a read-only folder or mount
:class:`~jupyter_mlops.errors.ReadOnlyStore`, anything else a ``StoreError`` naming the file.

A folder that cannot be written (permissions, a read-only mount) opens read-only: nothing is
created, the lock file is opened for reading only (``flock`` works on it), and every write is
refused with ``ReadOnlyStore`` before it touches anything.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from jupyter_mlops.errors import (
    DiskFull,
    IntegrityError,
    NotFound,
    ReadOnlyStore,
    StoreDamaged,
    StoreError,
)
from jupyter_mlops.processes import process_alive
from jupyter_mlops.store.state import SnapshotError
from jupyter_mlops.store.storage import (
    _CHUNK,
    FILE_MODE,
    AtomicJSONStorage,
    BaseStorage,
    complete_lines,
    sha256_of,
)

_JOURNAL_RE = re.compile(r"^journal-(\d+)\.jsonl$")
_TEMP_RE = re.compile(r"^(?:blob|stream)-(\d+)-")
STALE_TEMP_S = 24 * 3600
"""A temporary file untouched this long is left over even if its pid is alive (pid reuse)."""
STREAM_DIRS = ("metrics", "records")
FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


FAULT: Callable[[str, str], None] | None = None
"""A fault hook for every :class:`DiskIO` of this process (tests set it)."""


class DiskIO:
    """The system calls that change files; a fault hook may raise to simulate a failure.

    The hook (``fault`` of this instance, else the module's ``FAULT``) is called as
    ``hook(op, path)`` before each call, ``op`` one of ``open write fsync truncate replace
    unlink mkdir``; raising ``OSError(errno.ENOSPC, ...)`` there is a full disk at that write.
    """

    def __init__(self) -> None:
        self.fault: Callable[[str, str], None] | None = None

    def _check(self, op: str, path: str) -> None:
        hook = self.fault or FAULT
        if hook is not None:
            hook(op, path)

    def open(self, path: str, flags: int) -> int:
        self._check("open", path)
        return os.open(path, flags, 0o644)

    def mkstemp(self, folder: str, prefix: str) -> str:
        self._check("open", folder)
        fd, path = tempfile.mkstemp(prefix=prefix, dir=folder)
        try:
            os.fchmod(fd, FILE_MODE)
        finally:
            os.close(fd)
        return path

    def write_all(self, fd: int, data: bytes, path: str) -> None:
        view = memoryview(data)
        while view:
            self._check("write", path)
            view = view[os.write(fd, view) :]

    def fsync(self, fd: int, path: str) -> None:
        self._check("fsync", path)
        os.fsync(fd)

    def truncate(self, fd: int, length: int, path: str) -> None:
        self._check("truncate", path)
        os.ftruncate(fd, length)

    def replace(self, src: str, dst: str) -> None:
        self._check("replace", dst)
        os.replace(src, dst)

    def unlink(self, path: str) -> None:
        self._check("unlink", path)
        os.unlink(path)

    def makedirs(self, path: str) -> None:
        if not os.path.isdir(path):
            self._check("mkdir", path)
            os.makedirs(path, exist_ok=True)


def repair_advice(root: str) -> str:
    """The sentence that ends every damage message."""
    return (
        f"Nothing was changed. See every problem with `jupyter mlops store check {root}`; "
        f"`jupyter mlops store repair {root}` keeps everything that can be read and moves the "
        f"rest to {os.path.join(root, 'quarantine')}."
    )


class FileStorage(BaseStorage):
    """The store in a folder, safe for many processes at once (see the module docstring)."""

    def __init__(self, root: str, fsync: bool | None = None, read_only: bool = False):
        self.root = os.path.abspath(os.path.expanduser(root))
        if fsync is None:
            fsync = os.environ.get("JUPYTER_MLOPS_FSYNC", "") not in ("", "0", "false")
        self.fsync = fsync
        self.io = DiskIO()
        self._thread_lock = threading.RLock()
        self._lock_fd: int | None = None
        self._lock_depth = 0
        self._snapshot = AtomicJSONStorage(self.path("store.json"), fsync=True, io=self.io)
        self.read_only = read_only
        if not read_only:
            self._create()
        elif not os.path.isdir(self.root):
            raise StoreError(f"There is no store folder at {self.root}.")

    def path(self, name: str) -> str:
        """The absolute path of ``name`` inside the store."""
        return os.path.join(self.root, name)

    def describe(self, name: str) -> str:
        return self.path(name)

    def _create(self) -> None:
        if not os.path.isdir(self.root):
            try:
                os.makedirs(self.root, exist_ok=True)
            except OSError as e:
                raise StoreError(
                    f"Cannot create the store folder {self.root} ({e.strerror}). "
                    "Point JUPYTER_MLOPS_STORE at a writable folder."
                ) from e
        self.read_only = not os.access(self.root, os.W_OK)
        if self.read_only:
            return
        try:
            for sub in ("metrics", "artifacts", "tmp"):
                self.io.makedirs(self.path(sub))
        except OSError as e:
            if e.errno not in READ_ONLY:
                raise self.write_error(e, self.root) from e
            self.read_only = True

    # -- errors -------------------------------------------------------------------------------
    def write_error(self, error: OSError, path: str) -> StoreError:
        """The one error a user sees for a failed write of ``path``."""
        reason = error.strerror or str(error)
        if error.errno in FULL:
            return DiskFull(
                f"The disk holding the store {self.root} is full ({reason}, writing {path}). "
                "This write was not recorded; everything recorded before it is kept. Free some "
                "space: the next write goes through without a restart."
            )
        if error.errno in READ_ONLY:
            return self.read_only_error(f"{reason}: {path}")
        return StoreError(
            f"Writing {path} failed ({reason}). This write was not recorded; everything "
            "recorded before it is kept."
        )

    def read_only_error(self, why: str = "") -> ReadOnlyStore:
        """The error for a write to a store that can only be read."""
        why = why or "no write permission or a read-only mount"
        return ReadOnlyStore(
            f"The store {self.root} is read-only ({why}): runs, models and artifacts can be "
            "read, but nothing can be recorded, so this write was refused. To record, point "
            "JUPYTER_MLOPS_STORE (or mlops.set_tracking_uri) at a writable folder."
        )

    @contextlib.contextmanager
    def _writing(self, path: str) -> Iterator[None]:
        if self.read_only:
            raise self.read_only_error()
        try:
            yield
        except OSError as e:
            raise self.write_error(e, path) from e

    # -- lock -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, exclusive: bool) -> Iterator[None]:
        # flock locks belong to an open file description, so threads of one process share
        # one descriptor and queue on a thread lock; the outermost holder picks the mode.
        with self._thread_lock:
            if self._lock_depth == 0:
                fd = self._lock_file()
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
                if self._lock_depth == 0 and self._lock_fd is not None:
                    fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _lock_file(self) -> int | None:
        """The lock's descriptor; read-only when the folder is (``None``: no lock file)."""
        if self._lock_fd is None:
            path = self.path(".lock")
            if not self.read_only:
                try:
                    self._lock_fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
                except OSError as e:
                    if e.errno not in READ_ONLY:
                        raise self.write_error(e, path) from e
                    self.read_only = True
            if self._lock_fd is None:
                with contextlib.suppress(FileNotFoundError):
                    self._lock_fd = os.open(path, os.O_RDONLY)
        return self._lock_fd

    # -- format and snapshot --------------------------------------------------------------------
    def read_format(self) -> int | None:
        path = self.path("FORMAT")
        try:
            with open(path, "rb") as fh:
                schema = json.loads(fh.read())["schema"]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise StoreError(f"{path} cannot be read ({e}). {repair_advice(self.root)}") from e
        if not isinstance(schema, int) or schema < 1:
            raise StoreError(f"{path} names no schema. {repair_advice(self.root)}")
        return schema

    def write_format(self, schema: int) -> None:
        with self._writing(self.path("FORMAT")):
            AtomicJSONStorage(self.path("FORMAT"), io=self.io).write({"schema": schema})  # type: ignore[dict-item]

    def read_snapshot(self) -> Any:
        try:
            with open(self._snapshot.path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise SnapshotError(f"it cannot be read ({e.strerror})") from e
        try:
            return json.loads(data)
        except ValueError as e:
            raise SnapshotError(f"it is not valid JSON ({e})") from None

    def write_snapshot(self, tables: dict[str, Any], generation: int) -> None:
        with self._writing(self._snapshot.path):
            self._snapshot.write(tables)
        journal = self._journal_path(generation)
        with self._writing(journal):
            os.close(self.io.open(journal, os.O_WRONLY | os.O_CREAT))
        for old in self.journals():
            if old != generation:
                self.remove_journal(old)

    def snapshot_id(self) -> object:
        try:
            st = os.stat(self._snapshot.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    # -- journal ------------------------------------------------------------------------------
    def _journal_path(self, generation: int) -> str:
        return self.path(f"journal-{generation}.jsonl")

    def journals(self) -> list[int]:
        found = (_JOURNAL_RE.match(name) for name in os.listdir(self.root))
        return sorted(int(m.group(1)) for m in found if m)

    def journal_size(self, generation: int) -> int:
        return _size(self._journal_path(generation))

    def read_journal(self, generation: int, offset: int) -> tuple[bytes, int]:
        try:
            with open(self._journal_path(generation), "rb") as fh:
                fh.seek(offset)
                data = complete_lines(fh.read())
        except FileNotFoundError:
            return b"", offset
        return data, offset + len(data)

    def append_journal(self, generation: int, at: int, line: bytes) -> int:
        return self._append_at(self._journal_path(generation), at, line)

    def remove_journal(self, generation: int) -> None:
        with contextlib.suppress(OSError):
            self.io.unlink(self._journal_path(generation))

    def _append_at(self, path: str, at: int, data: bytes) -> int:
        """Cut ``path`` back to ``at``, append ``data`` with one write; cut back on failure."""
        with self._writing(path):
            fd = self.io.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            try:
                size = os.fstat(fd).st_size
                if size < at:
                    raise StoreDamaged(
                        f"{path} holds {size} bytes but {at} were committed: it was cut short "
                        f"or replaced outside jupyter_mlops. {repair_advice(self.root)}"
                    )
                if size > at:  # what a killed or failed writer left: never acknowledged
                    self.io.truncate(fd, at, path)
                try:
                    self.io.write_all(fd, data, path)
                    if self.fsync:
                        self.io.fsync(fd, path)
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, at)
                    raise
                return at + len(data)
            finally:
                os.close(fd)

    # -- streams --------------------------------------------------------------------------------
    def stream_size(self, name: str) -> int:
        return _size(self.path(name))

    def read_stream(self, name: str, offset: int = 0, end: int | None = None) -> bytes:
        path = self.path(name)
        try:
            with open(path, "rb") as fh:
                fh.seek(offset)
                data = fh.read() if end is None else fh.read(end - offset)
        except FileNotFoundError:
            data = b""
        if end is None:
            return complete_lines(data)
        if len(data) < end - offset:
            raise StoreDamaged(
                f"{path} holds fewer bytes than were committed ({end}): it was cut short or "
                f"deleted outside jupyter_mlops. {repair_advice(self.root)}"
            )
        return data

    def append_stream(self, name: str, at: int, data: bytes) -> int:
        path = self.path(name)
        with self._writing(path):
            self.io.makedirs(os.path.dirname(path))
        return self._append_at(path, at, data)

    def truncate_stream(self, name: str, length: int) -> None:
        with contextlib.suppress(OSError):
            if _size(self.path(name)) > length:
                os.truncate(self.path(name), length)

    def write_stream_file(self, name: str, data: bytes) -> None:
        path = self.path(name)
        with self._writing(path):
            self.io.makedirs(os.path.dirname(path))
            tmp = self._temp("stream")
            try:
                fd = self.io.open(tmp, os.O_WRONLY)
                try:
                    self.io.write_all(fd, data, tmp)
                    if self.fsync:
                        self.io.fsync(fd, tmp)
                finally:
                    os.close(fd)
                self.io.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise

    def remove_stream_file(self, name: str) -> None:
        with contextlib.suppress(OSError):
            self.io.unlink(self.path(name))

    def list_streams(self) -> list[str]:
        found = []
        for top in STREAM_DIRS:
            for folder, _, files in os.walk(self.path(top)):
                rel = os.path.relpath(folder, self.root)
                found += [os.path.join(rel, f).replace(os.sep, "/") for f in files]
        return sorted(found)

    # -- blobs ----------------------------------------------------------------------------------
    def blob_file(self, sha256: str) -> str:
        """Where the blob ``sha256`` lives (whether or not it exists)."""
        return self.path(os.path.join("artifacts", sha256[:2], sha256))

    def _temp(self, kind: str) -> str:
        """A new temporary file in ``tmp/`` whose name carries this process's pid."""
        self.io.makedirs(self.path("tmp"))
        return self.io.mkstemp(self.path("tmp"), f"{kind}-{os.getpid()}-")

    def put_blob(self, source: str) -> tuple[str, int]:
        digest = hashlib.sha256()
        size = 0
        with open(source, "rb") as src, self._writing(self.path("artifacts")):
            tmp = self._temp("blob")
            try:
                fd = self.io.open(tmp, os.O_WRONLY)
                try:
                    for chunk in iter(lambda: src.read(_CHUNK), b""):
                        digest.update(chunk)
                        self.io.write_all(fd, chunk, tmp)
                        size += len(chunk)
                    if self.fsync:
                        self.io.fsync(fd, tmp)
                finally:
                    os.close(fd)
                target = self.blob_file(digest.hexdigest())
                self.io.makedirs(os.path.dirname(target))
                self.io.replace(tmp, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        return digest.hexdigest(), size

    def blob_path(self, sha256: str) -> str:
        path = self.blob_file(sha256)
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

    # -- leftovers ------------------------------------------------------------------------------
    def cleanup(self) -> list[str]:
        """Remove dead writers' temporary files (the caller holds the exclusive lock).

        Snapshots and stream rewrites are only written under that lock, so any of theirs is
        dead; a blob is copied outside it, so its temporary file goes only when the process
        named in it is gone (or it was not touched for a day).
        """
        if self.read_only:
            return []
        removed = [self.path(n) for n in os.listdir(self.root) if n.startswith(".snapshot-")]
        with contextlib.suppress(FileNotFoundError):
            for name in os.listdir(self.path("tmp")):
                if _left_over(self.path(os.path.join("tmp", name)), name):
                    removed.append(self.path(os.path.join("tmp", name)))
        for path in removed:
            with contextlib.suppress(OSError):
                os.unlink(path)
        return removed


def _left_over(path: str, name: str) -> bool:
    if name.startswith("stream-"):
        return True  # stream rewrites happen only under the exclusive lock
    try:
        age = time.time() - os.stat(path).st_mtime
    except FileNotFoundError:
        return False
    match = _TEMP_RE.match(name)
    if match is None:
        return age > 3600  # schema 1 named its blobs without a pid
    return age > STALE_TEMP_S or not process_alive(int(match.group(1)), None)


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0
