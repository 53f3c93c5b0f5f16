"""
Helpers for tests that make real git(-annex) repositories.
"""

import os
import shutil
import subprocess


def git(cwd, *args):
    return subprocess.run(["git"] + list(args), cwd=cwd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout.decode()


def have_git_annex():
    return shutil.which("git-annex") is not None


def annexRepository(path, description="proxy"):
    """
    A new git-annex repository at C{path}; its absolute path.
    """
    path = os.path.abspath(path)
    subprocess.run(["git", "init", "-q", path], check=True)
    git(path, "annex", "init", "-q", description)
    return path


def restore_node(path):
    """
    Move a node's repository back from C{path + ".gone"}.  A git-annex-shell
    that was still serving it when it was moved aside builds its paths from
    the old name and may have made annex directories there again (lock and
    transfer files, nothing of the repository): those go first.
    """
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.rename(path + ".gone", path)
