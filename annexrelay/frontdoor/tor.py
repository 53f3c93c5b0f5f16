"""
Publishing the onion front door's listeners through Tor, with txtorcon:
the tor whose control port is C{--tor-control ENDPOINT}, or one launched
for the daemon (C{--tor-launch}).  Each target's onion service is an
ephemeral one (C{ADD_ONION}) made from the key the repository keeps, so
its address is the same after every restart.  A tor that cannot be
reached is tried again every C{retry} seconds; the daemon goes on serving
its other front doors meanwhile.
"""

from twisted.internet import defer, task
from twisted.internet.endpoints import clientFromString
from twisted.logger import Logger

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

    def __init__(self, reactor, control=None, torBinary=None, dataDirectory=None):
        self.reactor = reactor
        self.control = control
        self.torBinary = torBinary
        self.dataDirectory = dataDirectory
        self._tor = None
        self._connecting = None
        self._services = []
        self._closed = False

    def _connect(self):
        import txtorcon

        if self._tor is not None:
            return defer.succeed(self._tor)
        if self._connecting is None:
            if self.control is not None:
                d = txtorcon.connect(self.reactor, clientFromString(self.reactor, self.control))
            else:
                kw = {"data_directory": self.dataDirectory} if self.dataDirectory else {}
                if self.torBinary:
                    kw["tor_binary"] = self.torBinary
                d = txtorcon.launch(self.reactor, **kw)

            def got(tor):
                self._tor = tor
                self._connecting = None
                log.info("connected to tor {how}", how=self.control or "(launched)")
                return tor

            def failed(f):
                self._connecting = None
                return f

            self._connecting = d.addCallbacks(got, failed)
        d = defer.Deferred()
        self._connecting.addBoth(lambda r: (d.callback(r), r)[1])
        return d

    def publish(self, key, localPort):
        """
        Publish C{key}'s onion service, forwarding to 127.0.0.1:C{localPort}.
        """
        return defer.ensureDeferred(self._publish(key, localPort))

    async def _publish(self, key, localPort):
        while not self._closed:
            try:
                tor = await self._connect()
                onion = await tor.create_onion_service(
                    [(key.port, localPort)], private_key=key.torKey(), version=3, await_all_uploads=False
                )
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

    def close(self):
        """
        Take the onion services down (a launched tor is stopped).
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
        if self._tor is not None and self.control is None:
            try:
                await self._tor.quit()
            except Exception:
                pass
