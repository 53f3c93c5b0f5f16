"""
git plumbing for the branch layer: running git without blocking the
reactor, git-annex's journal lock, and C{git cat-file --batch} output.
"""

import errno
import fcntl
import os

from twisted.internet import defer, task
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger

log = Logger()


class GitCommandFailed(Exception):
    pass


class _Collect(ProcessProtocol):
    def __init__(self, stdin):
        self.stdin = stdin
        self.out = []
        self.done = defer.Deferred()

    def connectionMade(self):
        if self.stdin:
            self.transport.write(self.stdin)
        self.transport.closeStdin()

    def childDataReceived(self, fd, data):
        self.out.append(data)

    def processEnded(self, reason):
        self.done.callback((reason.value.exitCode, b"".join(self.out)))


def runGit(reactor, cwd, args, stdin=b""):
    """
    Run C{git ARGS} in C{cwd} without blocking.

    C{git -C cwd}, not a working directory for the child: Twisted then
    starts it with C{posix_spawn} instead of C{fork}, which in a daemon of
    tens of MiB stops the reactor for milliseconds each time (a location
    log commit runs four of these).

    @return: a L{Deferred} firing with C{(exit code, stdout+stderr)}.
    """
    pp = _Collect(stdin)
    env = dict(os.environ)
    env.pop("GIT_DIR", None)
    env.pop("GIT_WORK_TREE", None)
    reactor.spawnProcess(pp, "git", ["git", "-C", cwd] + list(args), env=env)
    return pp.done


BRANCH = b"refs/heads/git-annex"
PENDING = b"refs/annexrelay/pending"


class RefMoved(Exception):
    """
    The git-annex branch moved between reading and committing.
    """


class JournalLock:
    """
    git-annex's journal lock (a POSIX lock on C{.git/annex/journal.lck}),
    taken without blocking the reactor.
    """

    def __init__(self, reactor, path):
        self.reactor = reactor
        self.path = path
        self._fd = None

    async def acquire(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        waited = 0
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
            waited += 1
            if waited % 200 == 0:
                log.warn("still waiting for git-annex's journal lock {path}", path=self.path)
            await task.deferLater(self.reactor, 0.02, lambda: None)
        self._fd = fd

    def release(self):
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                fcntl.lockf(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)


def cat_file_size(header):
    """
    The object size a C{git cat-file --batch} header line gives
    (C{<sha> <type> <size>}), or None for C{<name> missing} (or
    C{ambiguous}).  The name is echoed only in the latter, and may contain
    spaces: the line is read from its end.
    """
    if header.endswith(b" missing") or header.endswith(b" ambiguous"):
        return None
    fields = header.rsplit(b" ", 2)
    if len(fields) != 3 or not fields[2].isdigit():
        raise ValueError("unexpected git cat-file header %r" % (header[:200],))
    return int(fields[2])


def parse_cat_file(out, count):
    """
    Split C{git cat-file --batch} output into C{count} results: C{(sha,
    content)}, or None for a missing object.
    """
    results = []
    pos = 0
    for _ in range(count):
        nl = out.index(b"\n", pos)
        header = out[pos:nl]
        pos = nl + 1
        size = cat_file_size(header)
        if size is None:
            results.append(None)
            continue
        results.append((header.split(b" ", 1)[0], out[pos : pos + size]))
        pos += size + 1
    return results
