"""Where a run comes from: source file, git state, Python, platform and installed packages.

Plain Python (no IPython or Jupyter imports), so scripts, the CLI and the magics share it.

Capturing git state and the package list costs tens of milliseconds, far more than the 20 ms a
tracked cell may add, so :func:`run_hook` (registered in ``session().run_hooks`` by
:func:`install`) hands everything to one background worker and returns no tags: every tag and
artifact is written by that worker straight to the store for the run's id, so they may arrive
after the run ended. Pending captures are never lost: the worker thread is joined at interpreter
exit, the magics wait for it when too many captures queue up, and tests call
:func:`wait_for_captures`. Git state is reused for :data:`GIT_REUSE_S` seconds, so a loop of
tracked cells does not run git for every run.

What is recorded
----------------
- tags ``mlops.python_version``, ``mlops.platform``;
- tags ``mlops.source.name`` / ``mlops.source.type`` = ``NOTEBOOK`` when a source finder (the
  notebook path finder the magics install) knows the notebook;
- tags ``mlops.source.git.commit``, ``mlops.source.git.branch``, ``mlops.source.git.repoURL``
  (credentials stripped), ``mlops.source.git.dirty`` and, when dirty, the artifact
  ``git/diff.patch`` (``git diff HEAD``, capped at :data:`MAX_DIFF_BYTES`);
- the artifact ``environment/requirements.txt`` (``name==version`` of every installed package).

Nested runs (grid-search children, a cell inside a ``%mlops_track start`` run) only get the
Python, platform and source tags: their parent holds the git state and packages.
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from jupyter_mlops.store.base import Store
    from jupyter_mlops.tracking.fluent import ActiveRun

MAX_DIFF_BYTES = 1 << 20
GIT_TIMEOUT_S = 5.0
GIT_REUSE_S = 2.0
REQUIREMENTS_ARTIFACT = "environment/requirements.txt"
DIFF_ARTIFACT = "git/diff.patch"

SourceFinder = Callable[[], "str | None"]


@dataclass(frozen=True)
class GitInfo:
    """The state of the git repository a folder belongs to."""

    root: str
    commit: str | None
    branch: str | None
    remote_url: str | None
    diff: str

    @property
    def dirty(self) -> bool:
        """Whether tracked files differ from ``HEAD``."""
        return bool(self.diff)

    def tags(self) -> dict[str, str]:
        """The ``mlops.source.git.*`` tags."""
        tags = {"mlops.source.git.dirty": "true" if self.dirty else "false"}
        if self.commit:
            tags["mlops.source.git.commit"] = self.commit
        if self.branch:
            tags["mlops.source.git.branch"] = self.branch
        if self.remote_url:
            tags["mlops.source.git.repoURL"] = self.remote_url
        return tags


# -- git --------------------------------------------------------------------------------------
def _git(folder: str, *args: str, timeout: float = GIT_TIMEOUT_S) -> str | None:
    """Output of ``git args`` in ``folder``, or ``None`` when git fails or is missing."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=folder,
            env=env,
            capture_output=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", "replace")


def git_info(folder: str | None = None, timeout: float = GIT_TIMEOUT_S) -> GitInfo | None:
    """Commit, branch, remote and uncommitted diff of the repository holding ``folder``.

    Returns ``None`` outside a repository or when git is not installed; never raises.
    A repository without commits has ``commit=None`` and an empty diff.
    """
    folder = folder or os.getcwd()
    if not os.path.isdir(folder):
        return None
    head = _git(folder, "rev-parse", "--show-toplevel", "HEAD", "--abbrev-ref", "HEAD")
    commit: str | None
    branch: str | None
    if head is not None and len(head.split()) == 3:
        root, commit, branch = head.split()
    else:
        root = (_git(folder, "rev-parse", "--show-toplevel", timeout=timeout) or "").strip()
        if not root:
            return None
        commit = None
        branch = (_git(folder, "symbolic-ref", "--short", "HEAD") or "").strip() or None
    remote = _git(folder, "config", "--get", "remote.origin.url", timeout=timeout)
    diff = ""
    if commit:
        diff = _git(root, "diff", "HEAD", "--no-color", "--no-ext-diff", timeout=timeout) or ""
    return GitInfo(
        root=root,
        commit=commit,
        branch=None if branch == "HEAD" else branch,
        remote_url=_strip_credentials(remote.strip()) if remote else None,
        diff=_cap(diff, MAX_DIFF_BYTES),
    )


def _strip_credentials(url: str) -> str:
    """``https://user:token@host/repo`` → ``https://host/repo`` (never store a secret)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.scheme or "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _cap(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    kept = data[:limit].decode("utf-8", "ignore")
    return kept + f"\n# jupyter_mlops: diff truncated at {limit} bytes of {len(data)}\n"


# -- Python and packages -----------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def static_tags() -> dict[str, str]:
    """Tags that never change in a process: Python version and platform."""
    return {
        "mlops.python_version": platform.python_version(),
        "mlops.platform": platform.platform(terse=True),
    }


@functools.lru_cache(maxsize=1)
def installed_packages() -> str:
    """Every installed distribution as ``name==version`` lines, sorted (cached per process).

    Reads versions from ``*.dist-info`` folder names where possible: parsing every METADATA
    file costs ten times more.
    """
    import importlib.metadata

    lines = set()
    for dist in importlib.metadata.distributions():
        line = _fast_requirement(dist) or _slow_requirement(dist)
        if line:
            lines.add(line)
    return "".join(f"{line}\n" for line in sorted(lines, key=str.lower))


def _fast_requirement(dist: Any) -> str | None:
    name = getattr(getattr(dist, "_path", None), "name", "")
    if not name.endswith(".dist-info"):
        return None
    project, _, version = name[: -len(".dist-info")].partition("-")
    return f"{project.replace('_', '-')}=={version}" if project and version else None


def _slow_requirement(dist: Any) -> str | None:
    try:
        name = dist.metadata["Name"]
        return f"{name}=={dist.version}" if name else None
    except Exception:  # a broken install must not stop the capture
        return None


# -- background capture ------------------------------------------------------------------------
class _Worker:
    """One background thread running captures in order; joined at interpreter exit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._pending: set[Future[Any]] = set()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        with self._lock:
            if self._executor is None:
                # Executor threads are joined before atexit handlers run: nothing is lost.
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="jupyter-mlops-capture")
            future = self._executor.submit(_quietly, fn, *args)
            self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        return future

    def pending(self) -> int:
        return len(self._pending)

    def wait(self, timeout: float | None) -> bool:
        pending = list(self._pending)
        if not pending:
            return True
        _, not_done = wait_futures(pending, timeout=timeout)
        return not not_done


def _quietly(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception:  # context is best effort; the run itself is already safe
        return None


_worker = _Worker()


def _new_worker_in_child() -> None:
    global _worker  # a forked child's copy of the executor has no thread behind it
    _worker = _Worker()


os.register_at_fork(after_in_child=_new_worker_in_child)
_source_finders: list[SourceFinder] = []


def submit(fn: Callable[..., Any], *args: Any) -> Future[Any]:
    """Run ``fn(*args)`` on the capture thread; exceptions are swallowed."""
    return _worker.submit(fn, *args)


def wait_for_captures(timeout: float | None = None) -> bool:
    """Wait until every submitted capture is written; ``False`` when ``timeout`` ran out."""
    return _worker.wait(timeout)


def pending_captures() -> int:
    """How many captures are queued or running."""
    return _worker.pending()


def put_text(store: Store, run_id: str, path: str, text: str) -> dict[str, Any]:
    """Store ``text`` as artifact ``path`` of the run ``run_id`` (open or already ended)."""
    fd, tmp = tempfile.mkstemp(prefix="mlops-context-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))
        return store.put_artifact(run_id, path, tmp)
    finally:
        os.unlink(tmp)


def find_source(finders: list[SourceFinder] | None = None) -> str | None:
    """The first path a source finder reports (e.g. the notebook), or ``None``.

    ``finders`` defaults to those registered with :func:`install`.
    """
    for finder in list(_source_finders if finders is None else finders):
        try:
            path = finder()
        except Exception:  # a finder is best effort
            continue
        if path:
            return str(path)
    return None


def capture(
    store: Store,
    run_id: str,
    folder: str | None,
    full: bool = True,
    finders: list[SourceFinder] | None = None,
) -> None:
    """Record the source, and with ``full`` the git state and packages, of a run."""
    tags = dict(static_tags())
    source = find_source(finders)
    if source:
        tags.update({"mlops.source.name": source, "mlops.source.type": "NOTEBOOK"})
        folder = os.path.dirname(source) if os.path.isdir(os.path.dirname(source)) else folder
    git = _recent_git_info(folder) if full else None
    if git is not None:
        tags.update(git.tags())
    store.set_tags(run_id, tags)
    if git is not None and git.dirty:
        put_text(store, run_id, DIFF_ARTIFACT, git.diff)
    if full:
        put_text(store, run_id, REQUIREMENTS_ARTIFACT, installed_packages())


_git_cache: dict[str | None, tuple[float, GitInfo | None]] = {}


def _recent_git_info(folder: str | None) -> GitInfo | None:
    """:func:`git_info`, reused for a couple of seconds (called on the capture thread only)."""
    now = time.monotonic()
    cached = _git_cache.get(folder)
    if cached is not None and now - cached[0] < GIT_REUSE_S:
        return cached[1]
    info = git_info(folder)
    _git_cache.clear()
    _git_cache[folder] = (time.monotonic(), info)
    return info


def run_hook(run: ActiveRun) -> dict[str, str]:
    """The ``start_run`` hook: hands the capture to the background thread, returns no tags.

    Even the cheap tags are written there, so starting a run costs no extra store write.
    """
    from jupyter_mlops.store import get_store
    from jupyter_mlops.tracking.session import session

    nested = len(session().stack) > 1
    submit(capture, get_store(), run.id, os.getcwd(), not nested, list(_source_finders))
    return {}


def install(source_finder: SourceFinder | None = None) -> None:
    """Capture context for every run started from now on (idempotent)."""
    from jupyter_mlops.tracking.session import session

    if run_hook not in session().run_hooks:
        session().run_hooks.append(run_hook)
    if source_finder is not None and source_finder not in _source_finders:
        _source_finders.append(source_finder)


def uninstall(source_finder: SourceFinder | None = None) -> None:
    """Undo :func:`install` (the hook stays while other source finders remain)."""
    from jupyter_mlops.tracking.session import session

    if source_finder is not None and source_finder in _source_finders:
        _source_finders.remove(source_finder)
    if not _source_finders and run_hook in session().run_hooks:
        session().run_hooks.remove(run_hook)
