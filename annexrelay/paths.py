"""
Where things are in a repository; standard library only, as the shell
imports it on every ssh session.
"""

import os

UNIX_PATH_MAX = 100


def _git_dir_at(path):
    """
    The git directory of a repository whose top is C{path}, or None if
    C{path} is not the top of one.
    """
    dotgit = os.path.join(path, ".git")
    if os.path.isdir(dotgit):
        return dotgit
    if os.path.isfile(dotgit):
        with open(dotgit) as f:
            line = f.read().strip()
        if line.startswith("gitdir:"):
            return os.path.normpath(os.path.join(path, line[len("gitdir:") :].strip()))
    if os.path.isfile(os.path.join(path, "HEAD")) and os.path.isdir(os.path.join(path, "objects")) and os.path.isdir(os.path.join(path, "refs")):
        return path  # bare
    return None


def find_repository(path):
    """
    The repository C{path} is in, as git finds it: C{(top, git dir)}, where
    C{top} is the work tree's top (or the bare repository); C{(path, path)}
    when there is none.
    """
    here = os.path.abspath(path)
    while True:
        found = _git_dir_at(here)
        if found is not None:
            return here, found
        parent = os.path.dirname(here)
        if parent == here:
            return os.path.abspath(path), os.path.abspath(path)
        here = parent


def git_dir(path):
    """
    The git directory of the repository at or above C{path} (bare or not).
    """
    return find_repository(path)[1]


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


def real_git_annex_shell(env=None):
    """
    The real git-annex-shell: C{ANNEXRELAY_GIT_ANNEX_SHELL}, or the first
    C{git-annex-shell} on C{PATH} that is not annexrelay-shell installed
    under that name.  None if there is none.
    """
    env = os.environ if env is None else env
    explicit = env.get("ANNEXRELAY_GIT_ANNEX_SHELL")
    if explicit:
        return explicit
    for d in env.get("PATH", "").split(os.pathsep):
        candidate = os.path.join(d or ".", "git-annex-shell")
        if os.access(candidate, os.X_OK) and not _is_annexrelay_shell(candidate):
            return candidate
    return None


def _is_annexrelay_shell(path):
    real = os.path.realpath(path)
    if os.path.basename(real) == "annexrelay-shell":
        return True
    try:
        with open(real, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    # A console script: a short Python file naming its entry point (as it
    # is now, or as older releases named it).
    return any(name in head for name in (b"annexrelay.frontdoor.ssh.shell", b"annexrelay.frontdoor.shell", b"annexrelay.shell"))


def file_stamp(path):
    """
    What changes when the file at C{path} is rewritten (modification time,
    size, inode), or None if there is none: how the daemon notices that a
    configuration, key or token file changed without reading it.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def private_dir(gitDir):
    """
    annexrelay's private state in a repository (made mode 0700).
    """
    path = os.path.join(gitDir, "annex", "annexrelay")
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def write_private(path, text):
    """
    Replace C{path} with C{text}, mode 0600, atomically.
    """
    tmp = path + ".new"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
