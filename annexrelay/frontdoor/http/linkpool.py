"""
Idle P2P sessions of the annex+http door, kept for the next request for
the same target.

Opening a request's session (L{annexrelay.frontdoor.http.link.openLink})
makes a L{annexrelay.clientside.ClientSession}, a target, a pipe, and runs
the handshake; the session then takes its node connections from the pool.
A request that ended cleanly (its last reply read, nothing cut) leaves its
session between requests, exactly where an ssh client's session is
between two requests, so the next request for the same target, mode,
version and C{BYPASS} set on the same core takes it instead.

Ownership stays single: a session belongs to the request using it, or to
this pool while idle, never both.  The pool ends an idle session after
C{idleTimeout} seconds, when it has served C{maxAge} seconds (so a
cluster's logs, read once per session, are re-read), when more than
C{perKey} sessions of one kind are idle, or at L{closeAll}; a session the
core ended meanwhile (shutdown, node gone) is dropped when found.
"""


class LinkPool:
    """
    @param clock: C{seconds()} and C{callLater()}.
    """

    def __init__(self, clock, idleTimeout=10.0, maxAge=60.0, perKey=8):
        self.clock = clock
        self.idleTimeout = idleTimeout
        self.maxAge = maxAge
        self.perKey = perKey
        self._idle = {}  # key -> list of (link, timer)
        self.reused = 0

    @staticmethod
    def key(core, target, mode, version, bypass):
        return (id(core), target.uuid, mode, version, tuple(sorted(bypass)))

    def take(self, key, peer=None):
        """
        @param peer: the client the session now serves (its log lines
            name it), or None.
        @return: an idle L{annexrelay.frontdoor.http.link.P2PLink} for
            C{key}, now the caller's, or None.
        """
        idle = self._idle.get(key)
        while idle:
            link, timer = idle.pop()
            if timer.active():
                timer.cancel()
            if self._usable(link):
                self.reused += 1
                session = link.session
                if peer is not None and hasattr(session, "peer"):
                    session.peer = "%s#%s" % (peer, session.peer.rsplit("#", 1)[-1])
                return link
            link.close()
        self._idle.pop(key, None)
        return None

    def give(self, key, link):
        """
        The request using C{link} ended cleanly: keep it, or end it.
        """
        idle = self._idle.setdefault(key, [])
        if self.idleTimeout <= 0 or len(idle) >= self.perKey or not self._usable(link):
            link.close()
            return
        link.end.release()
        timer = self.clock.callLater(self.idleTimeout, self._expire, key, link)
        idle.append((link, timer))

    def _usable(self, link):
        return not link.ended and not link.conn.broken and self.clock.seconds() - link.opened < self.maxAge

    def _expire(self, key, link):
        idle = self._idle.get(key, [])
        for entry in idle:
            if entry[0] is link:
                idle.remove(entry)
                break
        if not idle:
            self._idle.pop(key, None)
        link.close()

    def __len__(self):
        return sum(len(v) for v in self._idle.values())

    def closeAll(self):
        """
        End every idle session (the door is stopping).
        """
        idle, self._idle = self._idle, {}
        for entries in idle.values():
            for link, timer in entries:
                if timer.active():
                    timer.cancel()
                link.close()
