"""Run context: git state of a real temporary repository, Python, platform and packages."""

from __future__ import annotations

import os
import platform
import subprocess

import pytest
from magic_fixtures import runs

import jupyter_mlops as mlops
from jupyter_mlops.store import get_store
from jupyter_mlops.tracking import context
from jupyter_mlops.tracking.session import session


def git(folder, *args):
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    return subprocess.run(
        ["git", *args], cwd=folder, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    folder = tmp_path / "repo"
    folder.mkdir()
    git(folder, "init", "-q", "-b", "main")
    git(folder, "config", "commit.gpgsign", "false")
    (folder / "train.py").write_text("print('v1')\n")
    git(folder, "add", "train.py")
    git(folder, "commit", "-q", "-m", "first")
    git(folder, "remote", "add", "origin", "https://alice:s3cret@github.com/acme/churn.git")
    return folder


def artifact_text(run, path):
    with open(get_store().artifact_file(run.id, path), encoding="utf-8") as fh:
        return fh.read()


def test_a_clean_repository(repo):
    info = context.git_info(str(repo / "."))
    assert info is not None
    assert info.commit == git(repo, "rev-parse", "HEAD")
    assert info.branch == "main"
    assert info.remote_url == "https://github.com/acme/churn.git"  # no credentials
    assert not info.dirty
    assert info.tags()["mlops.source.git.dirty"] == "false"


def test_a_modified_repository_is_dirty_with_its_diff(repo):
    (repo / "train.py").write_text("print('v2')\n")
    sub = repo / "notebooks"
    sub.mkdir()
    info = context.git_info(str(sub))
    assert info.dirty and info.root == str(repo)
    assert "-print('v1')" in info.diff and "+print('v2')" in info.diff
    assert info.tags()["mlops.source.git.dirty"] == "true"


def test_a_repository_without_commits(tmp_path):
    git(tmp_path, "init", "-q", "-b", "trunk")
    info = context.git_info(str(tmp_path))
    assert info is not None and info.commit is None and info.branch == "trunk"
    assert not info.dirty


def test_a_detached_head_has_no_branch(repo):
    git(repo, "checkout", "-q", "--detach")
    assert context.git_info(str(repo)).branch is None


def test_outside_a_repository_or_a_missing_folder_is_none(tmp_path):
    assert context.git_info(str(tmp_path)) is None
    assert context.git_info(str(tmp_path / "missing")) is None


def test_no_git_binary_is_none(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert context.git_info(str(tmp_path)) is None


def test_a_huge_diff_is_capped():
    text = "x" * (context.MAX_DIFF_BYTES + 10)
    capped = context._cap(text, context.MAX_DIFF_BYTES)
    assert len(capped.encode()) < context.MAX_DIFF_BYTES + 100
    assert "diff truncated" in capped


@pytest.mark.parametrize(
    ("url", "clean"),
    [
        ("https://user:tok@host/r.git", "https://host/r.git"),
        ("https://tok@host/r.git", "https://host/r.git"),
        ("git@github.com:acme/r.git", "git@github.com:acme/r.git"),
        ("https://host/r.git", "https://host/r.git"),
    ],
)
def test_credentials_never_reach_the_store(url, clean):
    assert context._strip_credentials(url) == clean


def test_python_platform_and_packages():
    tags = context.static_tags()
    assert tags["mlops.python_version"] == platform.python_version()
    assert tags["mlops.platform"]
    packages = context.installed_packages().lower().splitlines()
    assert any(line.startswith("ipython==") for line in packages)
    assert any(line.startswith("scikit-learn==") for line in packages)
    assert packages == sorted(packages)
    assert context.installed_packages() is context.installed_packages()  # cached


def test_a_run_started_in_a_dirty_repository_records_commit_branch_and_diff(
    store_dir, repo, monkeypatch
):
    (repo / "train.py").write_text("print('v2')\n")
    monkeypatch.chdir(repo)
    context.install()
    try:
        with mlops.start_run() as run:
            with mlops.start_run(nested=True) as child:
                pass
    finally:
        context.uninstall()
    assert context.wait_for_captures(30)
    got = mlops.get_run(run.id)
    assert got.tags["mlops.source.git.commit"] == git(repo, "rev-parse", "HEAD")
    assert got.tags["mlops.source.git.branch"] == "main"
    assert got.tags["mlops.source.git.dirty"] == "true"
    assert got.tags["mlops.source.git.repoURL"] == "https://github.com/acme/churn.git"
    assert "+print('v2')" in artifact_text(got, "git/diff.patch")
    assert "ipython==" in artifact_text(got, "environment/requirements.txt").lower()
    nested = mlops.get_run(child.id)
    assert nested.tags["mlops.python_version"] == platform.python_version()
    assert "mlops.source.git.commit" not in nested.tags and not nested.artifacts


def test_a_tracked_cell_in_a_clean_repository_has_no_diff_artifact(shell, repo, monkeypatch):
    monkeypatch.chdir(repo)
    assert shell.run_cell("%%mlops_track\nx = 1\n").success
    (run,) = runs()
    assert run.tags["mlops.source.git.dirty"] == "false"
    assert "git/diff.patch" not in run.artifacts
    assert {"code/cell.py", "environment/requirements.txt"} <= set(run.artifacts)


def test_captures_finish_after_the_run_and_are_waited_for(store_dir):
    context.install()
    try:
        run = mlops.start_run()
        mlops.end_run()
    finally:
        context.uninstall()
    assert context.wait_for_captures(30)
    assert context.pending_captures() == 0
    assert "environment/requirements.txt" in mlops.get_run(run.id).artifacts


def test_a_failing_capture_is_swallowed(store_dir):
    def explode():
        raise RuntimeError("no")

    future = context.submit(explode)
    assert context.wait_for_captures(10)
    assert future.result() is None


def test_a_failing_source_finder_is_skipped(store_dir):
    def broken():
        raise OSError("nope")

    context.install(broken)
    context.install(lambda: "/nb/found.ipynb")
    try:
        with mlops.start_run() as run:
            pass
    finally:
        for finder in list(context._source_finders):
            context.uninstall(finder)
    assert context.wait_for_captures(30)
    assert mlops.get_run(run.id).tags["mlops.source.name"] == "/nb/found.ipynb"
    assert context.run_hook not in session().run_hooks
