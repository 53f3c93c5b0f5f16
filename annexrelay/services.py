"""
The daemon's own services: the top of its service tree, the listeners,
and what runs at start and stop beside the front doors (draining and
closing a core, keeping the last errors for the status page).
"""

from twisted.application import service
from twisted.internet.endpoints import serverFromString
from twisted.logger import ILogObserver, Logger
from twisted.web.server import Site

log = Logger()


class Housekeeping(service.Service):
    """
    At shutdown (the listeners have stopped accepting): let the sessions
    finish the requests in hand for at most C{grace} seconds, then close
    idle nodes and commit pending location log updates.
    """

    def __init__(self, core, grace):
        self.core = core
        self.grace = grace

    def stopService(self):
        service.Service.stopService(self)
        d = self.core.drain(self.grace)
        d.addCallback(lambda _: self.core.close())
        return d


class ErrorWatch(service.Service):
    """
    Keeps the last warnings and errors for the status page while the
    daemon runs (an observer on the log publisher, removed at stop).
    """

    def __init__(self, publisher, metrics):
        self.publisher = publisher
        self.metrics = metrics

    def startService(self):
        service.Service.startService(self)
        self.publisher.addObserver(self.metrics.observe)

    def stopService(self):
        service.Service.stopService(self)
        self.publisher.removeObserver(self.metrics.observe)


class Top(service.MultiService):
    """
    The daemon's service tree.  With C{--log-format json} it gives twistd
    the log observer to use, as a C{.tac} file would: an
    L{ILogObserver} component on the application it joins.
    """

    logObserver = None

    def setServiceParent(self, parent):
        service.MultiService.setServiceParent(self, parent)
        if self.logObserver is not None and hasattr(parent, "setComponent"):
            parent.setComponent(ILogObserver, self.logObserver)


class QuietSite(Site):
    """
    The operator's site: scrapes every few seconds are not worth a log line
    each.
    """

    def log(self, request):
        pass


class Listener(service.Service):
    """
    One front door listening on an endpoint.  A listener that cannot listen
    stops the daemon at start-up (the endpoint's failure is raised from
    L{startService} when it is already known, as it is for unix and tcp
    endpoints).
    """

    def __init__(self, reactor, description, factory):
        self.description = description
        self.endpoint = serverFromString(reactor, description)
        self.factory = factory
        self._port = None

    def startService(self):
        service.Service.startService(self)
        failed = []
        d = self.endpoint.listen(self.factory)
        d.addCallbacks(self._listening, failed.append)
        if failed:
            failed[0].raiseException()

    def _listening(self, port):
        self._port = port
        log.info("listening on {endpoint}", endpoint=self.description)

    def stopService(self):
        service.Service.stopService(self)
        port, self._port = self._port, None
        if port is not None:
            return port.stopListening()
