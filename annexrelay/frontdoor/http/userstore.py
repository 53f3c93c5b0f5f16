"""
Where annexrelay's annex+http users are kept, and the file itself
(L{annexrelay.frontdoor.http.grants} is the model).

 - C{--repo P}: C{P/.git/annex/annexrelay/users};
 - C{--directory D}: C{D/.annexrelay/users} (the folder made 0700).

The file is mode 0600, replaced atomically (a new file made 0600 whatever
the umask, written, synced, renamed over the old one); changes by
C{annexrelay user} are made under an exclusive lock on C{users.lock}, so
two at once lose nothing.  The daemon's L{UserStore.users} reads it again
whenever its stamp (modification time, size, inode) changed: a stat per
request, and a change applies to the next request.  A file that cannot be
read lets no store user in (logged), never more.
"""

import fcntl
import os
import tempfile

from twisted.logger import Logger

from annexrelay.frontdoor.http.grants import GrantError, format_store, parse_store
from annexrelay.paths import file_stamp, private_dir

USERS = "users"
DIRECTORY_STATE = ".annexrelay"

log = Logger()


def repo_state_path(gitDir):
    return os.path.join(private_dir(gitDir), USERS)


def directory_state_path(directory, create=False):
    """
    @param create: make the folder (0700) if it is not there (the daemon
        only reads: it may not write to the directory).
    """
    path = os.path.join(directory, DIRECTORY_STATE)
    if create:
        os.makedirs(path, mode=0o700, exist_ok=True)
    return os.path.join(path, USERS)


def write_atomically(path, text):
    """
    Replace C{path} with C{text}: mode 0600 from its creation, whatever
    the umask and whatever an interrupted earlier write left behind.
    """
    fd, tmp = tempfile.mkstemp(prefix=".users.", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    dfd = os.open(os.path.dirname(path), os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class UserStore:
    """
    The user file at C{path}.

    @ivar generation: counts the times the file was read: what a cache of
        verified passwords is checked against.
    """

    def __init__(self, path):
        self.path = path
        self._stamp = False
        self._users = {}
        self.generation = 0

    def users(self):
        """
        The users as the file says now (read again only when it changed).
        """
        stamp = file_stamp(self.path)
        if stamp != self._stamp:
            self._stamp = stamp
            self.generation += 1
            try:
                self._users = self._read()
            except (OSError, GrantError) as e:
                log.error("annex+http users: cannot read {path}: {why}; no user of it is let in", path=self.path, why=str(e))
                self._users = {}
        return self._users

    def _read(self):
        try:
            with open(self.path) as f:
                mode = os.fstat(f.fileno()).st_mode
                if mode & 0o077:
                    log.warn("annex+http users: {path} is readable by others (mode {mode:o}); chmod 600 it", path=self.path, mode=mode & 0o777)
                return parse_store(f.read())
        except FileNotFoundError:
            return {}

    def update(self, change):
        """
        Read, change and write the file under its lock.

        @param change: users -> new users (may raise L{GrantError}).
        @return: the new users.
        """
        lock = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            new = change(self._read())
            write_atomically(self.path, format_store(new))
            return new
        finally:
            os.close(lock)
