"""
Where things are in a repository; standard library only, as the shell
imports it on every ssh session.
"""

import os

UNIX_PATH_MAX = 100


def git_dir(path):
    """
    The git directory of the repository at C{path} (bare or not).
    """
    dotgit = os.path.join(path, ".git")
    if os.path.isdir(dotgit):
        return dotgit
    if os.path.isfile(dotgit):
        with open(dotgit) as f:
            line = f.read().strip()
        if line.startswith("gitdir:"):
            return os.path.normpath(os.path.join(path, line[len("gitdir:") :].strip()))
    return path


def default_socket(path):
    """
    Where the daemon listens by default, and where C{annexrelay-shell} looks
    for it: inside the repository's annex directory.
    """
    return os.path.join(git_dir(path), "annex", "annexrelay.sock")


def short_socket_path(path):
    """
    A unix socket address for C{path} that fits the kernel's limit, through
    a descriptor of its directory (Linux: C{/proc/self/fd/N/NAME}).  The
    descriptor stays open for the life of the process.
    """
    if len(path.encode()) <= UNIX_PATH_MAX:
        return path
    fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    return "/proc/self/fd/%d/%s" % (fd, os.path.basename(path))
