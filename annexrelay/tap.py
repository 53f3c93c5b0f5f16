"""
Wiring for C{twistd annexrelay}: options, and the service tree they make.
"""

import os

from twisted.application import service
from twisted.internet.endpoints import quoteStringArgument, serverFromString
from twisted.logger import Logger
from twisted.python import usage

from annexrelay.core import makeCore
from annexrelay.frontdoor.handover import HandoverFactory
from annexrelay.paths import default_socket, short_socket_path
from annexrelay.repo import ProxyRepository, RepositoryError

log = Logger()


class Options(usage.Options):
    synopsis = "--repo PROXYREPO [--listen ENDPOINT ...]"
    longdesc = (
        "Serve the git-annex proxy repository PROXYREPO: relay P2P sessions "
        "that annexrelay-shell hands over to the remotes it proxies."
    )
    optParameters = [
        ["repo", "r", None, "The proxy repository (configured with annex-proxy and 'git annex updateproxy')."],
        ["idle-timeout", None, 60.0, "Seconds an idle node connection is kept for reuse.", float],
        ["commit-delay", None, 1.0, "Seconds location log updates are gathered before one commit.", float],
    ]

    optFlags = [
        ["no-splice", None, "Copy DATA payloads through the relay's memory instead of splicing them in the kernel."],
    ]

    def __init__(self):
        usage.Options.__init__(self)
        self["listen"] = []

    def opt_listen(self, endpoint):
        """
        A Twisted server endpoint string to accept sessions on (repeatable).
        Default: a unix socket inside the repository, where annexrelay-shell
        looks.
        """
        self["listen"].append(endpoint)

    def postOptions(self):
        if not self["repo"]:
            raise usage.UsageError("--repo is required")
        self["repo"] = os.path.abspath(self["repo"])
        if not self["listen"]:
            path = short_socket_path(default_socket(self["repo"]))
            self["listen"] = ["unix:%s:mode=600:lockfile=1" % (quoteStringArgument(path),)]


class _Housekeeping(service.Service):
    """
    At shutdown: close idle nodes, commit pending location log updates.
    """

    def __init__(self, core):
        self.core = core

    def stopService(self):
        service.Service.stopService(self)
        return self.core.close()


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


def makeService(options, reactor=None):
    if reactor is None:
        from twisted.internet import reactor
    try:
        repo = ProxyRepository(options["repo"])
    except RepositoryError as e:
        raise usage.UsageError(str(e))
    core = makeCore(
        reactor,
        repo,
        idleTimeout=options["idle-timeout"],
        commitDelay=options["commit-delay"],
        splice=not options["no-splice"],
    )
    top = service.MultiService()
    _Housekeeping(core).setServiceParent(top)
    factory = HandoverFactory(core)
    for description in options["listen"]:
        Listener(reactor, description, factory).setServiceParent(top)
    top.core = core
    return top
