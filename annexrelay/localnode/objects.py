"""
A node's annex, written by annexrelay itself (C{--local-store}): an object
received into the node's C{annex/tmp}, checked against its key, moved into
C{annex/objects} and frozen, and the node's own location log updated,
each step as git-annex's P2P server does it for a PUT (C{P2P.Annex}
C{StoreContent}, C{Annex.Content.getViaTmp}/C{moveAnnex},
C{Annex.Perms}):

 - while an object is received, the download transfer locks are held
   (L{annexrelay.localnode.layout.transfer_files}), so neither a
   git-annex process on the node nor another session of this daemon
   receives the same key at once (POSIX locks do not exclude within one
   process, so the daemon also keeps its own set);
 - nothing is received unless the filesystem keeps C{annex.diskreserve}
   free afterwards;
 - a partial object stays in C{annex/tmp} and is resumed from its size;
   content that does not match its key is deleted;
 - the object file loses its write bits (C{0444} under the usual umask),
   its directory too (C{0555}); the hash directories above it are made as
   git-annex makes them;
 - the node's location log gets C{1 <node uuid>} in the node's journal
   before the client hears of it (L{annexrelay.localnode.journalling}),
   committed to its git-annex branch within the commit delay
   (git-annex-shell commits when it exits).

Files are written with plain system calls in the reactor thread, a chunk
at a time as the payload arrives, as Twisted writes files; resuming a
large partial object hashes what is already there a chunk per reactor turn.
"""

import errno
import fcntl
import os
import stat

from twisted.internet import task
from twisted.logger import Logger

from annexrelay.localnode import layout, verify

# What is read at a time when hashing the part of an object already there.
CHUNK = 1 << 20


log = Logger()


class Busy(Exception):
    """
    The object cannot be received now; the argument is what the client is
    told.
    """


def _lock(path):
    """
    git-annex's C{tryLockExclusive} and C{checkSaneLock}: the POSIX lock on
    C{path} (made if missing), or None if someone holds it or the file was
    replaced meanwhile.
    """
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held = os.fstat(fd)
        now = os.stat(path)
    except OSError as e:
        os.close(fd)
        if e.errno in (errno.EAGAIN, errno.EACCES, errno.ENOENT):
            return None
        raise
    if (held.st_dev, held.st_ino) != (now.st_dev, now.st_ino):
        os.close(fd)
        return None
    return fd


def _unlock(path, fd):
    try:
        os.unlink(path)
    except OSError:
        pass
    os.close(fd)


class LocalNode:
    """
    One node whose annex annexrelay writes itself.

    @param gitDir: the bare repository (bytes).
    @param senderUUID: the UUID the node knows the proxy repository by
        (the sender in its transfer records).
    @param records: the node's L{annexrelay.localnode.journalling.NodeJournal}.
    @param diskReserve: C{annex.diskreserve} of the node, in bytes.
    """

    def __init__(self, reactor, name, uuid, gitDir, senderUUID, records, diskReserve=layout.DEFAULT_DISK_RESERVE):
        self.reactor = reactor
        self.name = name
        self.uuid = uuid
        self.gitDir = gitDir
        self.senderUUID = senderUUID
        self.records = records
        self.diskReserve = diskReserve
        self._receiving = set()
        self.stored = 0

    def gone(self):
        """
        Why the node's repository cannot be reached now (moved away, its
        disk not mounted), or None.  Then nothing is created there, and
        nothing is said about what it holds.  (Its git config, which
        nothing here makes: the node's location log writer makes
        C{annex/journal.lck} to take the lock, wherever the repository is.)
        """
        if os.path.isfile(os.path.join(self.gitDir, b"config")) and os.path.isdir(os.path.join(self.gitDir, b"annex")):
            return None
        return "cannot reach node %s (%s): its repository is gone" % (self.name, self.gitDir.decode("utf-8", "replace"))

    def present(self, key):
        """
        Whether the node has C{key}'s object (git-annex's C{inAnnex} for a
        bare repository: either hash directory).
        """
        return any(os.path.exists(p) for p in layout.object_paths(self.gitDir, key))

    def takes(self, key):
        """
        Whether a PUT of C{key} is received here (its content can be
        checked as git-annex checks it); otherwise the node's
        git-annex-shell receives it.
        """
        return not verify.unsupported(key)

    def receiving(self, key):
        """
        Start receiving C{key}: the transfer locks are taken and the free
        space checked.

        @return: a L{Receiving}; call its C{close} in every case.
        @raise Busy: with what the client is told.
        """
        if key in self._receiving:
            raise Busy("transfer already in progress, or unable to take transfer lock")
        files = layout.transfer_files(self.gitDir, self.senderUUID, key)
        fds = []
        try:
            for path in files:
                fd = _lock(path)
                if fd is None:
                    raise Busy("transfer already in progress, or unable to take transfer lock")
                fds.append((path, fd))
        except BaseException:
            for path, fd in reversed(fds):
                _unlock(path, fd)
            raise
        self._receiving.add(key)
        r = Receiving(self, key, fds)
        try:
            r.checkSpace()
        except BaseException:
            r.close()
            raise
        return r

    def install(self, key, tmp):
        """
        C{moveAnnex}: the checked object at C{tmp} into C{annex/objects},
        frozen (unless the node got the key meanwhile: C{tmp} goes), and
        the node's location log told; a record of an earlier failed
        download of the key from the same sender goes, as git-annex removes
        it when a download succeeds.
        """
        paths = layout.object_paths(self.gitDir, key)
        if any(os.path.exists(p) for p in paths):
            os.unlink(tmp)
        else:
            dest = paths[0]
            keydir = os.path.dirname(dest)
            if os.path.isdir(keydir):
                os.chmod(keydir, stat.S_IMODE(os.stat(keydir).st_mode) | stat.S_IWUSR)
            else:
                os.makedirs(keydir)
            try:
                os.rename(tmp, dest)
                mode = stat.S_IMODE(os.stat(dest).st_mode)
                os.chmod(dest, (mode | stat.S_IRUSR) & ~0o222)
            finally:
                os.chmod(keydir, stat.S_IMODE(os.stat(keydir).st_mode) & ~0o222)
        try:
            os.unlink(layout.failed_transfer_file(self.gitDir, self.senderUUID, key))
        except FileNotFoundError:
            pass
        except OSError as e:
            log.warn("node {node}: cannot remove the record of a failed transfer: {error}", node=self.name, error=e)
        self.stored += 1


    def close(self):
        """
        At shutdown: commit the node's journal, end its branch reader.

        @return: a L{Deferred}.
        """
        return self.records.close()


class Receiving:
    """
    One object being received into C{annex/tmp}: L{start} at the offset
    the client is told, L{write} each chunk, L{finish}; L{close} always.
    """

    def __init__(self, node, key, lockFds):
        self.node = node
        self.key = key
        self.check = verify.check_for(key)
        self.tmp = layout.tmp_path(node.gitDir, key)
        self._locks = lockFds
        self._fd = None
        self._hash = None
        self.size = 0
        self.failed = None

    def offset(self):
        """
        How much of the object is already there (git-annex's
        C{TmpContentSize}).
        """
        try:
            return os.stat(self.tmp).st_size
        except OSError:
            return 0

    def checkSpace(self):
        """
        git-annex's C{checkDiskSpaceToGet}: the rest of the object must fit
        with C{annex.diskreserve} to spare.

        @raise Busy: if it does not.
        """
        total = self.check.size if self.check is not None else None
        if total is None:
            return
        need = total - self.offset()
        try:
            st = os.statvfs(os.path.join(self.node.gitDir, b"annex"))
        except OSError:
            return
        have = st.f_bavail * st.f_frsize
        if need + self.node.diskReserve > have:
            raise Busy(
                "not enough free space in node %s: need %d more bytes (annex.diskreserve %d)"
                % (self.node.name, need + self.node.diskReserve - have, self.node.diskReserve)
            )

    async def start(self, offset):
        """
        Open the partial object for writing at C{offset}, having hashed what
        is there before it.
        """
        os.makedirs(os.path.dirname(self.tmp), exist_ok=True)
        self._fd = os.open(self.tmp, os.O_RDWR | os.O_CREAT, 0o666)
        if self.check is not None and self.check.hasher is not None:
            self._hash = self.check.hasher()
        done = 0
        while done < offset:
            chunk = os.pread(self._fd, min(CHUNK, offset - done), done)
            if not chunk:
                break
            if self._hash is not None:
                self._hash.update(chunk)
            done += len(chunk)
            if done < offset:
                await task.deferLater(self.node.reactor, 0, lambda: None)
        os.lseek(self._fd, done, os.SEEK_SET)
        self.size = done

    def write(self, data):
        """
        One chunk of the payload.  A write that fails (the disk filled)
        fails the transfer; the rest of the payload is read and dropped.
        """
        if self.failed is not None:
            return
        try:
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
        except OSError as e:
            self.failed = e
            return
        if self._hash is not None:
            self._hash.update(data)
        self.size += len(data)

    async def finish(self, expected, verdictKnownBad=False):
        """
        The payload is in: C{True} if the object is the key's content and
        now in C{annex/objects}.  A short object stays for resuming; one
        that does not match its key is deleted.

        @param expected: the size the object should have now (offset plus
            the payload's length).
        @param verdictKnownBad: the client sent nothing and C{INVALID} (its
            copy was not there to send).
        """
        self._closeFile()
        if self.failed is not None:
            log.warn("writing {tmp} failed: {error}", tmp=self.tmp.decode("utf-8", "replace"), error=self.failed)
            return False
        if verdictKnownBad or self.size != expected:
            return False
        digest = self._hash.hexdigest().encode() if self._hash is not None else None
        if not verify.matches(self.check, self.size, digest):
            log.warn(
                "content received for {key} into node {node} does not match its key; deleted",
                key=self.key.decode("utf-8", "replace"),
                node=self.node.name,
            )
            os.unlink(self.tmp)
            return False
        if self.node.gone() is not None:
            log.warn("node {node} went away while {key} was received", node=self.node.name, key=self.key.decode("utf-8", "replace"))
            return False
        try:
            self.node.install(self.key, self.tmp)
        except OSError as e:
            log.warn(
                "could not move {key} into node {node}'s annex: {error}",
                key=self.key.decode("utf-8", "replace"),
                node=self.node.name,
                error=e,
            )
            return False
        try:
            # The node's own record, in its journal before SUCCESS, as
            # git-annex's server writes it.
            await self.node.records.record(self.key, self.node.uuid, True)
        except OSError as e:
            log.error(
                "node {node} has {key} but its location log could not be written ({error}); git annex fsck there mends it",
                node=self.node.name,
                key=self.key.decode("utf-8", "replace"),
                error=e,
            )
            return False
        return True

    def _closeFile(self):
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def close(self):
        """
        Release the transfer locks (their files go, as git-annex's do).
        """
        self._closeFile()
        locks, self._locks = self._locks, []
        for path, fd in reversed(locks):
            _unlock(path, fd)
        self.node._receiving.discard(self.key)
