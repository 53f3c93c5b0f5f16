"""
Content locks held for HTTP clients between C{lockcontent} and the end of
C{keeplocked}.

A lock is a P2P session that answered C{LOCKCONTENT} with C{SUCCESS}: the
core's target keeps the node's lock until C{UNLOCKCONTENT} or until the
session ends.  Each lock has one owner, this table: it is released when
the client's C{keeplocked} says C{{"unlock":true}}, when its body ends or
its connection goes away, when no C{keeplocked} comes within
L{EXPIRY} seconds of C{lockcontent} (as git-annex), and when the door
stops.  At most C{limit} locks are held (C{--lockedfiles}, 100 by
default as git-annex's); past it C{lockcontent} answers C{{"locked":false}}
as git-annex does.
"""

import uuid as uuidlib

from twisted.logger import Logger

from annexrelay.p2p import messages

EXPIRY = 600.0

log = Logger()


class _Lock:
    def __init__(self, link, key, timer):
        self.link = link
        self.key = key
        self.timer = timer
        self.kept = False


class Locks:
    """
    @param clock: the reactor (C{callLater}).
    @param rng: makes lock ids (C{uuid4} by default).
    """

    def __init__(self, clock, expiry=EXPIRY, newId=None, limit=None):
        self.clock = clock
        self.limit = limit
        self.expiry = expiry
        self.newId = newId or (lambda: str(uuidlib.uuid4()).encode("ascii"))
        self._locks = {}

    def __len__(self):
        return len(self._locks)

    @property
    def full(self):
        return self.limit is not None and len(self._locks) >= self.limit

    def add(self, link, key):
        """
        Hold the lock C{link}'s session took on C{key}.

        @return: the lock id (bytes), or None when L{full} (the caller
            unlocks).
        """
        if self.full:
            return None
        lockid = self.newId()
        timer = self.clock.callLater(self.expiry, self.release, lockid, "expired without keeplocked")
        self._locks[lockid] = _Lock(link, key, timer)
        # A session that ends on its own (its node died) ends the lock.
        link.session.done.addBoth(lambda r: (self._forget(lockid, link), r)[1])
        return lockid

    def keep(self, lockid):
        """
        A C{keeplocked} for C{lockid} started: no expiry while it runs.

        @return: whether the lock exists.
        """
        lock = self._locks.get(lockid)
        if lock is None:
            return False
        if lock.timer.active():
            lock.timer.cancel()
        lock.kept = True
        return True

    def release(self, lockid, why="unlocked"):
        """
        Send C{UNLOCKCONTENT} and end the lock's session.
        """
        lock = self._locks.pop(lockid, None)
        if lock is None:
            return
        if lock.timer.active():
            lock.timer.cancel()
        log.info(
            "lock {lockid} on {key} released: {why}",
            lockid=lockid.decode("ascii", "replace"),
            key=lock.key.decode("utf-8", "replace"),
            why=why,
        )
        lock.link.conn.sendMessage(messages.UNLOCKCONTENT)
        lock.link.close()

    def _forget(self, lockid, link):
        lock = self._locks.get(lockid)
        if lock is not None and lock.link is link:
            del self._locks[lockid]
            if lock.timer.active():
                lock.timer.cancel()

    def releaseAll(self, why="the door stopped"):
        for lockid in list(self._locks):
            self.release(lockid, why)
