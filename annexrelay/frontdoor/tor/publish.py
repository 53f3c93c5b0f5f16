"""
Publishing the onion front door's listeners through Tor, with txtorcon:
the tor whose control port is C{--tor-control ENDPOINT}, or one launched
for the daemon (C{--tor-launch}).  Each target's onion service is an
ephemeral one (C{ADD_ONION}) made from the key the repository keeps, so
its address is the same after every restart.  A tor that cannot be
reached is tried again every C{retry} seconds; the daemon goes on serving
its other front doors meanwhile.
"""

import os

from twisted.internet import defer, task
from twisted.internet.endpoints import clientFromString
from twisted.logger import Logger
from twisted.python.failure import Failure

from annexrelay.deadline import Deadline
from annexrelay.paths import UNIX_PATH_MAX

log = Logger()


class Publisher:
    """
    @param control: a client endpoint string for tor's control port, or
        None to launch a tor (txtorcon.launch).
    @param torBinary: the tor to launch (default: found on PATH).
    @param dataDirectory: the launched tor's state (default: a temporary
        directory).
    """

    retry = 30.0
    # An onion whose descriptor upload never completes is asked for again.
    publishTimeout = 120.0

    def __init__(self, reactor, control=None, torBinary=None, dataDirectory=None):
        self.reactor = reactor
        self.control = control
        self.torBinary = torBinary
        self.dataDirectory = dataDirectory
        self._tor = None
        self._waiters = []
        self._services = []
        self._closed = False

    def _connect(self):
        """
        @return: a L{Deferred} firing with the L{txtorcon.Tor}; one
            connection (or launch) is shared by every caller.
        """
        if self._tor is not None:
            return defer.succeed(self._tor)
        waiter = defer.Deferred()
        self._waiters.append(waiter)
        if len(self._waiters) == 1:
            defer.ensureDeferred(self._reach()).addBoth(self._reached)
        return waiter

    async def _reach(self):
        import txtorcon

        if self.control is not None:
            return await txtorcon.connect(self.reactor, clientFromString(self.reactor, self.control))
        kw = {}
        if self.dataDirectory:
            kw["data_directory"] = self.dataDirectory
            socket = os.path.join(self.dataDirectory, "control.socket")
            if len(socket.encode()) >= UNIX_PATH_MAX:
                # Too long for a unix socket address: tor would exit at
                # once.  Its control port is then on loopback, behind
                # cookie authentication.
                kw["control_port"] = await txtorcon.util.available_tcp_port(self.reactor)
        if self.torBinary:
            kw["tor_binary"] = self.torBinary
        return await txtorcon.launch(self.reactor, socks_port=0, **kw)

    def _reached(self, result):
        waiters, self._waiters = self._waiters, []
        if not isinstance(result, Failure):
            self._tor = result
            log.info("connected to tor {how}", how=self.control or "(launched)")
        for w in waiters:
            w.callback(result)
        return None

    def publish(self, key, localPort):
        """
        Publish C{key}'s onion service, forwarding to 127.0.0.1:C{localPort}.
        """
        return defer.ensureDeferred(self._publish(key, localPort))

    async def _publish(self, key, localPort):
        while not self._closed:
            try:
                tor = await self._connect()
                asked = defer.ensureDeferred(self._create(tor, key, localPort))
                try:
                    with Deadline(self.reactor, self.publishTimeout, asked.cancel):
                        onion = await asked
                except defer.CancelledError:
                    raise TimeoutError("the descriptor was not uploaded in %d s" % (self.publishTimeout,))
            except Exception as e:
                log.error(
                    "cannot publish onion service {onion} through tor {how}: {why}; trying again in {s:.0f} s",
                    onion=key.onion, how=self.control or "(launched)", why=str(e) or repr(e), s=self.retry,
                )
                await task.deferLater(self.reactor, self.retry, lambda: None)
                continue
            if onion.hostname != key.onion:
                log.error("tor published {got}, not {want}", got=onion.hostname, want=key.onion)
            self._services.append(onion)
            log.info("onion service {onion}:{port} published", onion=key.onion, port=key.port)
            return onion

    async def _create(self, tor, key, localPort):
        try:
            return await tor.create_onion_service(
                [(key.port, localPort)], private_key=key.torKey(), version=3, await_all_uploads=False
            )
        except defer.CancelledError:
            # Tor may hold the half-made service: take it down before the
            # next try adds the same key again.
            try:
                await tor.protocol.queue_command("DEL_ONION %s" % (key.onion[: -len(".onion")],))
            except Exception:
                pass
            raise

    def close(self):
        """
        Take the onion services down (a launched tor ends with the daemon).
        """
        self._closed = True
        return defer.ensureDeferred(self._close())

    async def _close(self):
        services, self._services = self._services, []
        for onion in services:
            try:
                await onion.remove()
            except Exception as e:
                log.info("removing onion {onion}: {why}", onion=onion.hostname, why=str(e))
        # A launched tor is not told to quit: it took ownership from this
        # process (TAKEOWNERSHIP) and exits when the daemon's control
        # connection closes.  (txtorcon logs any exit of a tor it launched
        # as an unhandled error, a clean one included.)
