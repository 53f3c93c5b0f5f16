"""
Wiring for C{twistd annexrelay}: options, and the service tree they make.
"""

import os
import re

from twisted.internet import threads
from twisted.internet.endpoints import quoteStringArgument
from twisted.logger import Logger
from twisted.python import usage

from prometheus_client import CollectorRegistry

from annexrelay.connectors.tor import DEFAULT_SOCKS
from annexrelay import quota
from annexrelay.core import makeCore
from annexrelay.directory.cores import Directory
from annexrelay.frontdoor.http.door import HttpFrontDoor
from annexrelay.frontdoor.http.gitroutes import check_public_url
from annexrelay.frontdoor.http.grants import verify_password
from annexrelay.frontdoor.http.signon import Access
from annexrelay.frontdoor.http.userstore import UserStore, directory_state_path, repo_state_path
from annexrelay.frontdoor.http.limits import OPTIONS as HTTP_LIMITS, Limits as HttpLimits
from annexrelay.frontdoor.http.users import FLAGS as HTTP_FLAGS, Policy as HttpPolicy
from annexrelay.frontdoor.ssh.handover import HandoverFactory
from annexrelay.frontdoor.tor.onion import OnionFrontDoor
from annexrelay.frontdoor.tor.publish import Publisher
from annexrelay.localnode.nodes import LocalNodes
from annexrelay.operator.logs import JSONLines
from annexrelay.operator.metrics import CoreCollector, Metrics
from annexrelay.operator.status import DirectoryStatus, Status
from annexrelay.operator.web import DirectoryOperatorResource, OperatorResource
from annexrelay.paths import default_socket, private_dir, short_socket_path
from annexrelay.repo import ProxyRepository, RepositoryError
from annexrelay.services import ErrorWatch, Housekeeping, Listener, QuietSite, Top

log = Logger()


class Options(usage.Options):
    synopsis = "--repo PROXYREPO [--listen ENDPOINT ...] | --directory DIR --p2phttp ENDPOINT"
    longdesc = (
        "Serve the git-annex proxy repository PROXYREPO: relay P2P sessions "
        "that annexrelay-shell hands over to the remotes it proxies; with "
        "--tor-control or --tor-launch, also serve every target that "
        "'annexrelay address' issued an address for as an onion service."
    )
    optParameters = [
        ["repo", "r", None, "The proxy repository (configured with annex-proxy and 'git annex updateproxy')."],
        ["directory", None, None, "annex+http only: serve every git-annex repository under this directory (nested folders included), each also under its own path (/PATH/git-annex/); instead of --repo."],
        ["idle-timeout", None, 60.0, "Seconds an idle node connection is kept for reuse.", float],
        ["commit-delay", None, 1.0, "Seconds location log updates are gathered before one commit.", float],
        ["log-format", None, "text", "text, or json: one JSON object a line on standard output, for log shippers."],
        ["shutdown-grace", None, 10.0, "At SIGTERM, seconds the transfers in flight may take to finish before they are cut (new requests are refused at once).", float],
        ["tor-control", None, None, "Publish the onion services through the tor with this control port (an endpoint string: tcp:127.0.0.1:9051, unix:/run/tor/control)."],
        ["tor-binary", None, None, "The tor --tor-launch runs (default: tor on PATH)."],
        ["public-url", None, None, "annex+http: the URL clients reach the listener at (behind a reverse proxy or in a container); /config's annex.url is built from it instead of the request's scheme and Host: https://example.org/annex advertises annex+https://example.org/annex/[PATH/]git-annex/."],
        ["tor-socks", None, DEFAULT_SOCKS, "The tor SOCKS port tor-annex nodes are reached through (an endpoint string)."],
    ] + HTTP_LIMITS

    optFlags = [
        ["no-splice", None, "Copy DATA payloads through the relay's memory instead of splicing them in the kernel."],
        ["local-store", None, "Store uploads into nodes that are local bare repositories (and a bare proxy repository) directly, as git-annex would, instead of through their git-annex-shell."],
        ["tor-launch", None, "Launch a tor of the daemon's own (txtorcon) to publish the onion services."],
        ["onion-local-only", None, "Listen for the onion services on 127.0.0.1 without publishing them (a tor set up by hand, tests)."],
        ["wideopen", None, "annex+http: give unauthenticated users full read+write access (as git annex p2phttp)."],
        ["unauth-readonly", None, "annex+http: allow unauthenticated users to read."],
        ["unauth-appendonly", None, "annex+http: allow unauthenticated users to read and append."],
        ["unauth-nolocking", None, "annex+http: prevent unauthenticated users from locking content."],
        ["authenv", None, "annex+http: authenticate users from the environment (GIT_ANNEX_P2PHTTP_PASSWORD_<user>), https only."],
        ["authenv-http", None, "annex+http: authenticate users from the environment over plain http too."],
    ]

    def __init__(self):
        usage.Options.__init__(self)
        self["listen"] = []
        self["metrics"] = []
        self["p2phttp"] = []
        self["trusted-user-header"] = {}
        self["quota"] = []

    def opt_quota(self, value):
        """
        REPO=SIZE (repeatable): refuse a put that would take what the
        repository REPO stores (its own annex, its proxied remotes, its
        clusters' nodes) over SIZE (bytes, or with a unit as git-annex
        writes sizes: 50GB, 1.5 GiB, 100 megabytes).  REPO: the --repo
        path (or .), or with --directory a path under the directory.
        """
        try:
            self["quota"].append(quota.parse_option(value))
        except ValueError as e:
            raise usage.UsageError(str(e))

    def opt_metrics(self, endpoint):
        """
        A Twisted server endpoint string to serve /metrics (Prometheus),
        /healthz, /readyz and the live status page at / on (repeatable;
        off by default).
        """
        self["metrics"].append(endpoint)

    def opt_listen(self, endpoint):
        """
        A Twisted server endpoint string to accept sessions on (repeatable).
        Default: a unix socket inside the repository, where annexrelay-shell
        looks.
        """
        self["listen"].append(endpoint)

    def opt_p2phttp(self, endpoint):
        """
        Serve annex+http (git annex p2phttp's protocol) on this Twisted
        server endpoint string (repeatable): tcp:9417, tcp:PORT:interface=127.0.0.1,
        unix:PATH, ssl:PORT:privateKey=KEY:certKey=CERT.
        """
        self["p2phttp"].append(endpoint)

    def opt_trusted_user_header(self, value):
        """
        NAME=ENDPOINT (repeatable): on the --p2phttp listener ENDPOINT
        (exactly as given there), the request header NAME names the user,
        already authenticated by the reverse proxy or forge in front; the
        user's grants apply ('annexrelay user'). Ignored on other listeners.
        """
        name, eq, endpoint = value.partition("=")
        if not eq or not re.match(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$", name) or not endpoint:
            raise usage.UsageError("--trusted-user-header takes NAME=ENDPOINT (a header name, a --p2phttp endpoint), not %r" % (value,))
        if endpoint in self["trusted-user-header"]:
            raise usage.UsageError("--trusted-user-header: %s is named twice" % (endpoint,))
        self["trusted-user-header"][endpoint] = name

    def postOptions(self):
        if self["repo"] and self["directory"]:
            raise usage.UsageError("--repo and --directory are exclusive: serve one repository, or every repository under a directory")
        if self["directory"]:
            self._directoryOptions()
        elif not self["repo"]:
            raise usage.UsageError("--repo (or --directory) is required")
        else:
            self["repo"] = os.path.abspath(self["repo"])
        self["quotas"] = self._quotas()
        if self["log-format"] not in ("text", "json"):
            raise usage.UsageError("--log-format is text or json, not %r" % (self["log-format"],))
        tor = [o for o in ("tor-control", "tor-launch", "onion-local-only") if self[o]]
        if len(tor) > 1:
            raise usage.UsageError("--%s and --%s do not go together" % tuple(tor[:2]))
        if not self["p2phttp"] and any(self[f] for f in HTTP_FLAGS + ("public-url",)):
            raise usage.UsageError("--%s needs --p2phttp" % ([f for f in HTTP_FLAGS + ("public-url",) if self[f]][0],))
        if self["public-url"] is not None:
            try:
                self["public-url"] = check_public_url(self["public-url"])
            except ValueError as e:
                raise usage.UsageError(str(e))
        for endpoint in self["trusted-user-header"]:
            if endpoint not in self["p2phttp"]:
                raise usage.UsageError(
                    "--trusted-user-header: %s is not one of the --p2phttp endpoints (%s)"
                    % (endpoint, ", ".join(self["p2phttp"]) or "none")
                )
        if not self["listen"] and not self["directory"]:
            path = short_socket_path(default_socket(self["repo"]))
            self["listen"] = ["unix:%s:mode=600:lockfile=1" % (quoteStringArgument(path),)]

    def _quotas(self):
        """
        The C{--quota} options as C{{real path of the repository: bytes}}.
        """
        root = self["directory"] or self["repo"]
        quotas = {}
        for option in self["quota"]:
            path = os.path.realpath(os.path.join(root, option.repository))
            base = os.path.realpath(root)
            if self["directory"] and not (path == base or path.startswith(base.rstrip("/") + "/")):
                raise usage.UsageError("--quota %s: not under --directory %s" % (option.repository, root))
            if self["repo"] and path != base:
                raise usage.UsageError("--quota %s: this daemon serves %s (say . or that path)" % (option.repository, root))
            quotas[path] = option.size
        return quotas

    def _directoryOptions(self):
        if not self["p2phttp"]:
            raise usage.UsageError("--directory needs --p2phttp (the ssh and Tor doors serve one repository: --repo)")
        single = [o for o in ("listen", "tor-control", "tor-launch", "onion-local-only") if self[o]]
        if single:
            raise usage.UsageError("--%s does not go with --directory (annex+http only)" % (single[0],))
        self["directory"] = os.path.abspath(self["directory"])
        if not os.path.isdir(self["directory"]):
            raise usage.UsageError("--directory %s is not a directory" % (self["directory"],))


def _common(options, reactor):
    """
    What every daemon has: its service tree (logging as C{--log-format}
    says), its metrics registry and request tracker, and how a
    repository's core is made from the options.

    @return: C{(top service, registry, metrics, openCore)}.
    """
    top = Top()
    if options["log-format"] == "json":
        import sys

        top.logObserver = JSONLines(sys.stdout)
    registry = CollectorRegistry()
    metrics = Metrics(registry, reactor, logEveryRequest=options["log-format"] == "json")
    localNodes = None
    if options["local-store"]:
        root = options["directory"] and os.path.realpath(options["directory"])
        served = (lambda path: (path + os.sep).startswith(root + os.sep)) if root else None
        localNodes = LocalNodes(reactor, options["commit-delay"], served)

    def openCore(repository):
        return makeCore(
            reactor,
            repository,
            idleTimeout=options["idle-timeout"],
            commitDelay=options["commit-delay"],
            splice=not options["no-splice"],
            torSocks=options["tor-socks"],
            metrics=metrics,
            quota=options.get("quotas", {}).get(os.path.realpath(repository.path)),
            localNodes=localNodes,
        )

    return top, registry, metrics, openCore


def makeService(options, reactor=None, logPublisher=None):
    if reactor is None:
        from twisted.internet import reactor
    if logPublisher is None:
        from twisted.logger import globalLogPublisher as logPublisher
    if options["directory"]:
        return _directoryService(options, reactor, logPublisher)
    try:
        repo = ProxyRepository(options["repo"])
    except RepositoryError as e:
        raise usage.UsageError(str(e))
    top, registry, metrics, openCore = _common(options, reactor)
    core = openCore(repo)
    core.status = Status(core, metrics, reactor)
    registry.register(CoreCollector(core, core.status))
    Housekeeping(core, options["shutdown-grace"]).setServiceParent(top)
    ErrorWatch(logPublisher, metrics).setServiceParent(top)
    site = QuietSite(OperatorResource(core.status, registry))
    for description in options["metrics"]:
        Listener(reactor, description, site).setServiceParent(top)
    factory = HandoverFactory(core)
    for description in options["listen"]:
        Listener(reactor, description, factory).setServiceParent(top)
    if options["tor-control"] or options["tor-launch"] or options["onion-local-only"]:
        publisher = None
        if not options["onion-local-only"]:
            publisher = Publisher(
                reactor,
                control=options["tor-control"],
                torBinary=options["tor-binary"],
                dataDirectory=os.path.join(private_dir(repo.gitDir), "tor") if options["tor-launch"] else None,
            )
        OnionFrontDoor(reactor, core, publisher).setServiceParent(top)
    if options["p2phttp"]:
        _httpDoor(options, reactor, top, core)
    top.core = core
    return top


def _httpDoor(options, reactor, top, core, cores=None):
    """
    The annex+http door on C{core} (with C{--directory}, C{cores}), its
    auth flags and limits from the options, one listener per C{--p2phttp}
    endpoint.
    """
    policy = HttpPolicy.fromOptions(options, os.environ)
    if cores is not None:
        store = UserStore(directory_state_path(options["directory"]))
    else:
        store = UserStore(repo_state_path(core.repository.gitDir))

    def verifier(stored, password):
        # scrypt, CPU only: off the reactor thread.
        return threads.deferToThreadPool(reactor, reactor.getThreadPool(), verify_password, stored, password)

    access = Access(
        reactor, policy, store, trusted=options["trusted-user-header"], verifier=verifier,
        metrics=getattr(cores if cores is not None else core, "metrics", None),
    )
    door = HttpFrontDoor(reactor, core, policy, cores=cores, access=access)
    door.applyLimits(HttpLimits.fromOptions(options))
    door.git.publicUrl = options["public-url"]
    door.setServiceParent(top)
    for description in options["p2phttp"]:
        Listener(reactor, description, door.factory(description)).setServiceParent(top)
        if description in options["trusted-user-header"]:
            log.info("annex+http: on {endpoint} the {header} header names the user", endpoint=description, header=options["trusted-user-header"][description])
    return door


def _directoryService(options, reactor, logPublisher):
    """
    C{--directory}: the annex+http door on every repository under the
    directory, one core each (L{annexrelay.directory.cores.Directory}).
    """
    top, registry, metrics, openCore = _common(options, reactor)

    def openLabelledCore(repository):
        core = openCore(repository)
        core.label = os.path.relpath(repository.path, options["directory"])
        return core

    directory = Directory(reactor, options["directory"], openLabelledCore, options["shutdown-grace"], metrics=metrics)
    directory.setServiceParent(top)
    ErrorWatch(logPublisher, metrics).setServiceParent(top)
    site = QuietSite(DirectoryOperatorResource(directory, registry, DirectoryStatus(directory, metrics, reactor)))
    for description in options["metrics"]:
        Listener(reactor, description, site).setServiceParent(top)
    # The door asks its "core" for the metrics and saturation of the whole:
    # the Directory's.
    _httpDoor(options, reactor, top, directory, cores=directory)
    top.directory = directory
    return top
