"""
Helpers for tests that make real git(-annex) repositories.
"""

import shutil
import subprocess


def git(cwd, *args):
    return subprocess.run(["git"] + list(args), cwd=cwd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout.decode()


def have_git_annex():
    return shutil.which("git-annex") is not None
