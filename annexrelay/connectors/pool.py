"""
Idle node connections kept for reuse.

L{NodePool} hands out handshaken L{annexrelay.nodeside.NodeConnection}s: it
connects lazily (through its connector), the first time a request needs the
node, reuses idle connections across client sessions, and closes them after
an idle timeout.  A connection given back in the middle of a request (an
open lease) or broken is closed, never kept.
"""

from typing import NamedTuple, Optional

from twisted.internet import defer


class NodeHealth(NamedTuple):
    """
    What the pool last learned of a node by connecting to it.

    @ivar reachable: whether the last attempt succeeded.
    @ivar lastFailure: when an attempt last failed (the clock's seconds), or None.
    @ivar why: why it failed then ("" if it never did).
    """

    reachable: bool
    lastFailure: Optional[float]
    why: str


class NodePool:
    """
    Idle node connections, keyed by node, protocol version and BYPASS set.

    @param idleTimeout: seconds an unused connection is kept open.
    @ivar health: node name -> L{NodeHealth}, for nodes connected to so far.
    @ivar live: node name -> the set of its connections not yet lost.
    """

    def __init__(self, clock, connector, idleTimeout=60.0):
        self.clock = clock
        self.connector = connector
        self.idleTimeout = idleTimeout
        self._idle = {}  # key -> list of (conn, timer)
        self.opened = 0
        self.health = {}
        self.live = {}

    def _connected(self, conn, node):
        old = self.health.get(node.name)
        self.health[node.name] = NodeHealth(True, old.lastFailure if old else None, old.why if old else "")
        live = self.live.setdefault(node.name, set())
        live.add(conn)
        conn.closed.addBoth(lambda r: (live.discard(conn), r)[1])
        return conn

    def _failed(self, f, node):
        self.health[node.name] = NodeHealth(False, self.clock.seconds(), str(f.value))
        return f

    def acquire(self, node, version, bypass=()):
        """
        @return: a L{Deferred} firing with a L{NodeConnection} for the caller
            alone until it is given back with L{release}.
        """
        key = (node.uuid, node.url, version, tuple(sorted(bypass)))
        idle = self._idle.get(key)
        while idle:
            conn, timer, watcher = idle.pop()
            if timer.active():
                timer.cancel()
            watcher.cancel()
            if not conn.broken:
                return defer.succeed(conn)
        self.opened += 1
        d = self.connector.connect(node, version, bypass)
        d.addCallbacks(self._connected, self._failed, callbackArgs=(node,), errbackArgs=(node,))
        return d

    def release(self, conn):
        """
        Take C{conn} back; it is kept for reuse if it is healthy, until the
        idle timeout or until it dies.  One still mid-request is closed.
        """
        if conn.broken or conn.inRequest or self.idleTimeout <= 0:
            conn.close()
            return
        key = (conn.node.uuid, conn.node.url, conn.requestedVersion, conn.bypass)
        idle = self._idle.setdefault(key, [])

        def forget(close):
            for entry in idle:
                if entry[0] is conn:
                    idle.remove(entry)
                    entry[2].cancel()
                    if entry[1].active():
                        entry[1].cancel()
                    break
            if close:
                conn.close()

        timer = self.clock.callLater(self.idleTimeout, forget, True)
        watcher = conn.whenLost()
        watcher.addCallbacks(lambda _: forget(False), lambda f: f.trap(defer.CancelledError))
        idle.append((conn, timer, watcher))

    def discard(self, node):
        """
        Close the idle connections to C{node}: one of them answered in a way
        that is in doubt, and they are as old.
        """
        for key, lst in self._idle.items():
            if key[:2] == (node.uuid, node.url):
                for conn, timer, watcher in list(lst):
                    if timer.active():
                        timer.cancel()
                    watcher.cancel()
                    conn.close()
                lst.clear()

    def idleCount(self):
        return sum(len(v) for v in self._idle.values())

    def idleByNode(self):
        """
        Node name -> how many of its connections are idle.
        """
        counts = {}
        for lst in self._idle.values():
            for conn, _, _ in lst:
                counts[conn.node.name] = counts.get(conn.node.name, 0) + 1
        return counts

    def closeAll(self):
        """
        Close every idle connection (at shutdown).

        @return: a L{Deferred} firing when the processes behind them have
            exited (a git-annex-shell commits what it journalled as it
            exits; one that does not exit is killed after a grace period,
            L{annexrelay.streams.kernel.ProcessTransport}).
        """
        ended = []
        for lst in self._idle.values():
            for conn, timer, watcher in lst:
                if timer.active():
                    timer.cancel()
                watcher.cancel()
                conn.close()
                done = defer.Deferred()
                conn.processEnded.addBoth(lambda r, done=done: (done.callback(None), r)[1])
                ended.append(done)
        self._idle.clear()
        return defer.DeferredList(ended)
