"""
Serving one P2P session in the shell's own process, when no daemon runs for
the repository.  Same code as the daemon, without the pool outliving the
session: the location log is written before the process exits.
"""

import os
import sys

from twisted.logger import FilteringLogObserver, LogLevel, LogLevelFilterPredicate, globalLogBeginner, textFileLogObserver


class Refused(Exception):
    """
    The session cannot be served (no such repository or target); the shell
    prints the reason.
    """


def _logToStderr():
    predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.warn)
    if os.environ.get("ANNEXRELAY_DEBUG"):
        predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.debug)
    observer = FilteringLogObserver(textFileLogObserver(sys.stderr), [predicate])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)


def serve_stdio(directory, header):
    """
    Relay the P2P session on this process's stdin/stdout.

    @return: the exit status, or C{"self"} when the target is the
        repository itself.
    """
    from twisted.internet import reactor

    from annexrelay.requests import Mode
    from annexrelay.core import TargetUnknown, makeCore
    from annexrelay.frontdoor.auth import Preauthenticated
    from annexrelay.repo import ProxyRepository, RepositoryError
    from annexrelay.streams.kernel import DescriptorTransport

    _logToStderr()
    try:
        repo = ProxyRepository(directory)
    except RepositoryError as e:
        raise Refused(str(e))
    core = makeCore(reactor, repo, idleTimeout=0, commitDelay=0.5)
    try:
        target = core.targetFor(header["target"].encode("ascii"))
    except TargetUnknown as e:
        raise Refused(str(e))
    if target is None:
        return "self"
    session = core.session(Preauthenticated(target, Mode(header["mode"])), "client %s" % (header["client"],))

    def ended(_):
        d = core.close()
        d.addBoth(lambda _: reactor.stop())

    session.done.addCallback(ended)
    DescriptorTransport(session, 0, 1, reactor)
    reactor.run()
    return 0
