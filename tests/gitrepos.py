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
